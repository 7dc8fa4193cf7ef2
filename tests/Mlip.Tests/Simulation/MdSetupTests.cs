using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Simulation;

/// <summary><see cref="MdSetup"/>: the ensemble names give the integrators <c>mlip md</c> runs.</summary>
public class MdSetupTests
{
    private static Structure Si() => Crystals.Diamond("Si", 5.431);

    [Fact]
    public void EachEnsembleGivesItsIntegrator()
    {
        var sw = StillingerWeber.Silicon();
        Assert.IsType<VelocityVerlet>(MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "NVE" }).Integrator);
        Assert.IsType<Langevin>(MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "nvt-langevin" }).Integrator);
        var nh = Assert.IsType<NoseHooverChain>(MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "nvt-nh", TimeStep = 2 }).Integrator);
        Assert.Equal(200, nh.Period); // 100 time steps by default
        var npt = MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "npt-berendsen", Pressure = 1.5 });
        Assert.IsType<Langevin>(npt.Integrator);
        Assert.Equal(1.5, Assert.IsType<BerendsenBarostat>(npt.Integrator.Barostat).Pressure);
        Assert.Equal("npt-berendsen", npt.Ensemble);
    }

    [Fact]
    public void VelocitiesAreDrawnOnlyWhenTheStructureHasNone()
    {
        var sw = StillingerWeber.Silicon();
        var hot = MdSetup.Create(sw, Si(), new MdSettings { Temperature = 600, Seed = 3 }).State;
        Assert.True(hot.Temperature > 0);
        var cold = MdSetup.Create(sw, Si(), new MdSettings { Temperature = 0 }).State;
        Assert.Equal(0, cold.Temperature);
    }

    [Fact]
    public void UnknownEnsembleAndNptOfAClusterAreUserErrors()
    {
        var sw = StillingerWeber.Silicon();
        var e = Assert.Throws<MlipException>(() => MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "npt" }));
        Assert.Contains("unknown --ensemble", e.Message);
        var cluster = Si();
        cluster.Pbc = PeriodicFlags.None;
        var c = Assert.Throws<MlipException>(() => MdSetup.Create(sw, cluster, new MdSettings { Ensemble = "npt-berendsen" }, "cluster.xyz"));
        Assert.StartsWith("cluster.xyz: npt-berendsen", c.Message);
        Assert.Throws<MlipException>(() => MdSetup.Create(sw, Si(), new MdSettings { Ensemble = "nvt-nh", Temperature = 0 }));
    }
}
