using System.Globalization;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Calculators;

/// <summary>
/// Embedded-atom method from a LAMMPS setfl file (<c>pair_style eam/alloy</c>):
/// E_i = F_a(ρ_i) + ½ Σ_j φ_ab(r_ij), ρ_i = Σ_j ρ_b(r_ij). The tabulated F, ρ and r·φ are
/// interpolated with LAMMPS's cubic splines (PairEAM::interpolate, same coefficients and lookup), so
/// energies and forces agree with LAMMPS to round-off; F is continued linearly above ρ_max as in LAMMPS.
/// </summary>
public sealed class Eam : ClassicalPotential
{
    private readonly int nrho, nr;
    private readonly double rdrho, rdr, rhomax, cut;
    private readonly double[][] frho, rhor, z2r; // splines, 7 coefficients per knot, knots 1..n (LAMMPS's layout)
    private readonly string name;

    private Eam(string[] elements, int nrho, double drho, int nr, double dr, double cut, double[][] f, double[][] rho, double[][] z2, string name)
        : base(Numbers(elements))
    {
        this.nrho = nrho; this.nr = nr; this.cut = cut; this.name = name;
        rdrho = 1.0 / drho; rdr = 1.0 / dr;
        rhomax = (nrho - 1) * drho;
        frho = f.Select(a => Spline(a, drho)).ToArray();
        rhor = rho.Select(a => Spline(a, dr)).ToArray();
        z2r = z2.Select(a => Spline(a, dr)).ToArray();
    }

    public override string Name => name;
    public override double Cutoff => cut;

    /// <summary>Reads a setfl file; <paramref name="elements"/> picks and orders species (default: all in the file).</summary>
    public static Eam FromSetfl(string path, IReadOnlyList<string>? elements = null)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length < 6) throw new MlipException($"{path}: too short for a setfl file");
        var head = lines[3].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        int ne = int.Parse(head[0], CultureInfo.InvariantCulture);
        var fileElements = head.Skip(1).Take(ne).ToArray();
        var tokens = new List<string>();
        for (int l = 4; l < lines.Length; l++) tokens.AddRange(lines[l].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        int pos = 0;
        double Next() => double.Parse(tokens[pos++], NumberStyles.Float, CultureInfo.InvariantCulture);
        int nrho = (int)Next(); double drho = Next(); int nr = (int)Next(); double dr = Next(); double cut = Next();
        var f = new double[ne][]; var rho = new double[ne][];
        for (int e = 0; e < ne; e++)
        {
            pos += 2; // atomic number, mass
            pos += 2; // lattice constant, lattice type
            f[e] = new double[nrho + 1]; rho[e] = new double[nr + 1];
            for (int m = 1; m <= nrho; m++) f[e][m] = Next();
            for (int m = 1; m <= nr; m++) rho[e][m] = Next();
        }
        var z2 = new double[ne, ne][];
        for (int a = 0; a < ne; a++)
            for (int b = 0; b <= a; b++)
            {
                var t = new double[nr + 1];
                for (int m = 1; m <= nr; m++) t[m] = Next();
                z2[a, b] = z2[b, a] = t;
            }
        var pick = elements?.ToArray() ?? fileElements;
        var idx = pick.Select(e => Array.IndexOf(fileElements, e) is int k && k >= 0 ? k : throw new MlipException($"{path} has no element {e}")).ToArray();
        int n = pick.Length;
        var z2picked = new double[n * n][];
        for (int a = 0; a < n; a++) for (int b = 0; b < n; b++) z2picked[a * n + b] = z2[idx[a], idx[b]];
        return new Eam(pick, nrho, drho, nr, dr, cut, idx.Select(k => f[k]).ToArray(), idx.Select(k => rho[k]).ToArray(), z2picked,
            $"EAM ({Path.GetFileName(path)})");
    }

    /// <summary>LAMMPS's PairEAM::interpolate: values f[1..n] on a grid of spacing delta → 7 coefficients per knot.</summary>
    private static double[] Spline(double[] f, double delta)
    {
        int n = f.Length - 1;
        var s = new double[(n + 1) * 7];
        ref double S(int m, int c) => ref s[m * 7 + c];
        for (int m = 1; m <= n; m++) S(m, 6) = f[m];
        S(1, 5) = S(2, 6) - S(1, 6);
        S(2, 5) = 0.5 * (S(3, 6) - S(1, 6));
        S(n - 1, 5) = 0.5 * (S(n, 6) - S(n - 2, 6));
        S(n, 5) = S(n, 6) - S(n - 1, 6);
        for (int m = 3; m <= n - 2; m++)
            S(m, 5) = ((S(m - 2, 6) - S(m + 2, 6)) + 8.0 * (S(m + 1, 6) - S(m - 1, 6))) / 12.0;
        for (int m = 1; m <= n - 1; m++)
        {
            S(m, 4) = 3.0 * (S(m + 1, 6) - S(m, 6)) - 2.0 * S(m, 5) - S(m + 1, 5);
            S(m, 3) = S(m, 5) + S(m + 1, 5) - 2.0 * (S(m + 1, 6) - S(m, 6));
        }
        S(n, 4) = 0.0;
        S(n, 3) = 0.0;
        for (int m = 1; m <= n; m++)
        {
            S(m, 2) = S(m, 5) / delta;
            S(m, 1) = 2.0 * S(m, 4) / delta;
            S(m, 0) = 3.0 * S(m, 3) / delta;
        }
        return s;
    }

    private int RadialKnot(double r, out double p)
    {
        p = r * rdr + 1.0;
        int m = (int)p;
        m = Math.Min(m, nr - 1);
        p -= m;
        p = Math.Min(p, 1.0);
        return m * 7;
    }

    /// <summary>F'(ρ_i) and F(ρ_i) of every atom (the first AtomCount entries; kept for the next call, see <see cref="Release"/>).</summary>
    private sealed record Embedding(double[] Fp, double[] F);

    private readonly System.Collections.Concurrent.ConcurrentStack<Embedding> _kept = new();

    /// <summary>The density ρ_i of every atom (summed over its own pairs, parallel over atoms), then F(ρ_i) and F'(ρ_i).</summary>
    protected override object? Prepare(NeighborList nl, int[] types)
    {
        int atoms = nl.AtomCount;
        double cutsq = cut * cut;
        var kept = _kept.TryPop(out var spare) && spare.Fp.Length >= atoms ? spare : new Embedding(new double[atoms], new double[atoms]);
        var fp = kept.Fp;
        var f = kept.F;
        MlipParallel.ForChunks(atoms, 256, () => 0, (first, end, _) =>
        {
            var neighbors = nl.Neighbors; var distances = nl.Distances; var offsets = nl.Offsets;
            for (int i = first; i < end; i++)
            {
                double rho = 0;
                for (int q = offsets[i]; q < offsets[i + 1]; q++)
                {
                    double r = distances[q];
                    if (r * r >= cutsq) continue;
                    int c = RadialKnot(r, out double p0);
                    var sr = rhor[types[neighbors[q]]];
                    rho += ((sr[c + 3] * p0 + sr[c + 4]) * p0 + sr[c + 5]) * p0 + sr[c + 6];
                }
                double p = rho * rdrho + 1.0;
                int m = (int)p;
                m = Math.Max(1, Math.Min(m, nrho - 1));
                p -= m;
                p = Math.Min(p, 1.0);
                var s = frho[types[i]]; int k = m * 7;
                fp[i] = (s[k] * p + s[k + 1]) * p + s[k + 2];
                double phi = ((s[k + 3] * p + s[k + 4]) * p + s[k + 5]) * p + s[k + 6];
                if (rho > rhomax) phi += fp[i] * (rho - rhomax);
                f[i] = phi;
            }
        });
        return kept;
    }

    protected override void Release(object? prepared)
    {
        if (prepared is Embedding e) _kept.Push(e);
    }

    protected override void Compute(NeighborList nl, int[] types, PairSum sum, int first, int end, object? prepared)
    {
        int n = SpeciesCount;
        var centers = nl.Centers; var neighbors = nl.Neighbors; var vectors = nl.Vectors; var distances = nl.Distances;
        double cutsq = cut * cut;
        var (fp, embedding) = (Embedding)prepared!;
        var reverse = nl.Reverse;
        var atomEnergies = sum.AtomEnergies;
        for (int i = first; i < end; i++) atomEnergies[i] += embedding[i];
        for (int q = nl.Offsets[first]; q < nl.Offsets[end]; q++)
        {
            if (q > reverse[q]) continue; // each pair once, from the end with the lower pair index (a half list)
            double r = distances[q];
            if (r * r >= cutsq) continue;
            int i = centers[q], j = neighbors[q];
            int c = RadialKnot(r, out double p);
            int ti = types[i], tj = types[j];
            var sj = rhor[tj];
            double rhojp = (sj[c] * p + sj[c + 1]) * p + sj[c + 2];
            double rhoip = rhojp;
            if (ti != tj) { var si = rhor[ti]; rhoip = (si[c] * p + si[c + 1]) * p + si[c + 2]; }
            var sz = z2r[types[i] * n + types[j]];
            double z2p = (sz[c] * p + sz[c + 1]) * p + sz[c + 2];
            double z2 = ((sz[c + 3] * p + sz[c + 4]) * p + sz[c + 5]) * p + sz[c + 6];
            double recip = 1.0 / r;
            double phi = z2 * recip;
            double phip = z2p * recip - phi * recip;
            sum.AddPairEnergy(q, phi);
            // F_i's dependence on ρ_j(r), F_j's on ρ_i(r), and the pair term
            double dEdr = fp[i] * rhojp + fp[j] * rhoip + phip;
            sum.Add(q, (dEdr * recip) * vectors[q]);
        }
    }
}
