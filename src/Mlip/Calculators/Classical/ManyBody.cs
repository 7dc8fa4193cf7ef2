using System.Globalization;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Calculators;

/// <summary>Reads LAMMPS three-element parameter files (.sw, .tersoff): '#' comments, entries of three element names and a fixed number of numbers.</summary>
internal static class TripletFile
{
    public static List<(string[] Names, double[] Values)> Read(string text, int numbers, string what)
    {
        var tokens = new List<string>();
        foreach (string raw in text.Split('\n'))
        {
            int hash = raw.IndexOf('#');
            string line = hash >= 0 ? raw[..hash] : raw;
            tokens.AddRange(line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        }
        int size = 3 + numbers;
        if (tokens.Count % size != 0) throw new MlipException($"{what}: {tokens.Count} words, not a whole number of entries of {size}");
        var entries = new List<(string[], double[])>();
        for (int k = 0; k < tokens.Count; k += size)
        {
            var values = new double[numbers];
            for (int v = 0; v < numbers; v++)
                if (!double.TryParse(tokens[k + 3 + v], NumberStyles.Float, CultureInfo.InvariantCulture, out values[v]))
                    throw new MlipException($"{what}: '{tokens[k + 3 + v]}' in the entry {tokens[k]} {tokens[k + 1]} {tokens[k + 2]} is not a number");
            entries.Add(([tokens[k], tokens[k + 1], tokens[k + 2]], values));
        }
        return entries;
    }

    /// <summary>A table [i, j, k] over <paramref name="elements"/> (default: every element of the file, in order of appearance).</summary>
    public static (string[] Elements, T[] Table) Table<T>(List<(string[] Names, double[] Values)> entries, IReadOnlyList<string>? elements, Func<double[], T> make, string what)
    {
        var names = elements?.ToArray() ?? entries.SelectMany(e => e.Names).Distinct().ToArray();
        int n = names.Length;
        var table = new T[n * n * n];
        var set = new bool[n * n * n];
        foreach (var (e, v) in entries)
        {
            int a = Array.IndexOf(names, e[0]), b = Array.IndexOf(names, e[1]), c = Array.IndexOf(names, e[2]);
            if (a < 0 || b < 0 || c < 0) continue;
            int idx = (a * n + b) * n + c;
            if (set[idx]) throw new MlipException($"{what}: the entry {e[0]} {e[1]} {e[2]} is given twice");
            table[idx] = make(v); set[idx] = true;
        }
        for (int k = 0; k < set.Length; k++)
            if (!set[k]) throw new MlipException($"{what}: no entry for {names[k / (n * n)]} {names[k / n % n]} {names[k % n]}");
        return (names, table);
    }
}

/// <summary>
/// Stillinger–Weber potential in LAMMPS's form (<c>pair_style sw</c>): entries (i, j, k) with ε, σ, a,
/// λ, γ, cos θ₀, A, B, p, q, tol. E = Σ_{i&lt;j} φ₂(r_ij) + Σ_i Σ_{j&lt;k} φ₃, with
/// φ₂ = A ε (B (σ/r)^p − (σ/r)^q) exp(σ/(r − aσ)) from entry (i, j, j) and
/// φ₃ = λε (cos θ_jik − cos θ₀)² exp(γσ_ij/(r_ij − a_ijσ_ij) + γσ_ik/(r_ik − a_ikσ_ik)), λε and cos θ₀
/// from entry (i, j, k), the radial parts from (i, j, j) and (i, k, k).
/// </summary>
public sealed class StillingerWeber : ClassicalPotential
{
    private readonly record struct P(double Epsilon, double Sigma, double A, double Lambda, double Gamma, double CosTheta0, double BigA, double BigB, double Pp, double Q)
    {
        public double Cut => A * Sigma;
    }

    private readonly P[] table;
    private readonly double cutoff;
    private readonly string name;

    private StillingerWeber(string[] elements, P[] table, string name) : base(Numbers(elements))
    {
        this.table = table;
        this.name = name;
        cutoff = table.Max(t => t.Cut);
    }

    /// <summary>LAMMPS's Si.sw: Stillinger and Weber, Phys. Rev. B 31, 5262 (1985).</summary>
    public const string SiliconFile = """
        # Stillinger and Weber, Phys. Rev. B 31, 5262 (1985)
        # epsilon sigma a lambda gamma costheta0 A B p q tol
        Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333333333333 7.049556277 0.6022245584 4.0 0.0 0.0
        """;

    /// <summary>The original silicon parameters (as LAMMPS's Si.sw).</summary>
    public static StillingerWeber Silicon() => Parse(SiliconFile, null, "Stillinger-Weber Si");

    /// <summary>A LAMMPS .sw file; <paramref name="elements"/> picks and orders the species (default: all in the file).</summary>
    public static StillingerWeber FromFile(string path, IReadOnlyList<string>? elements = null) =>
        Parse(File.ReadAllText(path), elements, $"Stillinger-Weber ({Path.GetFileName(path)})", path);

    public static StillingerWeber Parse(string text, IReadOnlyList<string>? elements, string name, string what = "sw parameters")
    {
        var entries = TripletFile.Read(text, 11, what);
        var (el, t) = TripletFile.Table(entries, elements, v => new P(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]), what);
        return new StillingerWeber(el, t, name);
    }

    public override string Name => name;
    public override double Cutoff => cutoff;

    /// <summary>x^y, by multiplication for the small integer exponents of the usual parameter sets (Math.Pow is the cost otherwise).</summary>
    private static double Power(double x, double y) => y switch
    {
        0 => 1,
        1 => x,
        2 => x * x,
        3 => x * x * x,
        4 => (x * x) * (x * x),
        _ => Math.Pow(x, y),
    };

    /// <summary>What the three-body loop needs of one pair of the centre within its cutoff, formed once per pair.</summary>
    private struct Leg
    {
        public int Pair, Type;
        public double R, Exp, DExp; // |r_ij|, exp(γσ/(r − aσ)) and the derivative of its exponent by r
        public Vec3 U, G;           // r_ij/|r_ij|; the gradient summed over the triplets
    }

    /// <summary>Legs kept on the stack up to this many neighbours within the cutoff (a heap array beyond).</summary>
    private const int StackLegs = 64;

    /// <summary>Computes a block of centres from their rows (<see cref="ClassicalPotential.ComputesRows"/>): in MD, on the Verlet list's wide rows.</summary>
    protected override bool ComputesRows => true;

    protected override void ComputeRows(RowBlock block, int[] types, PairSum sum)
    {
        int n = SpeciesCount;
        var atomEnergies = sum.AtomEnergies;
        int widest = block.WidestRow;
        Span<RowPair> rowPairs = widest <= StackLegs ? stackalloc RowPair[StackLegs] : new RowPair[widest];
        Span<Leg> legs = widest <= StackLegs ? stackalloc Leg[StackLegs] : new Leg[widest];
        for (int i = block.First; i < block.End; i++)
        {
            int ti = types[i];
            int pairs = block.Row(i, rowPairs);
            int m = 0;
            for (int a = 0; a < pairs; a++)
            {
                ref readonly RowPair rp = ref rowPairs[a];
                int tj = types[rp.Neighbor];
                ref readonly P pij = ref table[(ti * n + tj) * n + tj];
                double rij = rp.Distance;
                if (rij >= pij.Cut) continue;
                Vec3 vij = rp.Vector;
                double rainv = 1.0 / (rij - pij.Cut);

                // two-body, once per pair (from the end with the lower pair index), half the energy to each atom
                if (rp.Lower)
                {
                    double s = pij.Sigma / rij;
                    double rp4 = Power(s, pij.Pp), rq = Power(s, pij.Q);
                    double ex = Math.Exp(pij.Sigma * rainv);
                    double ae = pij.BigA * pij.Epsilon;
                    double poly = pij.BigB * rp4 - rq;
                    double dpoly = (-pij.Pp * pij.BigB * rp4 + pij.Q * rq) / rij;
                    sum.AddPairEnergy(rp.Pair, ae * poly * ex);
                    double de2 = ae * ex * (dpoly - poly * pij.Sigma * rainv * rainv);
                    sum.Add(rp.Pair, (de2 / rij) * vij);
                }

                double gij = pij.Gamma * pij.Sigma * rainv;
                ref Leg leg = ref legs[m++];
                leg.Pair = rp.Pair; leg.Type = tj; leg.R = rij; leg.U = vij / rij;
                leg.Exp = Math.Exp(gij); leg.DExp = -gij * rainv; leg.G = default;
            }

            // three-body: every pair of legs (j, k), j before k
            double e3sum = 0;
            for (int a = 0; a < m; a++)
            {
                ref Leg lj = ref legs[a];
                Vec3 uij = lj.U;
                double rij = lj.R;
                int row = (ti * n + lj.Type) * n;
                Vec3 gj = default;
                for (int b = a + 1; b < m; b++)
                {
                    ref Leg lk = ref legs[b];
                    ref readonly P pijk = ref table[row + lk.Type];
                    Vec3 uik = lk.U;
                    double cos = Vec3.Dot(uij, uik);
                    double delta = cos - pijk.CosTheta0;
                    double le = pijk.Lambda * pijk.Epsilon;
                    double x = lj.Exp * lk.Exp;
                    double e3 = le * delta * delta * x;
                    e3sum += e3;
                    double dcos = 2 * le * delta * x; // ∂E/∂cos
                    // ∂cos/∂r_ij = (û_ik − cos û_ij)/r_ij
                    gj += (dcos / rij) * (uik - cos * uij) + (e3 * lj.DExp) * uij;
                    lk.G += (dcos / lk.R) * (uij - cos * uik) + (e3 * lk.DExp) * uik;
                }
                lj.G += gj;
            }
            atomEnergies[i] += e3sum;
            for (int a = 0; a < m; a++) sum.Add(legs[a].Pair, legs[a].G);
        }
    }
}
