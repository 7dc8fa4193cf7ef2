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
    public IDescriptor Descriptor { get; } = WarmedUp(descriptor);
    public IAtomicModel Model { get; } = model;

    /// <summary>How the descriptor was specified (type and parameters), for model files.</summary>
    public DescriptorSpec Spec { get; } = spec;

    public string Name => $"{Model.Kind} on {Descriptor.Name} ({Descriptor.FeatureCount} features)";

    /// <summary>The model file this potential was loaded from (set by <see cref="ModelFile.Load"/>), for error messages.</summary>
    public string? SourceFile { get; set; }
    public IReadOnlyList<int> Elements => Model.Elements;

    /// <summary>A potential will be asked for forces: the descriptor may start compiling its force kernels on a spare core (<see cref="IFusedDescriptor.WarmUpForces"/>).</summary>
    private static IDescriptor WarmedUp(IDescriptor d)
    {
        if (d is IFusedDescriptor fused) fused.WarmUpForces();
        return d;
    }

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

    public CalculatorResult Calculate(Structure s, bool forces = true, bool stress = true) =>
        CheckFinite(CalculateRaw(s, forces, stress), s);

    /// <summary>
    /// Refuses a NaN or infinite energy, force or stress: a model with absurd (finite) coefficients can
    /// overflow, and such a result must never be printed or integrated as if it were a number.
    /// </summary>
    private CalculatorResult CheckFinite(CalculatorResult r, Structure s)
    {
        string? bad = null;
        if (!double.IsFinite(r.Energy)) bad = "energy";
        else if (r.Forces is { } f)
        {
            for (int i = 0; i < f.Length && bad is null; i++)
                if (!double.IsFinite(f[i].X) || !double.IsFinite(f[i].Y) || !double.IsFinite(f[i].Z)) bad = $"force on atom {i}";
        }
        if (bad is null && r.Stress is Stress st
            && !(double.IsFinite(st.Xx) && double.IsFinite(st.Yy) && double.IsFinite(st.Zz) && double.IsFinite(st.Yz) && double.IsFinite(st.Xz) && double.IsFinite(st.Xy)))
            bad = "stress";
        if (bad is null) return r;
        string model = SourceFile is null ? $"the model ({Name})" : $"the model {SourceFile}";
        throw new NonFiniteValueException(s.Source ?? InputLocation.Unknown,
            $"the {bad} predicted by {model} for this structure");
    }

    private CalculatorResult CalculateRaw(Structure s, bool forces, bool stress)
    {
        CheckElements(s);
        if (Descriptor is Descriptors.Ace.AceBasisDescriptor && PaceForm() is { } pace) return pace.CalculateRaw(s, forces, stress); // checked by this potential's CheckFinite, naming its file
        if (Model is IGeometricModel geometric) return CalculateGeometric(geometric, s, forces, stress);
        bool needGrad = forces || stress;
        if (needGrad && Descriptor is IFusedDescriptor fused && Model is not IUncertainModel)
        {
            var atomE = new double[s.Count];
            var numbers = s.AtomicNumbers;
            // the descriptor values are not part of the result: not asked for (no copy of them)
            (Vec3[] ff, Stress? fs) Pass(Neighbors.NeighborList? list) =>
                fused.EnergyAndForces(s, (first, x, e, g) => Model.Evaluate(x, numbers.AsSpan(first, e.Length), e, g), default, atomE, list);
            Vec3[] ff; Stress? fs;
            if (_neighbors.Skin > 0)
            {
                lock (_neighbors.Gate) (ff, fs) = Pass(_neighbors.Get(s, Descriptor.Cutoff));
            }
            else (ff, fs) = Pass(null);
            double sum = 0;
            foreach (double v in atomE) sum += v;
            return new CalculatorResult(sum, forces ? ff : null, stress && s.Pbc.AllPeriodic ? fs : null, atomE, null);
        }
        bool adjoint = needGrad && Descriptor is IAdjointDescriptor;
        if (adjoint && _neighbors.Skin > 0)
        {
            // the reused Verlet list (MD with ACE densities): the list is valid until the next Get, so the whole call holds the lock
            lock (_neighbors.Gate) return TwoPass(s, forces, stress, needGrad, adjoint, _neighbors.Get(s, Descriptor.Cutoff));
        }
        return TwoPass(s, forces, stress, needGrad, adjoint, null);
    }

    /// <summary>Descriptors of all atoms, the model, then forces through the adjoint or the derivative blocks (on <paramref name="list"/> when given).</summary>
    private CalculatorResult TwoPass(Structure s, bool forces, bool stress, bool needGrad, bool adjoint, Neighbors.NeighborList? list)
    {
        var set = Descriptor.Compute(s, derivatives: needGrad && !adjoint, list);
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

    private readonly Neighbors.ReusedNeighborList _neighbors = new();

    /// <summary>
    /// Verlet skin (Å) for reusing the neighbour list across calls of the fused pass (SO(4), SO(3) descriptors: MD) and of the
    /// adjoint pass (ACE densities, PACE's evaluator): 0
    /// (default) builds a fresh list every call; a positive value keeps a list at the descriptor's cut-off + skin
    /// (<see cref="Neighbors.ReusedNeighborList"/>, as <see cref="Calculators.ClassicalPotential.NeighborSkin"/>); calls are then
    /// serialised on this potential.
    /// </summary>
    public double NeighborSkin { get => _neighbors.Skin; set => _neighbors.Skin = value; }

    /// <summary>Number of neighbour-list builds done by the reused list (0 without a skin).</summary>
    public int NeighborListBuilds => _neighbors.Builds;

    private Potential? _pace;
    private bool _paceReady;
    private readonly Lock _paceLock = new();

    /// <summary>
    /// A linear model on the ace descriptor is evaluated in its C-tilde (PACE) form, built once: the same energies to
    /// round-off (<see cref="Ace.AceLinearExport"/>), through the PACE evaluator's fused pass instead of the per-pair
    /// derivative blocks of every basis function (for a 4811-function basis ~100 MB per structure and 16 ms per atom).
    /// </summary>
    private Potential? PaceForm()
    {
        if (Volatile.Read(ref _paceReady)) return _pace;
        lock (_paceLock)
        {
            if (!_paceReady)
            {
                _pace = Ace.AceLinearExport.IsLinearAce(this) ? Ace.AcePotential.Create(Ace.AceLinearExport.ToCTilde(this)) : null;
                Volatile.Write(ref _paceReady, true);
            }
        }
        return _pace;
    }

    /// <summary>
    /// A model with an explicit geometry term (PINN): one neighbour list for both, feature path plus explicit gradients.
    /// The feature path is contracted as for every descriptor model: the adjoint path of an <see cref="IAdjointDescriptor"/>
    /// (so4, so3, ACE densities), the derivative blocks otherwise.
    /// </summary>
    private CalculatorResult CalculateGeometric(IGeometricModel model, Structure s, bool forces, bool stress)
    {
        bool needGrad = forces || stress;
        var nl = Neighbors.NeighborList.Build(s, Math.Max(Descriptor.Cutoff, model.GeometryCutoff));
        bool adjoint = needGrad && Descriptor is IAdjointDescriptor;
        var set = Descriptor.Compute(s, derivatives: needGrad && !adjoint, nl);
        int n = s.Count, k = Descriptor.FeatureCount;
        var e = new double[n];
        var dEdX = needGrad ? new double[n * k] : [];
        var sum = needGrad ? new ForceSum(n) : null;
        model.Evaluate(set, s.AtomicNumbers, e, dEdX, sum);
        double total = 0;
        foreach (double v in e) total += v;
        if (!needGrad) return new CalculatorResult(total, null, null, e);
        var (f, st) = adjoint
            ? ((IAdjointDescriptor)Descriptor).ForcesFromAdjoint(s, dEdX, set.Neighbors)
            : ForceContraction.Contract(set, dEdX, s.Volume);
        var fe = sum!.Forces();
        for (int i = 0; i < n; i++) f[i] += fe[i];
        Stress? stressTotal = null;
        if (st is Stress a && sum.Stress(s.Volume) is Stress b)
            stressTotal = new Stress(a.Xx + b.Xx, a.Yy + b.Yy, a.Zz + b.Zz, a.Yz + b.Yz, a.Xz + b.Xz, a.Xy + b.Xy);
        return new CalculatorResult(total, forces ? f : null, stress && s.Pbc.AllPeriodic ? stressTotal : null, e);
    }
}

/// <summary>A descriptor as the user named it: type and key=value parameters (elements included).</summary>
public sealed record DescriptorSpec(string Type, IReadOnlyDictionary<string, string> Parameters)
{
    public IDescriptor Create(IReadOnlyList<string> elements) => DescriptorFactory.Create(Type, Parameters, elements);
}
