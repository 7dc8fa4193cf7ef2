using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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

    /// <summary>Works on the rows of the list (<see cref="ClassicalPotential.SumsOwnRows"/>): the Verlet list's wide rows in MD, no per-step filter.</summary>
    protected override bool SumsOwnRows => true;

    /// <summary>
    /// Three parallel passes over blocks of atoms, each atom or pair written by one block only (the same bits on any number
    /// of threads): the density ρ_i of every atom over its own row and F(ρ_i), F'(ρ_i); the pair terms of each pair once,
    /// from the end with the lower pair index (a half list: ∂E/∂r_ij = [F'(ρ_i) ρ_j'(r) + F'(ρ_j) ρ_i'(r) + φ'(r)] r̂_ij and
    /// φ(r) stored at that pair, the virial per block); then each atom's force and energy F(ρ_i) + ½ Σ_j φ(r_ij) gathered
    /// from its row. On the wide rows of a Verlet list (cut-off + skin) the distance is tested here, as LAMMPS's pair styles
    /// do with their skin, so an MD step does not filter and copy the list.
    /// </summary>
    protected override bool SumRows(PairRows rows, int[] types, ForceTarget forces, double[] atomEnergies, double[] perAtom, double[] blockTotals, PairSum pairs, VerletList? test)
    {
        int atoms = rows.AtomCount;
        var fp = perAtom;
        int moved = 0;
        MlipParallel.ForChunks(atoms, BlockAtoms, static () => 0, (first, end, _) =>
        {
            // the displacement test of this block's atoms (reused wide rows): no serial O(atoms) pass before the densities
            if (test is not null && test.MovedPastHalfSkin(rows.Positions, first, end)) { Volatile.Write(ref moved, 1); return; }
            Densities(rows, types, fp, atomEnergies, first, end);
        });
        if (Volatile.Read(ref moved) != 0) return false;
        _ = rows.List.Reverse; // formed once per list, before the parallel passes read it
        MlipParallel.ForChunks(atoms, BlockAtoms, static () => 0, (first, end, _) =>
            PairTerms(rows, types, fp, pairs, blockTotals.AsSpan(10 * (first / BlockAtoms), 10), first, end));
        MlipParallel.ForChunks(atoms, BlockAtoms, static () => 0, (first, end, _) =>
            Gather(rows, pairs, forces.Span, atomEnergies, blockTotals.AsSpan(10 * (first / BlockAtoms), 10), first, end));
        return true;
    }

    /// <summary>
    /// The pair terms of each pair once, from the end with the lower pair index (a half list on the full rows): ∂E/∂r_ij and φ
    /// stored at that pair (0 beyond the cut-off), the block's virial (each pair once) into <paramref name="total"/>[1..9].
    /// </summary>
    private void PairTerms(PairRows rows, int[] types, double[] fp, PairSum pairs, Span<double> total, int first, int end)
    {
        int n = SpeciesCount;
        var offsets = rows.List.Offsets; var neighbors = rows.List.Neighbors; var reverse = rows.List.Reverse;
        var stored = rows.StoredVectors; var positions = rows.Positions; var translations = rows.Translations;
        var g = pairs.Gradients; var pe = pairs.PairEnergySlots;
        bool wide = rows.Wide;
        double cutsq = cut * cut;
        double xx = 0, yy = 0, zz = 0, yz = 0, zy = 0, xz = 0, zx = 0, xy = 0, yx = 0;
        for (int i = first; i < end; i++)
        {
            Vec3 ri = wide ? positions[i] : default;
            int ti = types[i];
            var si = rhor[ti];
            double fpi = fp[i];
            for (int q = offsets[i]; q < offsets[i + 1]; q++)
            {
                if (q > reverse[q]) continue;
                int j = neighbors[q];
                Vec3 v;
                if (wide) { Vec3 rj = positions[j], t = translations[q]; v = new Vec3(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z); }
                else v = stored[q];
                double d2 = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
                if (d2 >= cutsq) { g[q] = default; pe[q] = 0; continue; }
                double r = Math.Sqrt(d2);
                int c = RadialKnot(r, out double p);
                int tj = types[j];
                double rhojp = Slope(ref Knot(rhor[tj], c), p);
                double rhoip = ti == tj ? rhojp : Slope(ref Knot(si, c), p);
                ref double sz = ref Knot(z2r[ti * n + tj], c);
                double z2p = Slope(ref sz, p);
                double z2 = Value(ref sz, p);
                double recip = 1.0 / r;
                double phi = z2 * recip;
                double phip = z2p * recip - phi * recip;
                // F_i's dependence on ρ_j(r), F_j's on ρ_i(r), and the pair term
                double s = (fpi * rhojp + fp[j] * rhoip + phip) * recip;
                double gx = s * v.X, gy = s * v.Y, gz = s * v.Z;
                g[q] = new Vec3(gx, gy, gz);
                pe[q] = phi;
                xx += gx * v.X; yy += gy * v.Y; zz += gz * v.Z;
                yz += gy * v.Z; zy += gz * v.Y; xz += gx * v.Z; zx += gz * v.X; xy += gx * v.Y; yx += gy * v.X;
            }
        }
        total[1] = xx; total[2] = yy; total[3] = zz; total[4] = yz; total[5] = zy; total[6] = xz; total[7] = zx; total[8] = xy; total[9] = yx;
    }

    /// <summary>Force and energy of each atom from the stored pair terms of its row (its own for the lower end, the reverse pair's, negated, for the upper); the block's energy into <paramref name="total"/>[0].</summary>
    private static void Gather(PairRows rows, PairSum pairs, Span<Vec3> forces, double[] atomEnergies, Span<double> total, int first, int end)
    {
        var offsets = rows.List.Offsets; var reverse = rows.List.Reverse;
        var g = pairs.Gradients; var pe = pairs.PairEnergySlots;
        double e = 0;
        for (int i = first; i < end; i++)
        {
            double fx = 0, fy = 0, fz = 0, pair = 0;
            for (int q = offsets[i]; q < offsets[i + 1]; q++)
            {
                int o = reverse[q];
                if (q < o) { Vec3 gq = g[q]; fx += gq.X; fy += gq.Y; fz += gq.Z; pair += pe[q]; }
                else { Vec3 go = g[o]; fx -= go.X; fy -= go.Y; fz -= go.Z; pair += pe[o]; }
            }
            double ei = atomEnergies[i] + 0.5 * pair;
            atomEnergies[i] = ei;
            e += ei;
            forces[i] = new Vec3(fx, fy, fz);
        }
        total[0] = e;
    }

    /// <summary>ρ_i over the row of each atom first..end − 1, then F'(ρ_i) into <paramref name="fp"/> and F(ρ_i) into <paramref name="embedding"/>.</summary>
    private void Densities(PairRows rows, int[] types, double[] fp, double[] embedding, int first, int end)
    {
        var offsets = rows.List.Offsets; var neighbors = rows.List.Neighbors;
        var stored = rows.StoredVectors; var positions = rows.Positions; var translations = rows.Translations;
        bool wide = rows.Wide;
        double cutsq = cut * cut;
        for (int i = first; i < end; i++)
        {
            double rho = 0;
            Vec3 ri = wide ? positions[i] : default;
            for (int q = offsets[i]; q < offsets[i + 1]; q++)
            {
                int j = neighbors[q];
                Vec3 v;
                if (wide) { Vec3 rj = positions[j], t = translations[q]; v = new Vec3(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z); }
                else v = stored[q];
                double d2 = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
                if (d2 >= cutsq) continue;
                int c = RadialKnot(Math.Sqrt(d2), out double p0);
                rho += Value(ref Knot(rhor[types[j]], c), p0);
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
            embedding[i] = phi;
        }
    }

    /// <summary>The 7 coefficients of knot offset <paramref name="c"/> (a multiple of 7 from <see cref="RadialKnot"/>, within the table) of a spline table, without bounds checks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref double Knot(double[] table, int c) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(table), c);

    /// <summary>The spline's value at fraction <paramref name="p"/> of its knot (LAMMPS's coefficients 3-6).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Value(ref double s, double p) => ((Unsafe.Add(ref s, 3) * p + Unsafe.Add(ref s, 4)) * p + Unsafe.Add(ref s, 5)) * p + Unsafe.Add(ref s, 6);

    /// <summary>The spline's derivative at fraction <paramref name="p"/> of its knot (coefficients 0-2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Slope(ref double s, double p) => (s * p + Unsafe.Add(ref s, 1)) * p + Unsafe.Add(ref s, 2);
}
