using Mlip.Calculators;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.Simulation;

/// <summary>
/// Test-only shifted-force Lennard-Jones pair potential (energy and force both go to zero at the
/// cutoff): φ(r) = φ_LJ(r) − φ_LJ(r_c) − (r − r_c) φ_LJ'(r_c). Analytic forces and virial stress.
/// </summary>
public sealed class LennardJonesCalculator(double epsilon, double sigma, double cutoff, int element) : ICalculator
{
    public string Name => "shifted-force Lennard-Jones (test)";
    public IReadOnlyList<int> Elements => [element];

    /// <summary>Argon: ε = 0.0104 eV, σ = 3.40 Å, r_c = 2.5σ.</summary>
    public static LennardJonesCalculator Argon() => new(0.0104, 3.40, 8.5, 18);

    private (double e, double de) Raw(double r)
    {
        double sr2 = sigma * sigma / (r * r), sr6 = sr2 * sr2 * sr2;
        return (4 * epsilon * (sr6 * sr6 - sr6), 4 * epsilon * (-12 * sr6 * sr6 + 6 * sr6) / r);
    }

    public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
    {
        var nl = NeighborList.Build(structure, cutoff);
        var (ec, dec) = Raw(cutoff);
        int n = structure.Count;
        var f = new Vec3[n];
        double energy = 0, sxx = 0, syy = 0, szz = 0, syz = 0, sxz = 0, sxy = 0;
        var centers = nl.Centers; var vectors = nl.Vectors; var dist = nl.Distances;
        for (int p = 0; p < nl.PairCount; p++)
        {
            double r = dist[p];
            var (e, de) = Raw(r);
            energy += 0.5 * (e - ec - (r - cutoff) * dec);
            double dphi = de - dec;               // dφ/dr
            var v = vectors[p];                   // r_ij = r_j − r_i
            f[centers[p]] += (dphi / r) * v;      // F_i = −∂E/∂r_i = φ' r_ij / r
            double c = 0.5 * dphi / r;
            sxx += c * v.X * v.X; syy += c * v.Y * v.Y; szz += c * v.Z * v.Z;
            syz += c * v.Y * v.Z; sxz += c * v.X * v.Z; sxy += c * v.X * v.Y;
        }
        Stress? s = null;
        if (stress)
        {
            double iv = 1.0 / structure.Volume;
            s = Stress.FromEvPerCubicAngstrom(iv * new Matrix3(sxx, sxy, sxz, sxy, syy, syz, sxz, syz, szz));
        }
        return new CalculatorResult(energy, forces ? f : null, s);
    }
}
