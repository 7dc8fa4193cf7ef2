using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// A fitted potential: a descriptor and a per-atom model over it, usable as an <see cref="ICalculator"/>.
/// Forces and stress come from dE/dX through the descriptor's adjoint path when it has one (SO(4)),
/// otherwise through the sparse derivative blocks (<see cref="ForceContraction"/>).
/// </summary>
public sealed class Potential(IDescriptor descriptor, IAtomicModel model, DescriptorSpec spec) : ICalculator
{
    public IDescriptor Descriptor { get; } = descriptor;
    public IAtomicModel Model { get; } = model;

    /// <summary>How the descriptor was specified (type and parameters), for model files.</summary>
    public DescriptorSpec Spec { get; } = spec;

    public string Name => $"{Model.Kind} on {Descriptor.Name} ({Descriptor.FeatureCount} features)";
    public IReadOnlyList<int> Elements => Model.Elements;

    /// <summary>Refuses a structure with an element the model was not trained on, naming both.</summary>
    public void CheckElements(Structure s)
    {
        foreach (int z in s.DistinctAtomicNumbers())
        {
            bool known = false;
            foreach (int e in Model.Elements) known |= e == z;
            if (!known)
                throw new MlipInputException(s.Source ?? InputLocation.Unknown,
                    $"the model was trained on {string.Join(" ", Model.Elements.Select(Structures.Elements.Symbol))} and cannot handle {Structures.Elements.Symbol(z)}");
        }
    }

    public CalculatorResult Calculate(Structure s, bool forces = true, bool stress = true)
    {
        CheckElements(s);
        bool needGrad = forces || stress;
        if (needGrad && Descriptor is IFusedDescriptor fused && Model is not IUncertainModel)
        {
            int count = s.Count, kf = Descriptor.FeatureCount;
            var values = new double[count * kf];
            var atomE = new double[count];
            var numbers = s.AtomicNumbers;
            var (ff, fs) = fused.EnergyAndForces(s, (first, x, e, g) => Model.Evaluate(x, numbers.AsSpan(first, e.Length), e, g), values, atomE);
            double sum = 0;
            foreach (double v in atomE) sum += v;
            return new CalculatorResult(sum, forces ? ff : null, stress && s.Pbc.AllPeriodic ? fs : null, atomE, null);
        }
        bool adjoint = needGrad && Descriptor is IAdjointDescriptor;
        var set = Descriptor.Compute(s, derivatives: needGrad && !adjoint);
        int n = s.Count, k = Descriptor.FeatureCount;
        var e = new double[n];
        var dEdX = needGrad ? new double[n * k] : [];
        Model.Evaluate(set.Values, s.AtomicNumbers, e, dEdX);
        double total = 0;
        foreach (double v in e) total += v;
        double? variance = Model is IUncertainModel u ? u.EnergyVariance(set.Values, s.AtomicNumbers) : null;
        if (!needGrad) return new CalculatorResult(total, null, null, e, variance);
        var (f, st) = adjoint
            ? ((IAdjointDescriptor)Descriptor).ForcesFromAdjoint(s, dEdX, set.Neighbors)
            : ForceContraction.Contract(set, dEdX, s.Volume);
        return new CalculatorResult(total, forces ? f : null, stress && s.Pbc.AllPeriodic ? st : null, e, variance);
    }
}

/// <summary>A descriptor as the user named it: type and key=value parameters (elements included).</summary>
public sealed record DescriptorSpec(string Type, IReadOnlyDictionary<string, string> Parameters)
{
    public IDescriptor Create(IReadOnlyList<string> elements) => DescriptorFactory.Create(Type, Parameters, elements);
}
