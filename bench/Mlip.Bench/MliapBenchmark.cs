using System.Diagnostics;
using System.Globalization;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// The PyXtal_FF Si network shipped with LAMMPS (examples/mliap/Si.nn.mliap.*: SO(3) rcutfac 5, nmax 3,
/// lmax 4, alpha 2; 30-16-16-1 tanh) on a 2000-atom rattled diamond-Si cell (a = 5.431 Å, ±0.05 Å),
/// single thread: one energy + forces + stress call in Mlip (the loaded <see cref="Potential"/>) and one MD
/// step of LAMMPS pair_style mliap (model nn, descriptor so3) measured in the same run, µs per atom.
/// </summary>
public static class MliapBenchmark
{
    public static void Run(string[] args)
    {
        string? reference = Path.Combine(Environment.GetEnvironmentVariable("MLIP_LAMMPS_DIR") is { Length: > 0 } d
            ? d : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "lammps"), "reference", "potentials");
        string model = Path.Combine(reference, "Si.nn.mliap.model"), descriptor = Path.Combine(reference, "Si.nn.mliap.descriptor");
        if (!File.Exists(model)) { Console.WriteLine($"{model} not found: run scripts/build-lammps.sh"); return; }
        var potential = ModelFile.Load(model);
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 10), 0.05, 12345);
        Console.WriteLine($"PyXtal_FF Si network (Si.nn.mliap.*: {potential.Name}), {s.Count}-atom rattled diamond Si, single thread, µs per atom per force call");

        var result = potential.Calculate(s);
        double mlip = Time(() => potential.Calculate(s), s.Count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Mlip   energy+forces+stress, fused one-pass path (Potential.Calculate): {mlip,9:F1} µs/atom   (E = {result.Energy:F6} eV)"));
        double full = Time(() =>
        {
            var set = potential.Descriptor.Compute(s, derivatives: true);
            var e = new double[s.Count];
            var dEdX = new double[set.Values.Length];
            potential.Model.Evaluate(set.Values, s.AtomicNumbers, e, dEdX);
            ForceContraction.Contract(set, dEdX, s.Volume);
        }, s.Count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Mlip   energy+forces+stress, dX/dr blocks + contraction:             {full,9:F1} µs/atom"));
        double adjoint = Time(() =>
        {
            var set = potential.Descriptor.Compute(s, derivatives: false);
            var e = new double[s.Count];
            var dEdX = new double[set.Values.Length];
            potential.Model.Evaluate(set.Values, s.AtomicNumbers, e, dEdX);
            ((Mlip.Descriptors.IAdjointDescriptor)potential.Descriptor).ForcesFromAdjoint(s, dEdX, set.Neighbors);
        }, s.Count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Mlip   energy+forces+stress, values then adjoint (two expansions):   {adjoint,9:F1} µs/atom"));
        if (LammpsTiming.Executable is null) { Console.WriteLine("LAMMPS not built (scripts/build-lammps.sh): no ratio"); return; }
        var files = new Dictionary<string, string>
        {
            ["Si.nn.mliap.model"] = File.ReadAllText(model),
            ["Si.nn.mliap.descriptor"] = File.ReadAllText(descriptor),
        };
        int steps = args.Contains("--quick") ? 2 : 5;
        double lammps = double.MaxValue;
        for (int r = 0; r < 2; r++) // the faster of two runs, as for Mlip
            lammps = Math.Min(lammps, 1e6 * LammpsTiming.SecondsPerStep(s,
                "pair_style mliap model nn Si.nn.mliap.model descriptor so3 Si.nn.mliap.descriptor\npair_coeff * * Si\nmass 1 28.0855\n" +
                $"velocity all create 300 1\nfix 1 all nve\nthermo_style custom step pe press\nthermo 1\nrun {steps}\n", files)!.Value / s.Count);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"LAMMPS pair_style mliap (nn, so3), one MD step:                      {lammps,9:F1} µs/atom"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio Mlip (fused) / LAMMPS: {mlip / lammps:F3}  (blocks / LAMMPS {full / lammps:F3})"));
    }

    /// <summary>
    /// Fastest of a few runs after a warm-up, µs per atom (the minimum: on a machine shared with other jobs it
    /// is the figure least disturbed by them).
    /// </summary>
    private static double Time(Action run, int atoms)
    {
        run();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        for (int r = 0; r < 3 || (r < 7 && total.Elapsed.TotalSeconds < 20); r++)
        {
            var sw = Stopwatch.StartNew();
            run();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 1000 / atoms);
        }
        return best;
    }
}
