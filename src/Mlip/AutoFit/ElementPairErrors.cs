using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Training;

namespace Mlip.AutoFit;

/// <summary>The errors of one element pair: over the structures that hold an A–B bond, and over the atoms that take part in one.</summary>
/// <param name="Pair">"C–Si" (elements in alphabetical order of their symbols).</param>
/// <param name="Structures">Structures with at least one A–B bond (with an energy).</param>
/// <param name="EnergyMaeMevPerAtom">Energy MAE over those structures (meV/atom).</param>
/// <param name="EnergyRmseMevPerAtom">Energy RMSE over those structures (meV/atom).</param>
/// <param name="Atoms">Atoms in an A–B bond (with a force).</param>
/// <param name="ForceMaeEvPerA">Force MAE over those atoms' components (eV/Å).</param>
/// <param name="ForceRmseEvPerA">Force RMSE over those atoms' components (eV/Å).</param>
public sealed record ElementPairError(string Pair, int Structures, double? EnergyMaeMevPerAtom, double? EnergyRmseMevPerAtom, int Atoms, double? ForceMaeEvPerA, double? ForceRmseEvPerA);

/// <summary>
/// Errors by bonded element pair, for data with two or more elements: two atoms are bonded when their distance is at
/// most <see cref="ShellFactor"/> times the smaller of their two nearest-neighbour distances (the first shell of
/// either atom, no element table). An element pair A–B's energy error is over the structures that hold at least one
/// A–B bond, its force error over the atoms that take part in one (the force on the whole atom, all components).
/// The groups overlap (a structure with Si–C and Si–Si bonds counts in both); a pair found in few structures (Si–Si
/// bonds in SiC: antisites, surfaces, hot MD) shows the configurations a fit covers least.
/// </summary>
public static class ElementPairErrors
{
    /// <summary>First shell: bonded up to this multiple of the nearest-neighbour distance.</summary>
    public const double ShellFactor = 1.2;
    /// <summary>Neighbour search radius (Å) for the first shells; an atom with no neighbour within it has no bond.</summary>
    public const double SearchRadius = 6.0;

    /// <summary>The errors per bonded element pair, or an empty list when the data hold one element.</summary>
    public static IReadOnlyList<ElementPairError> Of(Evaluation e)
    {
        if (e.Comparisons.SelectMany(c => c.Structure.AtomicNumbers).Distinct().Count() < 2) return [];
        var sums = new SortedDictionary<string, Sums>(StringComparer.Ordinal);
        foreach (var c in e.Comparisons)
        {
            var st = c.Structure;
            var (structurePairs, atomPairs) = Bonds(st);
            if (st.Energy is double energy && st.Count > 0)
            {
                double d = 1000 * (c.Predicted.Energy - energy) / st.Count;
                foreach (var p in structurePairs) Get(sums, p).AddEnergy(d);
            }
            if (st.Forces is { } f && c.Predicted.Forces is { } pf)
                for (int i = 0; i < st.Count; i++)
                    foreach (var p in atomPairs[i])
                    {
                        var s = Get(sums, p);
                        s.Atoms++;
                        for (int k = 0; k < 3; k++) s.AddForce(pf[i][k] - f[i][k]);
                    }
        }
        return [.. sums.Select(kv => kv.Value.Result(kv.Key))];
    }

    /// <summary>The element pairs bonded in a structure, and for each atom the pairs of its own bonds.</summary>
    public static (SortedSet<string> Structure, List<string>[] Atoms) Bonds(Structure st)
    {
        int n = st.Count;
        var atoms = new List<string>[n];
        for (int i = 0; i < n; i++) atoms[i] = [];
        var all = new SortedSet<string>(StringComparer.Ordinal);
        if (n < 2 && !st.Pbc.Any) return (all, atoms);
        var nl = NeighborList.Build(st, SearchRadius);
        var nearest = new double[n];
        for (int i = 0; i < n; i++)
        {
            double m = double.PositiveInfinity;
            foreach (double r in nl.DistancesOf(i)) m = Math.Min(m, r);
            nearest[i] = m;
        }
        for (int i = 0; i < n; i++)
        {
            var js = nl.NeighborsOf(i);
            var rs = nl.DistancesOf(i);
            for (int q = 0; q < js.Length; q++)
            {
                int j = js[q];
                if (rs[q] > ShellFactor * Math.Min(nearest[i], nearest[j])) continue;
                string p = Name(st.AtomicNumbers[i], st.AtomicNumbers[j]);
                if (!atoms[i].Contains(p)) atoms[i].Add(p);
                all.Add(p);
            }
        }
        return (all, atoms);
    }

    private static string Name(int a, int b)
    {
        string x = Elements.Symbol(a), y = Elements.Symbol(b);
        return string.CompareOrdinal(x, y) <= 0 ? $"{x}–{y}" : $"{y}–{x}";
    }

    private static Sums Get(SortedDictionary<string, Sums> d, string key)
    {
        if (!d.TryGetValue(key, out var s)) d[key] = s = new Sums();
        return s;
    }

    private sealed class Sums
    {
        public int Structures, Atoms;
        private double _eAbs, _eSq, _fAbs, _fSq;
        private long _fN;

        public void AddEnergy(double d) { Structures++; _eAbs += Math.Abs(d); _eSq += d * d; }
        public void AddForce(double d) { _fAbs += Math.Abs(d); _fSq += d * d; _fN++; }

        public ElementPairError Result(string pair) => new(pair, Structures,
            Structures > 0 ? _eAbs / Structures : null, Structures > 0 ? Math.Sqrt(_eSq / Structures) : null,
            Atoms, _fN > 0 ? _fAbs / _fN : null, _fN > 0 ? Math.Sqrt(_fSq / _fN) : null);
    }
}
