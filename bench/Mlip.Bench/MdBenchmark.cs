using System.Diagnostics;
using System.Globalization;
using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// NVE molecular dynamics with Stillinger–Weber Si: 4096-atom diamond cell (8×8×8 conventional
/// cells, a = 5.431 Å), Maxwell–Boltzmann velocities at 300 K (seeded), velocity Verlet, 1 fs,
/// single thread; µs per atom per step for a fresh neighbour list every step and for a reused
/// (Verlet, skin) list, beside LAMMPS's <c>pair_style sw</c> on the same cell in the same run
/// (../shared/data/reference-timings.md: 0.52 µs/atom/step).
/// </summary>
public static class MdBenchmark
{
    public static void Run(string[] args)
    {
        int steps = Arg(args, "--steps", 200);
        double skin = Arg(args, "--skin", 1.0);
        int cells = Arg(args, "--cells", 8);
        var s = Crystals.Supercell(Crystals.Diamond("Si", 5.431), cells, cells, cells);
        Console.WriteLine($"NVE MD, Stillinger-Weber Si, {s.Count} atoms, 300 K, 1 fs, {steps} steps after 10 warm-up, single thread");
        Console.WriteLine($"{"code",-34} {"µs/atom/step",13} {"atom-steps/s",13} {"builds",7} {"E_tot drift (eV)",17}");

        double fresh = Mlip(s, steps, 0, "Mlip, fresh neighbour list");
        double reused = Mlip(s, steps, skin, $"Mlip, Verlet list, skin {skin} Å");

        double? lammps = null;
        if (LammpsTiming.Executable is not null)
        {
            var files = new Dictionary<string, string> { ["Si.sw"] = StillingerWeber.SiliconFile };
            double? sec = LammpsTiming.SecondsPerStep(s,
                "pair_style sw\npair_coeff * * Si.sw Si\nmass 1 28.0855\nvelocity all create 300 12345\nfix 1 all nve\ntimestep 0.001\nthermo 100\n" +
                $"run 10\nrun {steps}\n", files);
            lammps = 1e6 * sec!.Value / s.Count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"LAMMPS pair_style sw (skin 2 Å)",-34} {lammps,13:F3} {1 / lammps * 1e6,13:F0}"));
        }
        else Console.WriteLine("LAMMPS not built (scripts/build-lammps.sh); reference-timings.md gives 0.52 µs/atom/step");
        double l = lammps ?? 0.52;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ratio Mlip/LAMMPS: fresh list {fresh / l:F2}, Verlet list {reused / l:F2}{(lammps is null ? " (vs reference-timings.md)" : "")}"));
    }

    private static double Mlip(Structure s, int steps, double skin, string label)
    {
        var sw = StillingerWeber.Silicon();
        sw.NeighborSkin = skin;
        var state = new MdState(s);
        MaxwellBoltzmann.Initialize(state, 300, 12345);
        var md = new MolecularDynamics(new VelocityVerlet(sw, 1.0), state);
        md.Run(10);
        double e0 = state.TotalEnergy;
        var clock = Stopwatch.StartNew();
        md.Run(steps);
        double us = clock.Elapsed.TotalMilliseconds * 1000 / steps / s.Count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label,-34} {us,13:F3} {1 / us * 1e6,13:F0} {sw.NeighborListBuilds,7} {state.TotalEnergy - e0,17:E2}"));
        return us;
    }

    private static T Arg<T>(string[] args, string name, T fallback) where T : IParsable<T>
    {
        int k = Array.IndexOf(args, name);
        return k >= 0 && k + 1 < args.Length ? T.Parse(args[k + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
