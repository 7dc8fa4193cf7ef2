using Mlip.Calculators;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.Simulation;

/// <summary>Test-only Lennard-Jones pair potential, energy shifted to zero at the cutoff; analytic forces and stress.</summary>
internal sealed class LennardJonesTestCalculator(double epsilon, double sigma, double cutoff, int element = 18) : ICalculator
{
    public string Name => "LJ (test)";
    public IReadOnlyList<int> Elements => [element];
    public int Calls { get; private set; }

    private double Phi(double r)
    {
        double sr6 = Math.Pow(sigma / r, 6);
        return 4 * epsilon * (sr6 * sr6 - sr6);
    }

    public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
    {
        Calls++;
        var nl = NeighborList.Build(structure, cutoff);
        double shift = Phi(cutoff);
        double e = 0;
        var f = new Vec3[structure.Count];
        double sxx = 0, syy = 0, szz = 0, syz = 0, sxz = 0, sxy = 0;
        var centers = nl.Centers; var vecs = nl.Vectors; var dist = nl.Distances; var nbr = nl.Neighbors;
        for (int p = 0; p < nl.PairCount; p++)
        {
            double r = dist[p];
            if (r >= cutoff) continue;
            double sr6 = Math.Pow(sigma / r, 6);
            e += 0.5 * (4 * epsilon * (sr6 * sr6 - sr6) - shift);
            double dphi = 4 * epsilon * (-12 * sr6 * sr6 + 6 * sr6) / r; // dφ/dr
            var v = vecs[p]; // r_j - r_i
            var u = (dphi / r) * v; // dφ/dr_j
            f[centers[p]] += u;   // F_i = -dE/dr_i = +dφ/dr r̂_ij ... (each pair counted twice with 1/2)
            f[nbr[p]] -= u;
            double h = 0.5 * dphi / r;
            sxx += h * v.X * v.X; syy += h * v.Y * v.Y; szz += h * v.Z * v.Z;
            syz += h * v.Y * v.Z; sxz += h * v.X * v.Z; sxy += h * v.X * v.Y;
        }
        for (int i = 0; i < f.Length; i++) f[i] = 0.5 * f[i];
        Stress? st = null;
        if (stress && structure.HasCell)
        {
            double c = Stress.EvPerCubicAngstromInGpa / structure.Volume;
            st = new Stress(c * sxx, c * syy, c * szz, c * syz, c * sxz, c * sxy);
        }
        return new CalculatorResult(e, forces ? f : null, st);
    }
}
