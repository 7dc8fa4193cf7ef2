using Mlip.Descriptors;
using Mlip.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>
/// The labels of a batch of structures as tensors (energies, atoms per structure, and with derivatives the
/// forces [atoms, 3] and the Voigt stresses [structures, 6] with their mask), the loss of the torch trainers
/// on them (<see cref="LossWeights"/>) and the stress of predicted pair gradients.
/// </summary>
internal sealed class BatchLabels : IDisposable
{
    private readonly Tensor _atomsPer, _energyTarget;
    private readonly Tensor? _forceTarget, _volume, _stressTarget, _stressMask;
    // 1 on the atoms of structures with forces, 0 on the others; null when every structure of the batch has forces
    private readonly Tensor? _forceMask;
    // with group weights (GroupWeights): the weight of each structure's squared energy error [structures], of each atom's force
    // components [atoms, 1] and of each structure's stress components [structures, 1]; null without
    private readonly Tensor? _energyWeight, _forceWeight, _stressWeight;
    private readonly int _structures;
    private readonly long _forceComponents, _stressComponents;

    /// <summary>Frees the label tensors (a streamed batch's, after its step).</summary>
    public void Dispose()
    {
        _atomsPer.Dispose(); _energyTarget.Dispose();
        _energyWeight?.Dispose(); _forceWeight?.Dispose(); _stressWeight?.Dispose();
        _forceTarget?.Dispose(); _forceMask?.Dispose(); _volume?.Dispose(); _stressTarget?.Dispose(); _stressMask?.Dispose();
    }

    /// <summary>
    /// The labels of <paramref name="structures"/> of <paramref name="data"/> (forces and stresses when <paramref name="derivatives"/>);
    /// with <paramref name="groupWeights"/> (<see cref="GroupWeights.Of"/>) also each structure's weights, used by <see cref="Loss"/>
    /// when asked to weigh (a structure of a group not listed weighs 1).
    /// </summary>
    public BatchLabels(TrainingSet data, int[] structures, bool derivatives, IReadOnlyDictionary<string, GroupWeights>? groupWeights = null)
    {
        int atoms = structures.Sum(s => data.Structures[s].Count);
        var atomsPer = new double[structures.Length];
        var energy = new double[structures.Length];
        var force = derivatives ? new double[3L * atoms] : [];
        var volume = new double[structures.Length];
        var stress = new double[6 * structures.Length];
        var stressMask = new double[6 * structures.Length];
        int ao = 0;
        long fc = 0, sc = 0;
        for (int q = 0; q < structures.Length; q++)
        {
            var st = data.Structures[structures[q]];
            atomsPer[q] = st.Count;
            energy[q] = st.Energy ?? 0;
            volume[q] = st.Pbc.AllPeriodic ? st.Volume : 0;
            if (derivatives)
            {
                if (st.Forces is { } f)
                {
                    for (int i = 0; i < st.Count; i++) { force[3L * (ao + i)] = f[i].X; force[3L * (ao + i) + 1] = f[i].Y; force[3L * (ao + i) + 2] = f[i].Z; }
                    fc += 3 * st.Count;
                }
                if (st.Stress is Structures.Stress sv && st.Pbc.AllPeriodic)
                {
                    var v = sv.ToVoigt();
                    for (int c = 0; c < 6; c++) { stress[6 * q + c] = v[c]; stressMask[6 * q + c] = 1; }
                    sc += 6;
                }
            }
            ao += st.Count;
        }
        _structures = structures.Length;
        if (groupWeights is not null)
        {
            var we = new double[structures.Length];
            var ws = new double[structures.Length];
            var wf = new double[atoms];
            int wo = 0;
            for (int q = 0; q < structures.Length; q++)
            {
                var st = data.Structures[structures[q]];
                var g = groupWeights.TryGetValue(st.Group ?? "", out var v) ? v : new GroupWeights(1, 1, 1);
                we[q] = g.Energy; ws[q] = g.Stress;
                Array.Fill(wf, g.Force, wo, st.Count);
                wo += st.Count;
            }
            _energyWeight = tensor(we, dtype: ScalarType.Float64);
            _stressWeight = tensor(ws, [structures.Length, 1], dtype: ScalarType.Float64);
            _forceWeight = tensor(wf, [atoms, 1], dtype: ScalarType.Float64);
        }
        _atomsPer = tensor(atomsPer, dtype: ScalarType.Float64);
        _energyTarget = tensor(energy, dtype: ScalarType.Float64);
        if (derivatives)
        {
            _forceTarget = tensor(force, [atoms, 3], dtype: ScalarType.Float64);
            if (fc < 3L * atoms)
            {
                // a structure without forces contributes no force error (not its predicted forces against 0)
                var mask = new double[3L * atoms];
                int mo = 0;
                foreach (int q in structures)
                {
                    var st = data.Structures[q];
                    if (st.Forces is not null) Array.Fill(mask, 1.0, 3 * mo, 3 * st.Count);
                    mo += st.Count;
                }
                _forceMask = tensor(mask, [atoms, 3], dtype: ScalarType.Float64);
            }
            _volume = tensor(volume.Select(v => v > 0 ? Structures.Stress.EvPerCubicAngstromInGpa / v : 0).ToArray(), dtype: ScalarType.Float64);
            _stressTarget = tensor(stress, [structures.Length, 6], dtype: ScalarType.Float64);
            _stressMask = tensor(stressMask, [structures.Length, 6], dtype: ScalarType.Float64);
            _forceComponents = fc;
            _stressComponents = sc;
        }
    }

    /// <summary>Whether any structure of the batch has a stress label (then <see cref="Stress"/> is worth computing).</summary>
    public bool HasStress => _stressComponents > 0;

    /// <summary>
    /// Voigt stresses (GPa) [structures, 6] from dE/dr_ij of every pair (<paramref name="gp"/> [pairs, 3]),
    /// the pair vectors [pairs, 3] and each pair's structure: σ = (1/V) Σ dE/dr_ij ⊗ r_ij, symmetrised.
    /// </summary>
    public Tensor Stress(Tensor gp, Tensor vectors, Tensor pairStructure)
    {
        var w = gp.unsqueeze(2) * vectors.unsqueeze(1);                                             // [pairs, 3, 3]
        var ws = zeros(_structures, 3, 3, dtype: ScalarType.Float64).index_add(0, pairStructure, w, TorchScalars.One);
        var voigt = stack([ws[.., 0, 0], ws[.., 1, 1], ws[.., 2, 2],
            ws[.., 1, 2].Plus(ws[.., 2, 1]).mul(TorchScalars.Of(0.5)), ws[.., 0, 2].Plus(ws[.., 2, 0]).mul(TorchScalars.Of(0.5)),
            ws[.., 0, 1].Plus(ws[.., 1, 0]).mul(TorchScalars.Of(0.5))], 1);
        return voigt * _volume!.unsqueeze(1);
    }

    /// <summary>
    /// Energy × mean (ΔE/N)² + Force × mean ΔF² + Stress × mean Δσ² over the labelled components. With <paramref name="counts"/>
    /// (this is one MPI rank's part of a batch spread over the ranks) the squared errors are divided by the counts of the whole
    /// batch instead, so that the parts of all ranks add up to the loss of the whole batch. <paramref name="weighted"/>: each squared
    /// error times its group's weight (the labels were made with group weights).
    /// </summary>
    public Tensor Loss(LossWeights w, Tensor e, Tensor? f, Tensor? s, NeuralNetworkTrainer.LossCounts? counts = null, bool weighted = false)
    {
        if (weighted && _energyWeight is null) throw new InvalidOperationException("these labels have no group weights");
        var de = (e - _energyTarget) / _atomsPer;
        var e2 = weighted ? de * de * _energyWeight! : de * de;
        var loss = counts is { } c ? e2.sum().Times(w.Energy).Over(c.Structures) : e2.mean().Times(w.Energy);
        if (f is not null && w.Force > 0 && _forceComponents > 0)
        {
            var f2 = ForceError(f).pow(TorchScalars.Of(2));
            if (weighted) f2 = f2 * _forceWeight!;
            loss = loss.Plus(f2.sum().Times(w.Force).Over(counts?.ForceComponents ?? _forceComponents));
        }
        if (s is not null && w.Stress > 0 && _stressComponents > 0)
        {
            var s2 = (s - _stressTarget!).pow(TorchScalars.Of(2)) * _stressMask!;
            if (weighted) s2 = s2 * _stressWeight!;
            loss = loss.Plus(s2.sum().Times(w.Stress).Over(counts?.StressComponents ?? _stressComponents));
        }
        return loss;
    }

    /// <summary>Σ|ΔE/N| (eV/atom), Σ(ΔE/N)², Σ|ΔF|, ΣΔF² over the labelled components, and 0 (five numbers).</summary>
    public double[] ErrorSums(Tensor e, Tensor? f)
    {
        var de = (e - _energyTarget) / _atomsPer;
        var sums = new double[5];
        sums[0] = de.abs().sum().item<double>();
        sums[1] = (de * de).sum().item<double>();
        if (f is not null && _forceComponents > 0)
        {
            var df = ForceError(f);
            sums[2] = df.abs().sum().item<double>();
            sums[3] = df.pow(TorchScalars.Of(2)).sum().item<double>();
        }
        return sums;
    }

    /// <summary>Predicted minus labelled forces [atoms, 3], 0 on the atoms of structures without forces.</summary>
    private Tensor ForceError(Tensor f) => _forceMask is null ? f - _forceTarget! : (f - _forceTarget!) * _forceMask;

    /// <summary>Energy MAE (meV/atom), force MAE (eV/Å; NaN without forces) and the energy + force loss.</summary>
    public (double EnergyMae, double ForceMae, double Loss) Errors(LossWeights w, Tensor e, Tensor? f)
    {
        var de = (e - _energyTarget) / _atomsPer;
        double eMae = 1000 * de.abs().mean().item<double>();
        double loss = w.Energy * (de * de).mean().item<double>();
        double fMae = double.NaN;
        if (f is not null && _forceComponents > 0)
        {
            var df = ForceError(f);
            fMae = df.abs().sum().item<double>() / _forceComponents;
            loss += w.Force * df.pow(TorchScalars.Of(2)).sum().item<double>() / _forceComponents;
        }
        return (eMae, fMae, loss);
    }
}

/// <summary>
/// The weights of one group's (config type's) squared errors in a loss that gives every group the same share of each term: over
/// the structures of a training set, a structure of group g weighs N/(G_E n_g) in the energy term, N structures with an energy in
/// G_E groups, n_g of them in g; its force components F/(G_F f_g) and its stress components S/(G_S s_g) alike (only the
/// structures and groups with that label counted), so that each term's weights average 1 over the set.
/// </summary>
internal readonly record struct GroupWeights(double Energy, double Force, double Stress)
{
    /// <summary>The weights of every group of <paramref name="structures"/> (a structure without a group is in the group "").</summary>
    public static Dictionary<string, GroupWeights> Of(IEnumerable<Structure> structures)
    {
        var n = new Dictionary<string, (double E, double F, double S)>();
        foreach (var st in structures)
        {
            string g = st.Group ?? "";
            var c = n.GetValueOrDefault(g);
            n[g] = (c.E + (st.Energy is null ? 0 : 1), c.F + (st.Forces is null ? 0 : 3.0 * st.Count),
                    c.S + (st.Stress is not null && st.Pbc.AllPeriodic ? 6 : 0));
        }
        double totE = n.Values.Sum(v => v.E), totF = n.Values.Sum(v => v.F), totS = n.Values.Sum(v => v.S);
        int gE = n.Values.Count(v => v.E > 0), gF = n.Values.Count(v => v.F > 0), gS = n.Values.Count(v => v.S > 0);
        static double Share(double total, int groups, double own) => own > 0 ? total / (groups * own) : 0;
        return n.ToDictionary(kv => kv.Key, kv => new GroupWeights(Share(totE, gE, kv.Value.E), Share(totF, gF, kv.Value.F), Share(totS, gS, kv.Value.S)));
    }
}
