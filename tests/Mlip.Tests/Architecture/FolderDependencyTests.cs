using System.Text;
using System.Text.RegularExpressions;

namespace Mlip.Tests.Architecture;

/// <summary>
/// The folders of src/Mlip depend one way (docs/architecture.md). The analysis reads the code itself
/// (<see cref="FolderDependencies"/>): using lines, qualified names and the types each file names.
/// </summary>
public class FolderDependencyTests
{
    /// <summary>
    /// The layering: for each folder of src/Mlip, the folders it may use. Bottom to top. This table and the
    /// one in docs/architecture.md are the same; change both together. A new folder must be added here.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        // errors a user can cause (typed, with InputLocation) and the parallel loop that reports them
        ["Validation"] = [],
        ["Numerics"] = ["Validation"],
        // the processes of an MPI run and their collectives (Open MPI through P/Invoke; one process without mpirun)
        ["Distributed"] = ["Validation"],
        // Vec3, Matrix3, Structure, Elements, Crystals: plain data
        ["Structures"] = ["Validation"],
        // PNG figures from plain arrays (ScottPlot lives only here)
        ["Reporting"] = ["Validation"],
        ["Neighbors"] = ["Structures", "Validation", "Numerics"],
        // YAML config sections with file:line, the settings binder (typed records, defaults, docs)
        ["Configuration"] = ["IO", "Validation", "Numerics"],
        // structure files, file helpers (AtomicFile, StagedFile, Parse), StructureValidator
        ["IO"] = ["Neighbors", "Structures", "Validation", "Numerics"],
        // random crystals by space group
        ["Generation"] = ["IO", "Neighbors", "Structures", "Validation", "Numerics"],
        // the seam: ICalculator, CalculatorResult, IUncertaintyEstimator; classical potentials
        ["Calculators"] = ["IO", "Neighbors", "Structures", "Validation", "Numerics"],
        // relax, MD, elastic, EOS, phonons, NEB: they see only ICalculator
        ["Simulation"] = ["Calculators", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
        ["Descriptors"] = ["Configuration", "Calculators", "IO", "Neighbors", "Structures", "Validation", "Numerics"],
        // atomic models, Potential (an ICalculator), the Mlip model file, uncertainty estimators
        ["Models"] = ["Descriptors", "Configuration", "Calculators", "IO", "Neighbors", "Structures", "Validation", "Numerics"],
        // other programs' model files (LAMMPS SNAP, ML-IAP, PINN, PACE, OLCAO), i-PI, .npy
        ["Interop"] = ["Models", "Descriptors", "Calculators", "IO", "Neighbors", "Structures", "Validation", "Numerics"],
        // reference data sets made with a calculator (MD, relaxation)
        ["Data"] = ["Simulation", "Calculators", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
        ["Training"] = ["Distributed", "Data", "Simulation", "Interop", "Models", "Descriptors", "Configuration", "Calculators", "Generation", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
        // mlip fit: the search over model families and hyperparameters on validation error (normal-equation blocks per fold)
        ["AutoFit"] = ["Distributed", "Training", "Data", "Simulation", "Interop", "Models", "Descriptors", "Configuration", "Calculators", "Generation", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
        ["ActiveLearning"] = ["Distributed", "Training", "Data", "Simulation", "Interop", "Models", "Descriptors", "Configuration", "Calculators", "Generation", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
        // the config reference generated from the records of every layer (mlip config --schema)
        ["Schema"] = ["Distributed", "AutoFit", "ActiveLearning", "Training", "Data", "Simulation", "Interop", "Models", "Descriptors", "Configuration", "Calculators", "Generation", "IO", "Neighbors", "Structures", "Validation", "Reporting", "Numerics"],
    };

    private static string SourceRoot => Path.Combine(TestPaths.RepoRoot, "src", "Mlip");

    private static readonly Lazy<FolderDependencies> Graph = new(() =>
    {
        var csproj = File.ReadAllText(Path.Combine(SourceRoot, "Mlip.csproj"));
        var globalUsings = Regex.Matches(csproj, @"<Using\s+Include=""([^""]+)""").Select(m => m.Groups[1].Value);
        return FolderDependencies.Analyse(FolderDependencies.ReadTree(SourceRoot), globalUsings);
    });

    [Fact]
    public void Every_file_lies_in_the_namespace_of_its_folder()
    {
        var g = Graph.Value;
        Assert.True(g.NamespaceMismatches.Count == 0,
            "the folder analysis needs namespace = Mlip.FOLDER[.SUB]; move the file or fix its namespace:\n  " + string.Join("\n  ", g.NamespaceMismatches));
        Assert.DoesNotContain("(root)", g.Folders);
    }

    [Fact]
    public void Folders_form_no_cycle()
    {
        var g = Graph.Value;
        var cycles = g.Cycles();
        if (cycles.Count == 0) return;
        var sb = new StringBuilder("the folders of src/Mlip depend on each other in a circle (docs/architecture.md says which way each arrow may go):\n");
        foreach (var c in cycles)
        {
            var knot = g.StronglyConnected().First(s => s.Contains(c[0]));
            sb.Append($"  cycle {string.Join(" -> ", c)} (folders in this knot: {string.Join(", ", knot)})\n");
            for (int k = 0; k + 1 < c.Count; k++) sb.Append("    ").Append(g.Describe(c[k], c[k + 1])).Append('\n');
        }
        Assert.Fail(sb.ToString());
    }

    [Fact]
    public void Every_arrow_is_allowed_by_the_layering()
    {
        var g = Graph.Value;
        var problems = new List<string>();
        foreach (string f in g.Folders.Where(f => !Allowed.ContainsKey(f)))
            problems.Add($"folder src/Mlip/{f} is not in the layering: add it to FolderDependencyTests.Allowed and to docs/architecture.md");
        foreach (var ((from, to), _) in g.Edges.OrderBy(e => e.Key.From, StringComparer.Ordinal).ThenBy(e => e.Key.To, StringComparer.Ordinal))
        {
            if (!Allowed.TryGetValue(from, out var ok) || ok.Contains(to)) continue;
            problems.Add($"{g.Describe(from, to)}\n    ({from} may use: {(ok.Length == 0 ? "nothing" : string.Join(", ", ok))})");
        }
        Assert.True(problems.Count == 0, "arrows the layering forbids (docs/architecture.md):\n  " + string.Join("\n  ", problems));
    }

    [Fact]
    public void The_layering_table_itself_has_no_cycle()
    {
        var files = Allowed.SelectMany(kv => kv.Value.Select(to => new SourceFile($"{kv.Key}/A.cs", $"namespace Mlip.{kv.Key};\nusing Mlip.{to};")))
            .Concat(Allowed.Keys.Select(k => new SourceFile($"{k}/B.cs", $"namespace Mlip.{k};"))).ToList();
        var g = FolderDependencies.Analyse(files);
        Assert.Empty(g.Cycles());
        foreach (var (from, tos) in Allowed)
            foreach (string to in tos) Assert.True(Allowed.ContainsKey(to), $"{from} may use {to}, which is not in the table");
    }

    [Fact]
    public void Simulation_uses_neither_Training_nor_Descriptors()
    {
        var g = Graph.Value;
        foreach (string banned in new[] { "Training", "Descriptors" })
            Assert.False(g.Edges.ContainsKey(("Simulation", banned)),
                $"simulations see only ICalculator (docs/architecture.md): {g.Describe("Simulation", banned)}");
    }

    [Fact]
    public void Only_Reporting_draws_figures()
    {
        // Simulations and fits hand arrays to Reporting; the plotting library stays in one folder.
        var hits = FolderDependencies.ReadTree(SourceRoot)
            .Where(f => FolderDependencies.FolderOf(f.Path) != "Reporting"
                && Regex.IsMatch(FolderDependencies.StripCommentsAndStrings(f.Text), @"\bScottPlot\b"))
            .Select(f => $"src/Mlip/{f.Path} uses ScottPlot: give the data to a method in src/Mlip/Reporting instead").ToList();
        Assert.True(hits.Count == 0, string.Join("\n", hits));
    }

    [Fact]
    public void The_library_never_uses_the_command_line_program()
    {
        // The CLI's files as a folder "Cli" beside the library's: no library folder may have an arrow into it.
        var cli = FolderDependencies.ReadTree(Path.Combine(TestPaths.RepoRoot, "src", "Mlip.Cli"))
            .Select(f => f with { Path = "Cli/" + f.Path });
        var g = FolderDependencies.Analyse([.. FolderDependencies.ReadTree(SourceRoot), .. cli]);
        var into = g.Edges.Keys.Where(k => k.To == "Cli").Select(k => g.Describe(k.From, k.To)).ToList();
        Assert.True(into.Count == 0, "src/Mlip must not use the mlip command (src/Mlip.Cli):\n  " + string.Join("\n  ", into));
        Assert.True(g.DependenciesOf("Cli").Any(), "the scan should see the CLI using the library");
        Assert.DoesNotContain("Mlip.Cli", File.ReadAllText(Path.Combine(SourceRoot, "Mlip.csproj")));
    }

    // ---- the analyser itself, on made-up files ----

    private static readonly SourceFile PlotsInTraining = new("Training/Plots.cs", """
        namespace Mlip.Training;
        public static class Plots { public static void Save(object plot, string path) { } public sealed class Nested { } }
        """);

    [Fact]
    public void Analyser_finds_an_arrow_from_a_using_line_and_a_type_use()
    {
        var sim = new SourceFile("Simulation/Neb.cs", """
            using Mlip.Training;
            namespace Mlip.Simulation;
            public static class Neb { public static void Plot(string path) => Plots.Save(new object(), path); }
            """);
        var g = FolderDependencies.Analyse([PlotsInTraining, sim]);
        Assert.True(g.Edges.TryGetValue(("Simulation", "Training"), out var why));
        Assert.Contains(why!, e => e.File == "Simulation/Neb.cs" && e.What == "Plots");
        Assert.Contains(why!, e => e.What == "using Mlip.Training");
        Assert.Contains("Simulation/Neb.cs names Plots, using Mlip.Training", g.Describe("Simulation", "Training"));
        Assert.Contains("Simulation", Allowed.Keys);
        Assert.DoesNotContain("Training", Allowed["Simulation"]); // so the layering test would fail on it
    }

    [Fact]
    public void Analyser_finds_qualified_names_without_a_using_line()
    {
        var full = new SourceFile("Simulation/Eos.cs", """
            namespace Mlip.Simulation;
            static class Eos { static void P(string p) => Mlip.Training.Plots.Save(null!, p); }
            """);
        var partial = new SourceFile("ActiveLearning/Report.cs", """
            namespace Mlip.ActiveLearning;
            static class Report { static void P(string p) => Training.Plots.Save(null!, p); }
            """);
        var g = FolderDependencies.Analyse([PlotsInTraining, full, partial]);
        Assert.Contains(g.Edges[("Simulation", "Training")], e => e.What == "Mlip.Training.Plots");
        Assert.Contains(g.Edges[("ActiveLearning", "Training")], e => e.What == "Mlip.Training.Plots");
    }

    [Fact]
    public void Analyser_ignores_comments_strings_members_and_nested_types()
    {
        var sim = new SourceFile("Simulation/Md.cs", """"
            namespace Mlip.Simulation;
            /// <summary>Not <see cref="Plots"/>: Mlip.Training.Plots in a comment.</summary>
            public sealed class Md
            {
                public int Plots { get; } // a member of the same spelling, no using line
                public string Text => "Mlip.Training.Plots.Save" + $"{Plots} Plots" + @"Plots ""Mlip.Training.Plots""" + '"';
                /* Mlip.Training.Plots */
                public object N => Nested.Value;
            }
            """");
        var g = FolderDependencies.Analyse([PlotsInTraining, sim]);
        Assert.Empty(g.Edges);
        Assert.Equal(["Plots"], FolderDependencies.TopLevelTypes(FolderDependencies.StripCommentsAndStrings(PlotsInTraining.Text)));
    }

    [Fact]
    public void Analyser_keeps_code_inside_interpolation_holes()
    {
        var sim = new SourceFile("Simulation/Md.cs", """
            namespace Mlip.Simulation;
            static class Md { static string S(string p) => $"saved {Mlip.Training.Plots.Name(p):F3} and {(p.Length > 0 ? "x" : "y")}"; }
            """);
        var g = FolderDependencies.Analyse([PlotsInTraining, sim]);
        Assert.True(g.Edges.ContainsKey(("Simulation", "Training")));
    }

    [Fact]
    public void Analyser_resolves_a_name_declared_in_two_folders_by_the_using_lines()
    {
        var lbfgsSim = new SourceFile("Simulation/Lbfgs.cs", "namespace Mlip.Simulation;\npublic sealed class Lbfgs { }");
        var lbfgsTrain = new SourceFile("Training/Lbfgs.cs", "namespace Mlip.Training;\npublic sealed class Lbfgs { }");
        var own = new SourceFile("Simulation/Relax.cs", "using Mlip.Structures;\nnamespace Mlip.Simulation;\nclass Relax { Lbfgs L = new(); }");
        var other = new SourceFile("Data/Gen.cs", "using Mlip.Training;\nnamespace Mlip.Data;\nclass Gen { Lbfgs L = new(); }");
        var neither = new SourceFile("ActiveLearning/Loop.cs", "namespace Mlip.ActiveLearning;\nclass Loop { Lbfgs L = new(); }");
        var g = FolderDependencies.Analyse([lbfgsSim, lbfgsTrain, own, other, neither]);
        Assert.False(g.Edges.ContainsKey(("Simulation", "Training")));
        Assert.Contains(g.Edges[("Data", "Training")], e => e.What == "Lbfgs");
        Assert.False(g.Edges.ContainsKey(("ActiveLearning", "Training")));
        Assert.False(g.Edges.ContainsKey(("ActiveLearning", "Simulation")));
    }

    [Fact]
    public void Analyser_puts_nested_namespaces_in_their_top_folder_and_sees_global_usings()
    {
        var ace = new SourceFile("Descriptors/Ace/AceBasisSet.cs", "namespace Mlip.Descriptors.Ace;\npublic sealed record AceBasisSet(int N);");
        var model = new SourceFile("Models/Ace/AcePotential.cs", "using Mlip.Descriptors.Ace;\nnamespace Mlip.Models.Ace;\nclass AcePotential { AceBasisSet? B; }");
        var glob = new SourceFile("Models/Usings.cs", "global using Mlip.Training;");
        var user = new SourceFile("Models/Uncertainty/Grade.cs", "namespace Mlip.Models.Uncertainty;\nclass Grade { void F() => Plots.Save(null!, \"\"); }");
        var g = FolderDependencies.Analyse([ace, model, glob, user, PlotsInTraining]);
        Assert.Contains(g.Edges[("Models", "Descriptors")], e => e.File == "Models/Ace/AcePotential.cs" && e.What == "AceBasisSet");
        Assert.Contains(g.Edges[("Models", "Training")], e => e.File == "Models/Uncertainty/Grade.cs" && e.What == "Plots");
        Assert.Equal(["Descriptors", "Models", "Training"], g.Folders);
    }

    [Fact]
    public void Analyser_reports_a_cycle_with_the_files_that_make_it()
    {
        var a = new SourceFile("Models/Potential.cs", "using Mlip.Calculators;\nnamespace Mlip.Models;\npublic class Potential : ICalculator { }");
        var b = new SourceFile("Calculators/ICalculator.cs", "namespace Mlip.Calculators;\npublic interface ICalculator { }");
        var c = new SourceFile("Calculators/Source.cs", "namespace Mlip.Calculators;\nstatic class Source { static object L(string p) => Mlip.Models.Potential.Load(p); }");
        var d = new SourceFile("IO/Reader.cs", "namespace Mlip.IO;\nstatic class Reader { }");
        var g = FolderDependencies.Analyse([a, b, c, d]);
        var cycle = Assert.Single(g.Cycles());
        Assert.Equal(["Calculators", "Models", "Calculators"], cycle);
        Assert.Contains("Calculators/Source.cs names Mlip.Models.Potential", g.Describe("Calculators", "Models"));
        Assert.Contains("Models/Potential.cs names ICalculator, using Mlip.Calculators", g.Describe("Models", "Calculators"));

        var acyclic = FolderDependencies.Analyse([a, b, d]);
        Assert.Empty(acyclic.Cycles());
    }
}
