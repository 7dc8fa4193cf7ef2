using System.CommandLine;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// The uncertainty options of <c>predict</c> and <c>serve</c> (<c>--uncertainty</c>, <c>--committee</c>, <c>--training</c>,
/// <c>--active-set</c>, <c>--grade</c>), one meaning each, and the estimator they ask for (built by the library's
/// <see cref="UncertaintyEstimators"/>).
/// </summary>
public sealed class UncertaintyOptions
{
    public Option<bool> Uncertainty { get; } = new("--uncertainty", "-u") { Description = "Also the uncertainty: GPR variance (energy_std, force_std), a committee's spread (with --committee), the D-optimality grade gamma of linear/quadratic models (with --training), or the ACE extrapolation grade (with --active-set or --training)" };
    public Option<string[]> Committee { get; } = new("--committee") { Description = "With --uncertainty: more model files; the uncertainty is the committee's spread", AllowMultipleArgumentsPerToken = true };
    public Option<string[]> Training { get; } = CommonOptions.Training("With --uncertainty for linear/quadratic models: the training data (its active set gives the extrapolation grade)");
    public Option<string?> ActiveSet { get; } = new("--active-set") { Description = "With --uncertainty for ACE models: the active set (.asi from `mlip activeset`); default MODEL.asi beside an .ace/.yace when present" };
    public Option<string> Grade { get; } = new("--grade") { Description = "With --uncertainty and --training for ACE models: linear (B-projections, pacemaker's default) or full (dE/dc of every density)", DefaultValueFactory = _ => "linear" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Uncertainty);
        cmd.Options.Add(Committee);
        cmd.Options.Add(Training);
        cmd.Options.Add(ActiveSet);
        cmd.Options.Add(Grade);
    }

    /// <summary>The estimator the options ask for, or null without <c>--uncertainty</c> (the others alone are an error).</summary>
    public IUncertaintyEstimator? Build(ParseResult parse, ICalculator potential, string? modelPath, int threads)
    {
        if (!parse.GetValue(Uncertainty))
        {
            if (parse.GetValue(Committee) is { Length: > 0 } || parse.GetValue(Training) is { Length: > 0 } || parse.GetValue(ActiveSet) is not null)
                throw new MlipException("--committee, --training and --active-set go with --uncertainty");
            return null;
        }
        var members = new List<ICalculator> { potential };
        foreach (var m in parse.GetValue(Committee) ?? []) members.Add(ModelFile.Load(m));
        IReadOnlyList<Structure>? train = parse.GetValue(Training) is { Length: > 0 } t ? StructureIO.ReadAll(t, null, ValidationOptions.Default) : null;
        string? asi = parse.GetValue(ActiveSet);
        if (asi is null && train is null && modelPath is not null && Models.Ace.AcePotential.IsAcePath(modelPath) && File.Exists(Path.ChangeExtension(modelPath, ".asi")))
            asi = Path.ChangeExtension(modelPath, ".asi");
        var estimator = UncertaintyEstimators.For(members, train, threads, true, asi, ActiveSetCommand.ParseGrade(parse.GetValue(Grade)!));
        estimator.IncludeStress = true;
        return estimator;
    }
}
