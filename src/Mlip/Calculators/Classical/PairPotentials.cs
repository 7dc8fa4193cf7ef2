using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Calculators;

/// <summary>
/// A radial pair potential E = ½ Σ_i Σ_j φ_ab(r_ij) with parameters per species pair (a, b) and a
/// cutoff per pair; half of each pair's energy goes to each atom (as LAMMPS's per-atom energy).
/// </summary>
public abstract class PairPotential : ClassicalPotential
{
    private readonly double[] cutoffSq;
    private readonly double[] cutoffs;
    private readonly double[] shift;
    private readonly double maxCutoff;

    /// <param name="elements">Species of the tables; empty for one set of parameters for every element.</param>
    /// <param name="cutoffs">Cutoff per species pair, [a * n + b], symmetric.</param>
    /// <param name="shifted">Subtract φ(r_c) so the energy is continuous at the cutoff (LAMMPS's <c>pair_modify shift yes</c>).</param>
    protected PairPotential(IReadOnlyList<int> elements, double[] cutoffs, bool shifted) : base(elements)
    {
        int n = SpeciesCount;
        if (cutoffs.Length != n * n) throw new ArgumentException($"{n * n} cutoffs expected", nameof(cutoffs));
        this.cutoffs = cutoffs;
        cutoffSq = cutoffs.Select(c => c * c).ToArray();
        maxCutoff = cutoffs.Max();
        shift = new double[n * n];
        Shifted = shifted;
    }

    /// <summary>Called at the end of a derived constructor, once <see cref="Phi"/> can be evaluated: sets the shifts.</summary>
    protected void SetShifts()
    {
        if (Shifted)
            for (int p = 0; p < shift.Length; p++) shift[p] = Phi(p, cutoffs[p], out _);
    }

    public override double Cutoff => maxCutoff;

    /// <summary>True when the energy is shifted to zero at the cutoff.</summary>
    public bool Shifted { get; }

    /// <summary>φ(r) and dφ/dr for the species pair <paramref name="pair"/> (a * n + b).</summary>
    protected abstract double Phi(int pair, double r, out double dPhi);

    protected override void Compute(NeighborList nl, int[] types, PairSum sum, int first, int end, object? prepared)
    {
        int n = SpeciesCount;
        var centers = nl.Centers; var neighbors = nl.Neighbors; var vectors = nl.Vectors; var distances = nl.Distances;
        var reverse = nl.Reverse;
        for (int p = nl.Offsets[first]; p < nl.Offsets[end]; p++)
        {
            if (p > reverse[p]) continue; // each pair once, from the end with the lower pair index (a half list)
            int i = centers[p], j = neighbors[p];
            int pair = types[i] * n + types[j];
            double r = distances[p];
            if (r * r >= cutoffSq[pair]) continue;
            double e = Phi(pair, r, out double d) - shift[pair];
            sum.AddPairEnergy(p, e);
            sum.Add(p, (d / r) * vectors[p]);
        }
    }

    /// <summary>A symmetric n×n table from per-pair entries "A-B"; a missing pair is an error.</summary>
    protected static (int[] Elements, T[] Table) PairTable<T>(IEnumerable<(string A, string B, T Value)> entries)
    {
        var list = entries.ToList();
        var symbols = list.SelectMany(e => new[] { e.A, e.B }).Distinct().ToList();
        var z = Numbers(symbols);
        int n = z.Length;
        var table = new T[n * n];
        var set = new bool[n * n];
        foreach (var (a, b, v) in list)
        {
            int ia = symbols.IndexOf(a), ib = symbols.IndexOf(b);
            table[ia * n + ib] = table[ib * n + ia] = v;
            set[ia * n + ib] = set[ib * n + ia] = true;
        }
        for (int k = 0; k < set.Length; k++)
            if (!set[k]) throw new ArgumentException($"no parameters for the pair {symbols[k / n]}-{symbols[k % n]}");
        return (z, table);
    }
}

/// <summary>Lennard-Jones φ = 4ε[(σ/r)¹² − (σ/r)⁶] cut at r_c, not shifted by default (LAMMPS <c>lj/cut</c>).</summary>
public sealed class LennardJones : PairPotential
{
    public readonly record struct Parameters(double Epsilon, double Sigma, double Cutoff);

    private readonly Parameters[] table;

    /// <summary>One set of parameters for every element.</summary>
    public LennardJones(double epsilon, double sigma, double cutoff, bool shifted = false)
        : this([], [new Parameters(epsilon, sigma, cutoff)], shifted) { }

    private LennardJones(int[] elements, Parameters[] table, bool shifted)
        : base(elements, table.Select(t => t.Cutoff).ToArray(), shifted)
    {
        this.table = table;
        SetShifts();
    }

    /// <summary>Parameters per element pair ("Ar", "Kr", ε, σ, r_c); every pair must be given.</summary>
    public static LennardJones ForPairs(IEnumerable<(string A, string B, Parameters P)> pairs, bool shifted = false)
    {
        var (z, t) = PairTable(pairs);
        return new LennardJones(z, t, shifted);
    }

    public override string Name => "Lennard-Jones";

    protected override double Phi(int pair, double r, out double dPhi)
    {
        var p = table[pair];
        double sr2 = p.Sigma * p.Sigma / (r * r);
        double sr6 = sr2 * sr2 * sr2;
        double sr12 = sr6 * sr6;
        dPhi = 4 * p.Epsilon * (-12 * sr12 + 6 * sr6) / r;
        return 4 * p.Epsilon * (sr12 - sr6);
    }
}

/// <summary>Morse φ = D₀[e^(−2α(r−r₀)) − 2e^(−α(r−r₀))] cut at r_c, not shifted by default (LAMMPS <c>morse</c>).</summary>
public sealed class Morse : PairPotential
{
    public readonly record struct Parameters(double D0, double Alpha, double R0, double Cutoff);

    private readonly Parameters[] table;

    /// <summary>One set of parameters for every element.</summary>
    public Morse(double d0, double alpha, double r0, double cutoff, bool shifted = false)
        : this([], [new Parameters(d0, alpha, r0, cutoff)], shifted) { }

    private Morse(int[] elements, Parameters[] table, bool shifted)
        : base(elements, table.Select(t => t.Cutoff).ToArray(), shifted)
    {
        this.table = table;
        SetShifts();
    }

    /// <summary>Parameters per element pair; every pair must be given.</summary>
    public static Morse ForPairs(IEnumerable<(string A, string B, Parameters P)> pairs, bool shifted = false)
    {
        var (z, t) = PairTable(pairs);
        return new Morse(z, t, shifted);
    }

    public override string Name => "Morse";

    protected override double Phi(int pair, double r, out double dPhi)
    {
        var p = table[pair];
        double e1 = Math.Exp(-p.Alpha * (r - p.R0));
        dPhi = 2 * p.D0 * p.Alpha * (e1 - e1 * e1);
        return p.D0 * (e1 * e1 - 2 * e1);
    }
}

/// <summary>Buckingham φ = A e^(−r/ρ) − C/r⁶ cut at r_c, not shifted by default (LAMMPS <c>buck</c>).</summary>
public sealed class Buckingham : PairPotential
{
    public readonly record struct Parameters(double A, double Rho, double C, double Cutoff);

    private readonly Parameters[] table;

    /// <summary>One set of parameters for every element.</summary>
    public Buckingham(double a, double rho, double c, double cutoff, bool shifted = false)
        : this([], [new Parameters(a, rho, c, cutoff)], shifted) { }

    private Buckingham(int[] elements, Parameters[] table, bool shifted)
        : base(elements, table.Select(t => t.Cutoff).ToArray(), shifted)
    {
        this.table = table;
        SetShifts();
    }

    /// <summary>Parameters per element pair; every pair must be given.</summary>
    public static Buckingham ForPairs(IEnumerable<(string A, string B, Parameters P)> pairs, bool shifted = false)
    {
        var (z, t) = PairTable(pairs);
        return new Buckingham(z, t, shifted);
    }

    public override string Name => "Buckingham";

    protected override double Phi(int pair, double r, out double dPhi)
    {
        var p = table[pair];
        double e = p.A * Math.Exp(-r / p.Rho);
        double r2 = r * r;
        double r6 = r2 * r2 * r2;
        dPhi = -e / p.Rho + 6 * p.C / (r6 * r);
        return e - p.C / r6;
    }
}
