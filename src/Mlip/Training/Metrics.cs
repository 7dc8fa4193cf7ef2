using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.Distributed;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Errors as scientists read them: energy per atom in meV/atom, forces in eV/Å, stress in GPa.</summary>
public sealed record ErrorMetrics(
    int Structures, int Atoms,
    double? EnergyMaeMevPerAtom, double? EnergyRmseMevPerAtom,
    double? ForceMaeEvPerA, double? ForceRmseEvPerA,
    double? StressMaeGpa, double? StressRmseGpa);

/// <summary>One structure's reference and predicted values.</summary>
public sealed record Comparison(Structure Structure, CalculatorResult Predicted);

/// <summary>Accumulates errors over structures, overall and per group.</summary>
public sealed class ErrorAccumulator
{
    private int _structures, _atoms, _eCount, _fCount, _sCount;
    private double _eAbs, _eSq, _fAbs, _fSq, _sAbs, _sSq;

    public void Add(Structure s, CalculatorResult p)
    {
        _structures++;
        _atoms += s.Count;
        if (s.Energy is double e && s.Count > 0)
        {
            double d = 1000 * (p.Energy - e) / s.Count;
            _eAbs += Math.Abs(d); _eSq += d * d; _eCount++;
        }
        if (s.Forces is { } f && p.Forces is { } pf)
            for (int i = 0; i < f.Length; i++)
                for (int c = 0; c < 3; c++)
                {
                    double d = pf[i][c] - f[i][c];
                    _fAbs += Math.Abs(d); _fSq += d * d; _fCount++;
                }
        if (s.Stress is Stress st && p.Stress is Stress ps)
        {
            var a = st.ToVoigt(); var b = ps.ToVoigt();
            for (int q = 0; q < 6; q++)
            {
                double d = b[q] - a[q];
                _sAbs += Math.Abs(d); _sSq += d * d; _sCount++;
            }
        }
    }

    public ErrorMetrics Result() => new(
        _structures, _atoms,
        _eCount > 0 ? _eAbs / _eCount : null, _eCount > 0 ? Math.Sqrt(_eSq / _eCount) : null,
        _fCount > 0 ? _fAbs / _fCount : null, _fCount > 0 ? Math.Sqrt(_fSq / _fCount) : null,
        _sCount > 0 ? _sAbs / _sCount : null, _sCount > 0 ? Math.Sqrt(_sSq / _sCount) : null);
}

/// <summary>Predictions on a data set and their errors, overall and by group.</summary>
public sealed class Evaluation
{
    public required IReadOnlyList<Comparison> Comparisons { get; init; }
    public required ErrorMetrics Overall { get; init; }
    public required IReadOnlyList<KeyValuePair<string, ErrorMetrics>> Groups { get; init; }

    public static Evaluation Run(ICalculator calculator, IReadOnlyList<Structure> structures, int threads = 1, IProgress<Descriptors.WorkProgress>? progress = null,
        ICommunicator? communicator = null)
    {
        var comm = communicator ?? SingleProcess.Instance;
        var results = new CalculatorResult[structures.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        // under MPI each rank computes its share of the structures and the results are gathered (the same on every rank)
        var (start, end) = comm.Share(structures.Count);
        // a structure's own loops (descriptor, forces) get the threads left over, as in DatasetDescriptors: threads = 1 is one
        // core in all (without the limit they took every core, so a 1-thread MPI rank competed with the other ranks for them)
        using var inner = MlipParallel.LimitThreads(MlipParallel.InnerThreads(threads, end - start));
        MlipParallel.For(start, end, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, s =>
        {
            var st = structures[s];
            results[s] = calculator.Calculate(st, forces: st.Forces is not null, stress: st.Stress is not null);
            LargeObjectGarbage.CollectWhenDue(); // each structure's dead derivative blocks (docs/scale.md, "Memory")
            progress?.Report(new Descriptors.WorkProgress(Interlocked.Increment(ref done), end - start, clock.Elapsed));
        });
        if (comm.Size > 1)
        {
            comm.Barrier(); // a rank that finishes its share first waits asleep (the gather would spin)
            ResultPacking.Gather(comm, results, start, end);
        }
        var all = new ErrorAccumulator();
        var groups = new Dictionary<string, ErrorAccumulator>();
        var order = new List<string>();
        var comparisons = new List<Comparison>(structures.Count);
        for (int s = 0; s < structures.Count; s++)
        {
            var st = structures[s];
            all.Add(st, results[s]);
            string g = st.Group ?? "(none)";
            if (!groups.TryGetValue(g, out var acc)) { groups[g] = acc = new ErrorAccumulator(); order.Add(g); }
            acc.Add(st, results[s]);
            comparisons.Add(new Comparison(st, results[s]));
        }
        return new Evaluation
        {
            Comparisons = comparisons,
            Overall = all.Result(),
            Groups = [.. order.Select(g => new KeyValuePair<string, ErrorMetrics>(g, groups[g].Result()))],
        };
    }
}

/// <summary>Calculator results as flat arrays of doubles, to gather the shares of the ranks of an MPI run.</summary>
internal static class ResultPacking
{
    /// <summary>Fills every rank's results[start..end) into every rank's <paramref name="results"/> (all structures).</summary>
    public static void Gather(ICommunicator comm, CalculatorResult[] results, int start, int end)
    {
        var mine = new List<double>();
        for (int s = start; s < end; s++) Pack(results[s], mine);
        var all = comm.AllgatherVariable(mine.ToArray());
        for (int r = 0; r < comm.Size; r++)
        {
            var (rs, re) = Collectives.Share(results.Length, r, comm.Size);
            int at = 0;
            for (int s = rs; s < re; s++) results[s] = Unpack(all[r], ref at);
        }
    }

    private static void Pack(CalculatorResult c, List<double> o)
    {
        o.Add(c.Energy);
        o.Add(c.Forces?.Length ?? -1);
        if (c.Forces is { } f) foreach (var v in f) { o.Add(v.X); o.Add(v.Y); o.Add(v.Z); }
        o.Add(c.Stress is null ? 0 : 1);
        if (c.Stress is { } st) o.AddRange(st.ToVoigt());
        o.Add(c.AtomEnergies?.Length ?? -1);
        if (c.AtomEnergies is { } ae) o.AddRange(ae);
        o.Add(c.EnergyVariance is null ? 0 : 1);
        if (c.EnergyVariance is double ev) o.Add(ev);
    }

    private static CalculatorResult Unpack(double[] d, ref int at)
    {
        double energy = d[at++];
        int nf = (int)d[at++];
        Vec3[]? forces = null;
        if (nf >= 0)
        {
            forces = new Vec3[nf];
            for (int i = 0; i < nf; i++, at += 3) forces[i] = new Vec3(d[at], d[at + 1], d[at + 2]);
        }
        Stress? stress = null;
        if (d[at++] == 1) { stress = Stress.FromVoigt(d.AsSpan(at, 6)); at += 6; }
        int na = (int)d[at++];
        double[]? atomEnergies = null;
        if (na >= 0) { atomEnergies = d.AsSpan(at, na).ToArray(); at += na; }
        double? variance = null;
        if (d[at++] == 1) variance = d[at++];
        return new CalculatorResult(energy, forces, stress, atomEnergies, variance);
    }
}

/// <summary>The mean predictive variance of a group of structures next to its errors.</summary>
/// <param name="Group">Group name ("all" for the whole set).</param>
/// <param name="Structures">Structures with a predicted variance.</param>
/// <param name="EnergyMaeMevPerAtom">Energy MAE of the group (meV/atom).</param>
/// <param name="ForceMaeEvPerA">Force MAE of the group (eV/Å).</param>
/// <param name="MeanVariance">Mean over structures of the predictive variance of the total energy (eV²).</param>
/// <param name="MeanStdMevPerAtom">Mean over structures of sqrt(variance)/N (meV/atom), comparable with the energy MAE.</param>
public sealed record GroupUncertainty(string Group, int Structures, double? EnergyMaeMevPerAtom, double? ForceMaeEvPerA, double MeanVariance, double MeanStdMevPerAtom);

/// <summary>Predictive variances (models that implement <see cref="Models.IUncertainModel"/>) summarised by group.</summary>
public static class UncertaintySummary
{
    /// <summary>One row per group and one for all structures; empty when no prediction carries a variance.</summary>
    public static IReadOnlyList<GroupUncertainty> ByGroup(Evaluation e)
    {
        var rows = new List<GroupUncertainty>();
        if (!e.Comparisons.Any(c => c.Predicted.EnergyVariance is not null)) return rows;
        GroupUncertainty Of(string name, IEnumerable<Comparison> members, ErrorMetrics m)
        {
            int count = 0;
            double variance = 0, std = 0;
            foreach (var c in members)
            {
                if (c.Predicted.EnergyVariance is not double v || c.Structure.Count == 0) continue;
                count++;
                variance += v;
                std += 1000 * Math.Sqrt(v) / c.Structure.Count;
            }
            return new GroupUncertainty(name, count, m.EnergyMaeMevPerAtom, m.ForceMaeEvPerA, count > 0 ? variance / count : 0, count > 0 ? std / count : 0);
        }
        foreach (var (g, m) in e.Groups)
            rows.Add(Of(g, e.Comparisons.Where(c => (c.Structure.Group ?? "(none)") == g), m));
        rows.Add(Of("all", e.Comparisons, e.Overall));
        return rows;
    }

    /// <summary>Writes the table (group, structures, E MAE, F MAE, mean variance, mean σ/N) to <paramref name="o"/>.</summary>
    public static void Write(TextWriter o, string title, Evaluation e)
    {
        var rows = ByGroup(e);
        if (rows.Count == 0) return;
        static string F(double? v, string format) => v is double x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";
        var cells = new List<string[]> { new[] { "group", "structures", "E MAE (meV/atom)", "F MAE (eV/Å)", "mean var(E) (eV²)", "mean σ(E)/N (meV/atom)" } };
        foreach (var r in rows)
            cells.Add([r.Group, r.Structures.ToString(CultureInfo.InvariantCulture), F(r.EnergyMaeMevPerAtom, "F2"),
                F(r.ForceMaeEvPerA, "F4"), F(r.MeanVariance, "G4"), F(r.MeanStdMevPerAtom, "F3")]);
        var width = new int[cells[0].Length];
        foreach (var row in cells)
            for (int c = 0; c < row.Length; c++) width[c] = Math.Max(width[c], row[c].Length);
        o.WriteLine(title + ": predictive variance of the energy by group");
        foreach (var row in cells)
            o.WriteLine(string.Join("  ", row.Select((v, c) => c == 0 ? v.PadRight(width[c]) : v.PadLeft(width[c]))).TrimEnd());
    }

    /// <summary>The table as JSON (metrics.json).</summary>
    public static JsonObject Json(Evaluation e)
    {
        var o = new JsonObject();
        foreach (var r in ByGroup(e))
            o[r.Group] = new JsonObject
            {
                ["structures"] = r.Structures,
                ["mean_energy_variance_ev2"] = r.MeanVariance,
                ["mean_energy_std_mev_per_atom"] = r.MeanStdMevPerAtom,
            };
        return o;
    }
}
