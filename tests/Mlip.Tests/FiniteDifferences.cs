using Mlip.Structures;

namespace Mlip.Tests;

/// <summary>Central finite differences of an energy function: forces (−∂E/∂r) and stress ((1/V) ∂E/∂ε, GPa).</summary>
public static class FiniteDifferences
{
    public static Vec3[] Forces(Func<Structure, double> energy, Structure s, double h)
    {
        var f = new Vec3[s.Count];
        for (int i = 0; i < s.Count; i++)
        {
            var comp = new double[3];
            for (int c = 0; c < 3; c++)
            {
                var plus = s.Clone(); var minus = s.Clone();
                var delta = new Vec3(c == 0 ? h : 0, c == 1 ? h : 0, c == 2 ? h : 0);
                plus.Positions[i] += delta; minus.Positions[i] -= delta;
                comp[c] = -(energy(plus) - energy(minus)) / (2 * h);
            }
            f[i] = new Vec3(comp[0], comp[1], comp[2]);
        }
        return f;
    }

    /// <summary>Voigt stress (xx yy zz yz xz xy) from symmetric strains r' = r (I + ε).</summary>
    public static double[] Stress(Func<Structure, double> energy, Structure s, double h)
    {
        var sigma = new double[6];
        int[][] comps = [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]];
        for (int q = 0; q < 6; q++)
        {
            int a = comps[q][0], b = comps[q][1];
            var eps = new double[9];
            eps[a * 3 + b] += a == b ? h : h / 2;
            eps[b * 3 + a] += a == b ? 0 : h / 2;
            var ep = Matrix3.FromArray(eps);
            sigma[q] = (energy(Crystals.Deform(s, ep)) - energy(Crystals.Deform(s, -1.0 * ep))) / (2 * h) / s.Volume * Mlip.Structures.Stress.EvPerCubicAngstromInGpa;
        }
        return sigma;
    }

    /// <summary>Asserts forces and stress equal the finite differences to <paramref name="relTol"/> of their largest value.</summary>
    public static void AssertMatch(string what, Func<Structure, double> energy, Structure s, Vec3[] forces, Stress? stress, double relTol, double h)
    {
        var fd = Forces(energy, s, h);
        double fmax = fd.Max(v => v.Norm);
        Assert.True(fmax > 1e-3, $"{what}: the energy has no forces: the check would be empty");
        for (int i = 0; i < s.Count; i++)
            Assert.True((forces[i] - fd[i]).Norm <= relTol * fmax,
                $"{what}: force on atom {i}: analytic {forces[i]} vs finite difference {fd[i]} (scale {fmax:G3})");
        if (stress is not Stress st) return;
        var sfd = Stress(energy, s, h);
        double smax = sfd.Max(Math.Abs);
        var an = st.ToVoigt();
        for (int q = 0; q < 6; q++)
            Assert.True(Math.Abs(an[q] - sfd[q]) <= relTol * smax,
                $"{what}: stress component {q}: analytic {an[q]} vs finite difference {sfd[q]} (scale {smax:G3})");
    }
}
