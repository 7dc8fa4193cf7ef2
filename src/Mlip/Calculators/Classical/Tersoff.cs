using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Calculators;

/// <summary>
/// Tersoff potential in LAMMPS's form (<c>pair_style tersoff</c>): entries (i, j, k) with m, γ, λ₃,
/// c, d, cos θ₀ (h), n, β, λ₂, B, R, D, λ₁, A. E = ½ Σ_i Σ_j f_c(r_ij) [A e^(−λ₁ r) − b_ij B e^(−λ₂ r)],
/// b_ij = (1 + (β ζ_ij)ⁿ)^(−1/2n), ζ_ij = Σ_k f_c(r_ik) g(θ_ijk) exp((λ₃ (r_ij − r_ik))^m); the pair
/// terms and b_ij use entry (i, j, j), ζ's terms entry (i, j, k). b_ij has LAMMPS's asymptotic branches.
/// </summary>
public sealed class Tersoff : ClassicalPotential
{
    private readonly struct P
    {
        public readonly int M;
        public readonly double Gamma, Lam3, C, D, H, N, Beta, Lam2, B, R, Dc, Lam1, A;
        public readonly double C1, C2, C3, C4;
        public P(double[] v)
        {
            M = (int)Math.Round(v[0]); Gamma = v[1]; Lam3 = v[2]; C = v[3]; D = v[4]; H = v[5]; N = v[6]; Beta = v[7];
            Lam2 = v[8]; B = v[9]; R = v[10]; Dc = v[11]; Lam1 = v[12]; A = v[13];
            C1 = Math.Pow(2.0 * N * 1.0e-16, -1.0 / N);
            C2 = Math.Pow(2.0 * N * 1.0e-8, -1.0 / N);
            C3 = 1.0 / C2;
            C4 = 1.0 / C1;
        }
        public double Cut => R + Dc;
    }

    private readonly P[] table;
    private readonly double cutoff;
    private readonly string name;

    private Tersoff(string[] elements, P[] table, string name) : base(Numbers(elements))
    {
        this.table = table;
        this.name = name;
        cutoff = table.Max(t => t.Cut);
    }

    /// <summary>LAMMPS's Si.tersoff: Tersoff, Phys. Rev. B 38, 9902 (1988), Si(C).</summary>
    public const string SiliconFile = """
        # Tersoff, Phys. Rev. B 38, 9902 (1988): m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A
        Si Si Si 3.0 1.0 1.3258 4.8381 2.0417 0.0000 22.956 0.33675 1.3258 95.373 3.0 0.2 3.2394 3264.7
        """;

    /// <summary>Silicon (Tersoff 1988, as LAMMPS's Si.tersoff).</summary>
    public static Tersoff Silicon() => Parse(SiliconFile, null, "Tersoff Si");

    /// <summary>A LAMMPS .tersoff file; <paramref name="elements"/> picks and orders the species (default: all in the file).</summary>
    public static Tersoff FromFile(string path, IReadOnlyList<string>? elements = null) =>
        Parse(File.ReadAllText(path), elements, $"Tersoff ({Path.GetFileName(path)})", path);

    public static Tersoff Parse(string text, IReadOnlyList<string>? elements, string name, string what = "tersoff parameters")
    {
        var entries = TripletFile.Read(text, 14, what);
        var (el, t) = TripletFile.Table(entries, elements, v => new P(v), what);
        return new Tersoff(el, t, name);
    }

    public override string Name => name;
    public override double Cutoff => cutoff;

    private static double Fc(in P p, double r, out double dfc)
    {
        if (r < p.R - p.Dc) { dfc = 0; return 1.0; }
        if (r > p.R + p.Dc) { dfc = 0; return 0.0; }
        double x = Math.PI / 2 * (r - p.R) / p.Dc;
        dfc = -(Math.PI / 4) / p.Dc * Math.Cos(x);
        return 0.5 * (1.0 - Math.Sin(x));
    }

    private static double Bij(in P p, double zeta, out double dbij)
    {
        double tmp = p.Beta * zeta;
        if (tmp > p.C1) { dbij = p.Beta * -0.5 * Math.Pow(tmp, -1.5); return 1.0 / Math.Sqrt(tmp); }
        if (tmp > p.C2)
        {
            dbij = p.Beta * (-0.5 * Math.Pow(tmp, -1.5) * (1.0 - (1.0 + 1.0 / (2.0 * p.N)) * Math.Pow(tmp, -p.N)));
            return (1.0 - Math.Pow(tmp, -p.N) / (2.0 * p.N)) / Math.Sqrt(tmp);
        }
        if (tmp < p.C4) { dbij = 0; return 1.0; }
        if (tmp < p.C3) { dbij = -0.5 * p.Beta * Math.Pow(tmp, p.N - 1.0); return 1.0 - Math.Pow(tmp, p.N) / (2.0 * p.N); }
        double tn = Math.Pow(tmp, p.N);
        dbij = -0.5 * Math.Pow(1.0 + tn, -1.0 - 1.0 / (2.0 * p.N)) * tn / zeta;
        return Math.Pow(1.0 + tn, -1.0 / (2.0 * p.N));
    }

    /// <summary>exp((λ₃ Δr)^m) with LAMMPS's clamps, and its derivative by Δr = r_ij − r_ik.</summary>
    private static double Exp(in P p, double dr, out double dex)
    {
        double arg, darg;
        if (p.M == 3) { double t = p.Lam3 * dr; arg = t * t * t; darg = 3 * t * t * p.Lam3; }
        else { arg = p.Lam3 * dr; darg = p.Lam3; }
        if (arg > 69.0776) { dex = 0; return 1.0e30; }
        if (arg < -69.0776) { dex = 0; return 0.0; }
        double e = Math.Exp(arg);
        dex = e * darg;
        return e;
    }

    private static double G(in P p, double cos, out double dg)
    {
        double c2 = p.C * p.C, d2 = p.D * p.D, h = p.H - cos;
        double den = d2 + h * h;
        dg = -p.Gamma * 2 * c2 * h / (den * den);
        return p.Gamma * (1.0 + c2 / d2 - c2 / den);
    }

    /// <summary>Computes a block of centres from their rows (<see cref="ClassicalPotential.ComputesRows"/>): in MD, on the Verlet list's wide rows.</summary>
    protected override bool ComputesRows => true;

    /// <summary>Pairs of a row kept on the stack up to this many (a heap array beyond).</summary>
    private const int StackPairs = 64;

    protected override void ComputeRows(RowBlock block, int[] types, PairSum sum)
    {
        int n = SpeciesCount;
        int widest = block.WidestRow;
        Span<RowPair> row = widest <= StackPairs ? stackalloc RowPair[StackPairs] : new RowPair[widest];
        for (int i = block.First; i < block.End; i++)
        {
            int ti = types[i];
            int stop = block.Row(i, row);
            for (int a = 0; a < stop; a++)
            {
                int j = row[a].Neighbor, tj = types[j];
                ref readonly P pij = ref table[(ti * n + tj) * n + tj];
                double rij = row[a].Distance;
                if (rij >= pij.Cut) continue;
                Vec3 vij = row[a].Vector;
                Vec3 uij = vij / rij;
                double fc = Fc(pij, rij, out double dfc);

                // repulsion, half to each direction
                double rep = pij.A * Math.Exp(-pij.Lam1 * rij);
                double eRep = fc * rep;
                double dRep = dfc * rep - pij.Lam1 * eRep;
                sum.AtomEnergies[i] += 0.5 * eRep;

                // ζ_ij
                double zeta = 0;
                for (int b = 0; b < stop; b++)
                {
                    if (b == a) continue;
                    int tk = types[row[b].Neighbor];
                    ref readonly P pijk = ref table[(ti * n + tj) * n + tk];
                    double rik = row[b].Distance;
                    if (rik >= pijk.Cut) continue;
                    double cos = Vec3.Dot(uij, row[b].Vector) / rik;
                    zeta += Fc(pijk, rik, out _) * G(pijk, cos, out _) * Exp(pijk, rij - rik, out _);
                }

                // attraction ½ b_ij f_A(r_ij), f_A = −B e^(−λ₂ r) f_c
                double att = -pij.B * Math.Exp(-pij.Lam2 * rij);
                double fa = att * fc;
                double dfa = att * dfc - pij.Lam2 * fa;
                double bij = Bij(pij, zeta, out double dbij);
                sum.AtomEnergies[i] += 0.5 * bij * fa;
                double dr = 0.5 * dRep + 0.5 * bij * dfa;
                double pref = 0.5 * fa * dbij; // ∂E/∂ζ

                Vec3 gj = (dr) * uij;
                if (pref != 0)
                {
                    for (int b = 0; b < stop; b++)
                    {
                        if (b == a) continue;
                        int k = row[b].Neighbor, tk = types[k];
                        ref readonly P pijk = ref table[(ti * n + tj) * n + tk];
                        double rik = row[b].Distance;
                        if (rik >= pijk.Cut) continue;
                        Vec3 vik = row[b].Vector;
                        Vec3 uik = vik / rik;
                        double cos = Vec3.Dot(uij, uik);
                        double fck = Fc(pijk, rik, out double dfck);
                        double g = G(pijk, cos, out double dg);
                        double ex = Exp(pijk, rij - rik, out double dex);
                        // ζ_k = f_c(r_ik) g(cos) ex(r_ij − r_ik)
                        gj += pref * (fck * dg * ex / rij * (uik - cos * uij) + fck * g * dex * uij);
                        Vec3 gk = pref * (fck * dg * ex / rik * (uij - cos * uik) + (dfck * g * ex - fck * g * dex) * uik);
                        sum.Add(row[b].Pair, gk);
                    }
                }
                sum.Add(row[a].Pair, gj);
            }
        }
    }
}
