using Mlip.Calculators;
using Mlip.Structures;

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

    public static Evaluation Run(ICalculator calculator, IReadOnlyList<Structure> structures, int threads = 1, IProgress<Descriptors.WorkProgress>? progress = null)
    {
        var results = new CalculatorResult[structures.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        Parallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, s =>
        {
            var st = structures[s];
            results[s] = calculator.Calculate(st, forces: st.Forces is not null, stress: st.Stress is not null);
            progress?.Report(new Descriptors.WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
        });
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
