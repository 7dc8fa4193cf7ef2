using Mlip.Models;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// Cu-PBE-core-rep.ace in use: a short NVE run of fcc Cu at 1000 K conserves energy (the 10 ps, 1000 K run is
/// an example, not a test), and the Cu dimer from 0.5 Å to the cut-off is smooth (no jumps in energy or
/// force, force = −dE/dr) and strongly repulsive at short range thanks to the core repulsion.
/// </summary>
public class PaceDynamicsTests(ITestOutputHelper output)
{
    [Fact]
    public void NveFccCuConservesEnergy()
    {
        var p = ModelFile.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        var state = new MdState(Crystals.Supercell(Crystals.Fcc("Cu", 3.63), 2, 2, 2));
        MaxwellBoltzmann.Initialize(state, 2000, seed: 3); // equipartition takes it to about 1000 K
        double e0 = double.NaN, emax = double.MinValue, emin = double.MaxValue;
        var md = new MolecularDynamics(new VelocityVerlet(p, 1.0), state)
        {
            Observer = s =>
            {
                if (double.IsNaN(e0)) e0 = s.TotalEnergy;
                emax = Math.Max(emax, s.TotalEnergy); emin = Math.Min(emin, s.TotalEnergy);
            },
        };
        md.Run(60);
        double drift = (state.TotalEnergy - e0) / state.Count / (state.Time / 1000.0);
        output.WriteLine($"32 atoms, 60 fs: T {state.Temperature:F0} K, E_tot spread {(emax - emin) / state.Count * 1000:F3} meV/atom, drift {drift:E2} eV/atom/ps");
        Assert.True(state.Temperature > 500, "the crystal did not heat up");
        Assert.True((emax - emin) / state.Count < 5e-4, $"total energy fluctuates by {(emax - emin) / state.Count:E2} eV/atom");
        Assert.True(Math.Abs(drift) < 1e-2, $"drift {drift:E2} eV/atom/ps");
    }

    /// <summary>
    /// <c>mlip md</c> opens a PACE potential with the reused Verlet list (<see cref="CalculatorSource.OpenForDynamics"/>): its
    /// trajectory follows the one with a fresh neighbour list every step to round-off, on 1 and 2 threads the same bits, and
    /// the list is rebuilt on few steps.
    /// </summary>
    [Fact]
    public void ReusedNeighbourListFollowsFreshBuilds()
    {
        string path = ManybodyReference.Potential("Cu-PBE-core-rep.ace");
        var reused = (Potential)CalculatorSource.OpenForDynamics(path, null);
        Assert.True(reused.NeighborSkin > 0);
        var fresh = Run(ModelFile.Load(path), 1);
        var a = Run(reused, 1);
        Assert.InRange(reused.NeighborListBuilds, 1, 10);
        var b = Run((Potential)CalculatorSource.OpenForDynamics(path, null), 2);
        for (int i = 0; i < fresh.Count; i++)
        {
            Assert.True((fresh.Positions[i] - a.Positions[i]).Norm < 1e-10, $"position {i}");
            Assert.True((fresh.Forces[i] - a.Forces[i]).Norm < 1e-9, $"force {i}");
        }
        Assert.Equal(fresh.PotentialEnergy, a.PotentialEnergy, 1e-9 * Math.Abs(fresh.PotentialEnergy));
        Assert.Equal(a.Positions, b.Positions);
        Assert.Equal(a.Forces, b.Forces);
        Assert.Equal(a.PotentialEnergy, b.PotentialEnergy);

        static MdState Run(Mlip.Calculators.ICalculator p, int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var state = new MdState(Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.63), 3, 3, 3), 0.05, 7));
            MaxwellBoltzmann.Initialize(state, 600, seed: 5);
            new MolecularDynamics(new VelocityVerlet(p, 1.0), state).Run(10);
            return state;
        }
    }

    /// <summary>
    /// A PACE MD step keeps its per-pair arrays (the fused pass's pair gradients and pair species, the evaluator workspaces)
    /// from one force call to the next: after the first steps a step allocates less than one per-pair gradient array
    /// (before, every step allocated those arrays anew: ~19 MB a step for 4000 Cu atoms), and the run gives the same bits as
    /// a run whose potential is opened afresh.
    /// </summary>
    [Fact]
    public void StepsReuseTheirPairArrays()
    {
        string path = ManybodyReference.Potential("Cu-PBE-core-rep.ace");
        using var limit = Mlip.Validation.MlipParallel.LimitThreads(1);
        var p = (Potential)CalculatorSource.OpenForDynamics(path, null);
        var state = new MdState(Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.63), 3, 3, 3), 0.05, 7));
        MaxwellBoltzmann.Initialize(state, 600, seed: 5);
        var md = new MolecularDynamics(new VelocityVerlet(p, 1.0), state);
        md.Run(2);
        int pairs = Mlip.Neighbors.NeighborList.Build(state.Snapshot(), p.Descriptor.Cutoff).PairCount;
        long before = GC.GetAllocatedBytesForCurrentThread();
        md.Run(5);
        double perStep = (GC.GetAllocatedBytesForCurrentThread() - before) / 5.0;
        output.WriteLine($"{state.Count} atoms, {pairs} pairs: {perStep / 1024:F1} KiB allocated per step (one pair-gradient array: {pairs * 24 / 1024.0:F1} KiB)");
        Assert.True(perStep < pairs * 24, $"{perStep:F0} bytes allocated per step");

        var again = new MdState(Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.63), 3, 3, 3), 0.05, 7));
        MaxwellBoltzmann.Initialize(again, 600, seed: 5);
        new MolecularDynamics(new VelocityVerlet((Potential)CalculatorSource.OpenForDynamics(path, null), 1.0), again).Run(7);
        Assert.Equal(again.Positions, state.Positions);
        Assert.Equal(again.Forces, state.Forces);
    }

    [Fact]
    public void DimerIsSmoothAndRepulsiveAtShortRange()
    {
        var p = ModelFile.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        double rc = p.Descriptor.Cutoff;
        var r = new List<double>(); var e = new List<double>(); var f = new List<double>();
        for (double d = 0.5; d < rc + 0.2; d += 0.01)
        {
            var s = new Structure(Matrix3.Diagonal(40, 40, 40), [new Vec3(5, 5, 5), new Vec3(5 + d, 5, 5)], [29, 29], PeriodicFlags.None);
            var res = p.Calculate(s, true, false);
            r.Add(d); e.Add(res.Energy); f.Add(res.Forces![1].X);
        }
        double eInf = e[^1];
        output.WriteLine($"E(0.5 Å) − E(rc) = {e[0] - eInf:F2} eV, E(1.0) − E(rc) = {e[50] - eInf:F2} eV, minimum {e.Min() - eInf:F3} eV at {r[e.IndexOf(e.Min())]:F2} Å");
        // repulsive at short range: energy falls and the force pushes apart all the way from 0.5 to 1.5 Å
        for (int q = 0; q < r.Count && r[q] < 1.5; q++) Assert.True(f[q] > 0, $"force at {r[q]:F2} Å is not repulsive");
        Assert.True(e[0] - eInf > 10, "not strongly repulsive at 0.5 Å");
        // smooth: at every grid point the force is −dE/dr (central differences, h = 1e-4 Å), so neither
        // the energy nor the force jumps anywhere from 0.5 Å to the cut-off
        double Energy(double d) => p.Calculate(new Structure(Matrix3.Diagonal(40, 40, 40), [new Vec3(5, 5, 5), new Vec3(5 + d, 5, 5)], [29, 29], PeriodicFlags.None), false, false).Energy;
        for (int q = 0; q < r.Count; q++)
        {
            double fd = -(Energy(r[q] + 1e-4) - Energy(r[q] - 1e-4)) / 2e-4;
            Assert.True(Math.Abs(fd - f[q]) < 1e-5 * Math.Abs(f[q]) + 1e-6, $"force {f[q]:G8} vs -dE/dr {fd:G8} at {r[q]:F2} Å");
        }
        Assert.Equal(0.0, f[^1], 12);
        Assert.Equal(eInf, e[^2], 12);
    }
}
