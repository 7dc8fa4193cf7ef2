using Mlip.Structures;

namespace Mlip.Data;

/// <summary>Range of a quantity over a data set.</summary>
public sealed record ValueRange(double Min, double Max, double Mean, int Count)
{
    public static ValueRange? Of(List<double> values)
    {
        if (values.Count == 0) return null;
        double mn = double.PositiveInfinity, mx = double.NegativeInfinity, mean = 0;
        int k = 0;
        // running mean: stays finite for finite values near the largest doubles, where a sum would overflow
        foreach (double v in values) { mn = Math.Min(mn, v); mx = Math.Max(mx, v); mean += (v - mean) / ++k; }
        return new ValueRange(mn, mx, mean, values.Count);
    }
}

/// <summary>Per-group counts and energy range.</summary>
public sealed record GroupSummary(string Name, int Structures, int Atoms, ValueRange? EnergyPerAtom);

/// <summary>
/// What a scientist wants to know about a data set before fitting: sizes, elements, groups, the
/// range of energies per atom, forces and volumes, and which labels are there.
/// </summary>
public sealed class DatasetSummary
{
    public int Structures { get; private init; }
    public int Atoms { get; private init; }

    /// <summary>Atom count per element, in increasing atomic number.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> Elements { get; private init; } = [];

    /// <summary>Groups in order of first appearance; structures without a group are under "(none)".</summary>
    public IReadOnlyList<GroupSummary> Groups { get; private init; } = [];

    public ValueRange? EnergyPerAtom { get; private init; }

    /// <summary>Range of |F| over all atoms with forces (eV/Å).</summary>
    public ValueRange? ForceNorm { get; private init; }

    /// <summary>RMS of the force components (eV/Å).</summary>
    public double? ForceComponentRms { get; private init; }

    public ValueRange? VolumePerAtom { get; private init; }

    /// <summary>Largest |σ| component (GPa) over structures with stress.</summary>
    public ValueRange? Pressure { get; private init; }

    public int WithEnergy { get; private init; }
    public int WithForces { get; private init; }
    public int WithStress { get; private init; }

    /// <summary>Per-atom array names and how many structures carry each.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> AtomArrays { get; private init; } = [];

    public const string NoGroup = "(none)";

    public static DatasetSummary Of(IReadOnlyList<Structure> structures)
    {
        int atoms = 0, withE = 0, withF = 0, withS = 0;
        var elementCounts = new SortedDictionary<int, int>();
        var groupOrder = new List<string>();
        var groupStructures = new Dictionary<string, int>();
        var groupAtoms = new Dictionary<string, int>();
        var groupEnergies = new Dictionary<string, List<double>>();
        var epa = new List<double>();
        var fnorm = new List<double>();
        var vpa = new List<double>();
        var pressure = new List<double>();
        var arrays = new SortedDictionary<string, int>(StringComparer.Ordinal);
        double fsq = 0;
        long fcount = 0;

        foreach (var s in structures)
        {
            atoms += s.Count;
            foreach (int z in s.AtomicNumbers) elementCounts[z] = elementCounts.GetValueOrDefault(z) + 1;
            string g = s.Group ?? NoGroup;
            if (!groupStructures.ContainsKey(g)) { groupOrder.Add(g); groupEnergies[g] = []; }
            groupStructures[g] = groupStructures.GetValueOrDefault(g) + 1;
            groupAtoms[g] = groupAtoms.GetValueOrDefault(g) + s.Count;
            if (s.Energy is double e && s.Count > 0)
            {
                withE++;
                epa.Add(e / s.Count);
                groupEnergies[g].Add(e / s.Count);
            }
            if (s.Forces is { } f)
            {
                withF++;
                foreach (var v in f)
                {
                    fnorm.Add(v.Norm);
                    // running mean of |F|² (a sum could overflow for huge but finite forces)
                    fcount += 3;
                    fsq += (v.NormSquared / 3 - fsq) * 3 / fcount;
                }
            }
            if (s.Stress is Stress st)
            {
                withS++;
                pressure.Add(st.Pressure);
            }
            if (s.Pbc.AllPeriodic && s.Count > 0) vpa.Add(s.Volume / s.Count);
            foreach (var name in s.AtomArrays.Keys) arrays[name] = arrays.GetValueOrDefault(name) + 1;
        }

        var elements = new List<KeyValuePair<string, int>>();
        foreach (var (z, c) in elementCounts) elements.Add(new(Mlip.Structures.Elements.Symbol(z), c));
        var groups = new List<GroupSummary>();
        foreach (var g in groupOrder)
            groups.Add(new GroupSummary(g, groupStructures[g], groupAtoms[g], ValueRange.Of(groupEnergies[g])));

        return new DatasetSummary
        {
            Structures = structures.Count,
            Atoms = atoms,
            Elements = elements,
            Groups = groups,
            EnergyPerAtom = ValueRange.Of(epa),
            ForceNorm = ValueRange.Of(fnorm),
            ForceComponentRms = fcount > 0 ? Math.Sqrt(fsq) : null,
            VolumePerAtom = ValueRange.Of(vpa),
            Pressure = ValueRange.Of(pressure),
            WithEnergy = withE,
            WithForces = withF,
            WithStress = withS,
            AtomArrays = [.. arrays],
        };
    }
}
