using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Calculators;

/// <summary>
/// Layout of the bond-order parameters of one host element in an n-element PINN (docs/pinn.md):
/// A^1..A^n, α^1..α^n, B^1..B^n, β^1..β^n, h^{11}..h^{nn}, σ, ζ^{11}..ζ^{nn}, λ^{11}..λ^{nn}
/// (4n + 1 + 3n² numbers), the order of LAMMPS's <c>pair_style pinn</c>.
/// </summary>
public readonly record struct PinnBopLayout(int Elements)
{
    public int SetSize => 4 * Elements + 1 + 3 * Elements * Elements;
    public int A(int b) => b;
    public int Alpha(int b) => Elements + b;
    public int B(int b) => 2 * Elements + b;
    public int Beta(int b) => 3 * Elements + b;
    public int H(int b, int c) => 4 * Elements + b * Elements + c;
    public int Sigma => 4 * Elements + Elements * Elements;
    public int Zeta(int b, int c) => 4 * Elements + Elements * Elements + 1 + b * Elements + c;
    public int Lambda(int b, int c) => 4 * Elements + 2 * Elements * Elements + 1 + b * Elements + c;

    /// <summary>Readable names of the set's entries, e.g. "A[Si]", "h[Si,Si]".</summary>
    public string[] Names(IReadOnlyList<string> symbols)
    {
        var names = new string[SetSize];
        int n = Elements;
        for (int b = 0; b < n; b++)
        {
            names[A(b)] = $"A[{symbols[b]}]"; names[Alpha(b)] = $"alpha[{symbols[b]}]";
            names[B(b)] = $"B[{symbols[b]}]"; names[Beta(b)] = $"beta[{symbols[b]}]";
            for (int c = 0; c < n; c++)
            {
                names[H(b, c)] = $"h[{symbols[b]},{symbols[c]}]";
                names[Zeta(b, c)] = $"zeta[{symbols[b]},{symbols[c]}]";
                names[Lambda(b, c)] = $"lambda[{symbols[b]},{symbols[c]}]";
            }
        }
        names[Sigma] = "sigma";
        return names;
    }
}

/// <summary>
/// The bond-order energy of one host atom of a PINN (docs/pinn.md, Eqs. 1-5) from its pair vectors,
/// with ∂E_i/∂r_ij for every pair vector and ∂E_i/∂p for its parameter set p, by reverse accumulation.
/// One instance holds the scratch arrays (reuse it per thread; no allocation per neighbour).
/// </summary>
public sealed class PinnBopKernel
{
    private double[] fc = [], dfc = [], s = [], phi = [], z = [], gS = [], gPhi = [], eR = [], eA = [];

    public PinnBopKernel(int elements, double cutoff, double cutoffRange)
    {
        if (!(cutoff > 0) || !(cutoffRange > 0)) throw new ArgumentOutOfRangeException(nameof(cutoff), "R_c and d_c must be positive");
        Layout = new PinnBopLayout(elements);
        Cutoff = cutoff;
        CutoffRange = cutoffRange;
    }

    public PinnBopLayout Layout { get; }
    public double Cutoff { get; }
    public double CutoffRange { get; }

    /// <summary>f_c(r) = x⁴/(1 + x⁴), x = (r − rc)/dc for r &lt; rc, else 0; and its derivative.</summary>
    public static double Fc(double r, double rc, double dc, out double d)
    {
        if (r >= rc) { d = 0; return 0; }
        double x = (r - rc) / dc;
        double x2 = x * x, x4 = x2 * x2, y = 1 + x4;
        d = 4 * x2 * x / (y * y) / dc;
        return x4 / y;
    }

    private void Ensure(int m)
    {
        if (fc.Length >= m) return;
        int size = Math.Max(m, 2 * fc.Length);
        fc = new double[size]; dfc = new double[size]; s = new double[size]; phi = new double[size]; z = new double[size];
        gS = new double[size]; gPhi = new double[size]; eR = new double[size]; eA = new double[size];
    }

    /// <summary>
    /// E_i for host parameters <paramref name="p"/> (one set, <see cref="PinnBopLayout.SetSize"/>),
    /// neighbours given by pair vectors r_ij, distances and species (0-based). When
    /// <paramref name="gradVectors"/> is not empty it receives ∂E_i/∂r_ij (overwritten); when
    /// <paramref name="gradParameters"/> is not empty it receives ∂E_i/∂p (overwritten).
    /// Neighbours may reach beyond 1.5 R_c; those beyond cannot screen and are ignored.
    /// </summary>
    public double Energy(ReadOnlySpan<double> p, ReadOnlySpan<Vec3> v, ReadOnlySpan<double> r, ReadOnlySpan<int> types,
        Span<Vec3> gradVectors, Span<double> gradParameters)
    {
        int m = v.Length;
        Ensure(m);
        var L = Layout;
        int n = L.Elements;
        double rc = Cutoff, dc = CutoffRange;
        bool wantV = !gradVectors.IsEmpty, wantP = !gradParameters.IsEmpty;
        if (wantV) gradVectors.Clear();
        if (wantP) gradParameters.Clear();

        for (int a = 0; a < m; a++) fc[a] = Fc(r[a], rc, dc, out dfc[a]);

        // screening S_a = Π_b s_ab for bonds inside R_c
        for (int a = 0; a < m; a++)
        {
            s[a] = 1;
            if (fc[a] == 0) continue;
            double prod = 1;
            int ta = types[a];
            for (int b = 0; b < m; b++)
            {
                if (b == a) continue;
                double x = r[b] + (v[b] - v[a]).Norm - r[a];
                if (x >= rc) continue;
                double f = Fc(x, rc, dc, out _);
                prod *= 1 - f * Math.Exp(-p[L.Lambda(ta, types[b])] * x);
            }
            s[a] = prod;
        }

        // coordination Z_a, bond order Φ_a, ψ
        double psi = 0, e = 0;
        for (int a = 0; a < m; a++)
        {
            phi[a] = 0; z[a] = 0;
            if (fc[a] == 0) continue;
            int ta = types[a];
            Vec3 ua = v[a] / r[a];
            double sum = 0;
            for (int b = 0; b < m; b++)
            {
                if (b == a || fc[b] == 0) continue;
                int tb = types[b];
                double cos = Vec3.Dot(ua, v[b]) / r[b];
                double dh = cos - p[L.H(ta, tb)];
                sum += p[L.Zeta(ta, tb)] * s[b] * fc[b] * dh * dh;
            }
            z[a] = sum;
            phi[a] = 1 / Math.Sqrt(Math.Max(1 + sum, 1e-300));
            psi += s[a] * phi[a] * fc[a];
            eR[a] = Math.Exp(p[L.A(ta)] - p[L.Alpha(ta)] * r[a]);
            eA[a] = Math.Exp(p[L.B(ta)] - p[L.Beta(ta)] * r[a]);
            e += 0.5 * (eR[a] - s[a] * phi[a] * eA[a]) * fc[a];
        }
        double sqrtPsi = psi > 0 ? Math.Sqrt(psi) : 0;
        e -= p[L.Sigma] * sqrtPsi;
        if (!wantV && !wantP) return e;

        // reverse pass
        double gPsi = psi > 0 ? -p[L.Sigma] / (2 * sqrtPsi) : 0;
        if (wantP) gradParameters[L.Sigma] = -sqrtPsi;
        for (int a = 0; a < m; a++)
        {
            gS[a] = 0; gPhi[a] = 0;
            if (fc[a] == 0) continue;
            int ta = types[a];
            double cQ = -0.5 * eA[a] * fc[a] + gPsi * fc[a]; // ∂E/∂(S_a Φ_a)
            gS[a] = cQ * phi[a];
            gPhi[a] = cQ * s[a];
            if (wantV)
            {
                double alpha = p[L.Alpha(ta)], beta = p[L.Beta(ta)];
                double dr = 0.5 * eR[a] * (dfc[a] - alpha * fc[a])
                          - 0.5 * s[a] * phi[a] * eA[a] * (dfc[a] - beta * fc[a])
                          + gPsi * s[a] * phi[a] * dfc[a];
                gradVectors[a] += (dr / r[a]) * v[a];
            }
            if (wantP)
            {
                gradParameters[L.A(ta)] += 0.5 * eR[a] * fc[a];
                gradParameters[L.Alpha(ta)] -= r[a] * 0.5 * eR[a] * fc[a];
                gradParameters[L.B(ta)] -= 0.5 * s[a] * phi[a] * eA[a] * fc[a];
                gradParameters[L.Beta(ta)] += r[a] * 0.5 * s[a] * phi[a] * eA[a] * fc[a];
            }
        }

        // through Z_a = Σ_b ζ S_b f_c(r_b) (cos − h)²
        for (int a = 0; a < m; a++)
        {
            if (fc[a] == 0 || gPhi[a] == 0 || 1 + z[a] <= 1e-300) continue;
            double gZ = gPhi[a] * -0.5 * phi[a] * phi[a] * phi[a];
            int ta = types[a];
            Vec3 ua = v[a] / r[a];
            for (int b = 0; b < m; b++)
            {
                if (b == a || fc[b] == 0) continue;
                int tb = types[b];
                Vec3 ub = v[b] / r[b];
                double cos = Vec3.Dot(ua, ub);
                double h = p[L.H(ta, tb)], zeta = p[L.Zeta(ta, tb)];
                double dh = cos - h, dh2 = dh * dh;
                gS[b] += gZ * zeta * fc[b] * dh2;
                if (wantP)
                {
                    gradParameters[L.Zeta(ta, tb)] += gZ * s[b] * fc[b] * dh2;
                    gradParameters[L.H(ta, tb)] -= gZ * zeta * s[b] * fc[b] * 2 * dh;
                }
                if (wantV)
                {
                    double gCos = gZ * zeta * s[b] * fc[b] * 2 * dh;
                    double gR = gZ * zeta * s[b] * dfc[b] * dh2;
                    gradVectors[a] += (gCos / r[a]) * (ub - cos * ua);
                    gradVectors[b] += (gCos / r[b]) * (ua - cos * ub) + gR * ub;
                }
            }
        }

        // through S_a = Π_b s_ab, s_ab = 1 − f_c(x) e^(−λ x), x = r_b + |r_b − r_a| − r_a
        for (int a = 0; a < m; a++)
        {
            if (fc[a] == 0 || gS[a] == 0) continue;
            int ta = types[a];
            Vec3 ua = v[a] / r[a];
            for (int b = 0; b < m; b++)
            {
                if (b == a) continue;
                Vec3 vab = v[b] - v[a];
                double rab = vab.Norm;
                double x = r[b] + rab - r[a];
                if (x >= rc) continue;
                int lam = L.Lambda(ta, types[b]);
                double f = Fc(x, rc, dc, out double df);
                double ex = Math.Exp(-p[lam] * x);
                double sab = 1 - f * ex;
                double others = Math.Abs(sab) > 1e-12 ? s[a] / sab : ProductWithout(p, v, r, types, a, b);
                double g = gS[a] * others; // ∂E/∂s_ab
                if (wantP) gradParameters[lam] += g * f * x * ex;
                if (wantV)
                {
                    double gx = g * -(df - p[lam] * f) * ex; // ∂E/∂x
                    Vec3 uab = vab / rab;
                    gradVectors[b] += gx * (v[b] / r[b] + uab);
                    gradVectors[a] -= gx * (uab + ua);
                }
            }
        }
        return e;
    }

    private double ProductWithout(ReadOnlySpan<double> p, ReadOnlySpan<Vec3> v, ReadOnlySpan<double> r, ReadOnlySpan<int> types, int a, int skip)
    {
        double prod = 1;
        for (int b = 0; b < v.Length; b++)
        {
            if (b == a || b == skip) continue;
            double x = r[b] + (v[b] - v[a]).Norm - r[a];
            if (x >= Cutoff) continue;
            prod *= 1 - Fc(x, Cutoff, CutoffRange, out _) * Math.Exp(-p[Layout.Lambda(types[a], types[b])] * x);
        }
        return prod;
    }
}

/// <summary>
/// The bond-order potential of the PINN papers as a classical potential with fixed parameters (the
/// base set p0 of each element): docs/pinn.md. Its neighbour list reaches 1.5 R_c because atoms up to
/// there screen bonds inside R_c.
/// </summary>
public sealed class PinnBop : ClassicalPotential
{
    private readonly double[][] sets;
    [ThreadStatic] private static PinnBopKernel? cached;

    /// <param name="elements">Atomic numbers, in the order of the parameter tables.</param>
    /// <param name="cutoff">R_c of the pair terms (Å).</param>
    /// <param name="cutoffRange">d_c of the cutoff function (Å).</param>
    /// <param name="parameters">One set of <see cref="PinnBopLayout.SetSize"/> numbers per element.</param>
    public PinnBop(IReadOnlyList<int> elements, double cutoff, double cutoffRange, IReadOnlyList<double[]> parameters) : base(elements)
    {
        var layout = new PinnBopLayout(elements.Count);
        if (parameters.Count != elements.Count || parameters.Any(q => q.Length != layout.SetSize))
            throw new ArgumentException($"one parameter set of {layout.SetSize} numbers per element");
        if (!(cutoff > 0) || !(cutoffRange > 0)) throw new ArgumentOutOfRangeException(nameof(cutoff), "R_c and d_c must be positive");
        PairCutoff = cutoff;
        CutoffRange = cutoffRange;
        sets = parameters.Select(q => q.ToArray()).ToArray();
    }

    /// <summary>R_c of the pair terms (Å); the neighbour list reaches 1.5 R_c.</summary>
    public double PairCutoff { get; }
    public double CutoffRange { get; }
    public IReadOnlyList<double[]> Parameters => sets;

    public override string Name => $"PINN bond-order potential ({string.Join(" ", Elements.Select(Structures.Elements.Symbol))}, R_c = {PairCutoff} Å)";
    public override double Cutoff => 1.5 * PairCutoff;

    /// <summary>An illustrative silicon set (R_c = 4.0 Å, d_c = 1.5 Å), roughly diamond-like: for tests and as a starting point of fits.</summary>
    public static PinnBop SiliconExample() =>
        new([14], 4.0, 1.5, [[6.8, 2.6, 4.2, 1.6, -0.33, 1.2, 0.6, 1.8]]);

    /// <summary>The cached kernel is shared: one block.</summary>
    protected override bool ParallelOverCentres => false;

    protected override void Compute(NeighborList nl, int[] types, PairSum sum, int first, int end, object? prepared)
    {
        var kernel = cached is { } k && k.Layout.Elements == SpeciesCount && k.Cutoff == PairCutoff && k.CutoffRange == CutoffRange
            ? k : cached = new PinnBopKernel(SpeciesCount, PairCutoff, CutoffRange);
        var neighbors = nl.Neighbors;
        var grad = new Vec3[16];
        var nt = new int[16];
        for (int i = first; i < end; i++)
        {
            int start = nl.Offsets[i], m = nl.Offsets[i + 1] - start;
            if (grad.Length < m) { grad = new Vec3[2 * m]; nt = new int[2 * m]; }
            for (int a = 0; a < m; a++) nt[a] = types[neighbors[start + a]];
            var vi = nl.VectorsOf(i);
            sum.AtomEnergies[i] += kernel.Energy(sets[types[i]], vi, nl.DistancesOf(i), nt.AsSpan(0, m), grad.AsSpan(0, m), []);
            for (int a = 0; a < m; a++) sum.Add(start + a, grad[a]);
        }
    }
}
