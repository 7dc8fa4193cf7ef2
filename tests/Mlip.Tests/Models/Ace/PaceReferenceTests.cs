using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// Debian lammps-data's Cu-PBE-core-rep.ace (742 functions, rc 7.4 Å, two densities, core repulsion) on LAMMPS's
/// own unit-test structure (data.manybody, 64 atoms, all Cu) against LAMMPS's frozen references
/// manybody-pair-pace_product.yaml and _recursive.yaml (unittest/force-styles/tests in the LAMMPS source):
/// energy, all forces and the virial to 1e-10 relative.
/// </summary>
public class PaceReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("manybody-pair-pace_product.yaml")]
    [InlineData("manybody-pair-pace_recursive.yaml")]
    public void CuPbeCoreRepReproducesLammps(string yaml)
    {
        var potential = ModelFile.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        var basis = AcePotential.BasisOf(potential)!;
        Assert.Equal(742, basis.FunctionCount);
        var s = ManybodyReference.Structure(29);
        var (energy, virial, forces) = ManybodyReference.Read(yaml);
        var r = potential.Calculate(s);
        double rel = Math.Abs(r.Energy - energy) / Math.Abs(energy);
        output.WriteLine($"E Mlip {r.Energy:R} LAMMPS {energy:R} rel {rel:E2}");
        Assert.True(rel < 1e-10, $"energy relative deviation {rel:E2}");
        double fmax = forces.Max(f => f.Norm), worst = 0;
        for (int i = 0; i < forces.Length; i++) worst = Math.Max(worst, (r.Forces![i] - forces[i]).Norm);
        output.WriteLine($"max |ΔF| {worst:E2} eV/Å (largest force {fmax:F3})");
        Assert.True(worst < 1e-10 * fmax, $"max force deviation {worst:E2}");
        var st = r.Stress!.Value;
        double v = s.Volume / 160.21766208;
        double[] mine = [-st.Xx * v, -st.Yy * v, -st.Zz * v, -st.Xy * v, -st.Xz * v, -st.Yz * v];
        double wmax = virial.Max(Math.Abs);
        for (int c = 0; c < 6; c++)
        {
            output.WriteLine($"W[{c}] Mlip {mine[c]:R} LAMMPS {virial[c]:R}");
            Assert.True(Math.Abs(mine[c] - virial[c]) < 1e-10 * wmax, $"virial {c}: {mine[c]:R} vs {virial[c]:R}");
        }
    }
}
