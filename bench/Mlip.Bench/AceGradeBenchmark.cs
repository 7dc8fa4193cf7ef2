using System.Diagnostics;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// <c>ace-grade</c>: cost of pacemaker's extrapolation grade with Cu-PBE-core-rep.ace: building the active set over rattled fcc
/// Cu (projections + MaxVol), then γ of every atom of a 4000-atom rattled fcc cell against the force call (energy, forces,
/// stress) of the same potential on the same cell, best of N interleaved, µs/atom and the ratio.
/// </summary>
public static class AceGradeBenchmark
{
    public static void Run(string[] args)
    {
        int cells = Arg(args, "--cells", 10), repeats = Arg(args, "--repeats", 3), training = Arg(args, "--training", 14);
        string dir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "lammps", "reference", "potentials");
        var ace = ModelFile.Load(Path.Combine(dir, "Cu-PBE-core-rep.ace"));
        var train = Enumerable.Range(0, training).Select(q =>
            Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.56 + 0.14 * q / Math.Max(1, training - 1)), 3, 3, 3), 0.12, 11 + q)).ToList();
        var clock = Stopwatch.StartNew();
        var grade = AceExtrapolation.Build(ace, train);
        double build = clock.Elapsed.TotalSeconds;
        var inv = grade.InverseOf("Cu")!.Value;
        Console.WriteLine($"active set: {train.Sum(s => s.Count)} training atoms, {grade.ProjectionLength(0)} projections, {inv.Rows} kept: {build:F2} s (projections + MaxVol)");
        var probe = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.62), cells, cells, cells), 0.1, 5);
        int n = probe.Count;
        double bestForce = double.MaxValue, bestGrade = double.MaxValue, maxGamma = 0;
        for (int r = 0; r < repeats; r++)
        {
            clock.Restart();
            ace.Calculate(probe, forces: true, stress: true);
            bestForce = Math.Min(bestForce, clock.Elapsed.TotalSeconds);
            clock.Restart();
            maxGamma = grade.Grades(probe).Max();
            bestGrade = Math.Min(bestGrade, clock.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"{n} atoms, {Environment.ProcessorCount} threads, best of {repeats}: force call {bestForce / n * 1e6:F1} µs/atom, γ of every atom {bestGrade / n * 1e6:F1} µs/atom (max γ {maxGamma:F3}); grade / force call = {bestGrade / bestForce:F2}");
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }
}
