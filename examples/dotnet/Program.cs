using Mlip.Models;
using Mlip.Simulation;
using Mlip.Structures;

// dotnet run -- MODEL: 200 steps of Langevin MD of 64-atom diamond Si at 600 K with a model from `mlip train` or `mlip demo`
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: dotnet run -- MODEL (model.json, .ace/.yace, X.snapcoeff, ...)");
    return 1;
}
var model = ModelFile.Load(args[0]);
var si = Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2);
var setup = MdSetup.Create(model, si, new MdSettings { Ensemble = "nvt-langevin", TimeStep = 1, Temperature = 600, Seed = 1 });
new MolecularDynamics(setup.Integrator, setup.State).Run(200);
Console.WriteLine($"{model.Name}: {setup.State.Step} steps, T = {setup.State.Temperature:F1} K, E = {setup.State.PotentialEnergy:F4} eV");
return 0;
