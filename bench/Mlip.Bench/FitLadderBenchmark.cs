using System.Globalization;
using Mlip.AutoFit;
using Mlip.IO;

namespace Mlip.Bench;

/// <summary>
/// The search of <c>mlip fit</c> restricted to the bottom of the ACE ladder with one level's basis changed: the mlearn Si
/// training set, linear ACE at one cut-off (no cut-off search, no FS stage, no so4), levels 0..<c>--level</c>, where level
/// <c>--level</c> takes the given <c>--nmax</c>/<c>--lmax</c>/<c>--order</c> (in this process only) and every level the given
/// radial base. Writes the search's report.json into <c>-o DIR</c>; validation errors only (TEST is not read). Used to
/// compare bases on the search's own folds and descent (docs/fit.md, "The basis itself"). <c>--resume</c> takes the bases already
/// searched from DIR/fit-checkpoint.json (its fingerprint "fit-ladder"), so a level can be varied without searching the ones below again;
/// <c>--quick</c> searches each new basis on small grids only (one sweep, no refinement).
/// </summary>
public static class FitLadderBenchmark
{
    public static void Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int[] Ints(string v) => [.. v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))];
        int level = int.Parse(Arg("--level", "2"), CultureInfo.InvariantCulture);
        double rc = double.Parse(Arg("--rc", "5.5"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture);
        string radial = Arg("--radial", FitBasis.DefaultRadial);
        string output = Arg("-o", Path.Combine(Path.GetTempPath(), "fit-ladder"));
        var (order, nmax, lmax) = FitBasis.AceLadder[level];
        FitBasis.AceLadder[level] = (int.Parse(Arg("--order", order.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture),
            Ints(Arg("--nmax", string.Join(",", nmax))), Ints(Arg("--lmax", string.Join(",", lmax))));
        Console.WriteLine($"level {level}: order {FitBasis.AceLadder[level].Order}, nmax {string.Join(",", FitBasis.AceLadder[level].Nmax)}, lmax {string.Join(",", FitBasis.AceLadder[level].Lmax)}, radial {radial}, rc {rc.ToString(CultureInfo.InvariantCulture)}");
        string root = FitBenchmark.RepoRoot();
        var train = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        var settings = new FitSearchSettings
        {
            Families = "ace", Cutoffs = [rc, rc], AceLevels = level + 1, Fs = false, Budget = 600, Radials = radial,
        };
        // --quick: one sweep over small grids, no refinement (a few candidates per basis: a level too large for the whole descent on a loaded machine)
        if (args.Contains("--quick"))
            settings = settings with { Sweeps = 1, Refine = false, ForceWeights = [0.001, 0.003, 0.01], StressWeights = [1e-5], Ridges = [1e-12, 1e-8, 1e-7], Smoothness = [0] };
        // --resume: levels below come from DIR/fit-checkpoint.json (e.g. a finished run of the lower levels copied there)
        var search = new FitSearch(new FitOptions
        {
            Train = train, Output = output, Threads = threads, Search = settings, Log = Console.Out, Resume = args.Contains("--resume"), Fingerprint = "fit-ladder",
        });
        var outcome = search.Run();
        Console.WriteLine($"report: {Path.Combine(output, "report.json")}; chosen {outcome.Chosen.Basis.Label} {outcome.Chosen.Hyper}");
    }
}
