using System.Diagnostics;
using System.Globalization;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// Speed as the user runs it: whole <c>mlip md</c>, <c>mlip predict</c> and <c>mlip descriptors</c> processes (the CLI built by
/// <c>./mlip</c>, start-up, reading, JIT and output included) against whole <c>lmp</c> processes on the same cells in
/// the same run. For each case it prints LAMMPS's loop time (from its log) and its whole process, Mlip's whole process
/// and Mlip's whole process minus its start-up (the same command on a small cell of the same kind), in µs per atom-step,
/// and the ratios; and the potential energy both codes give for the starting cell (step 0 of both runs, which start
/// from the same positions), which must agree to 1e-8 relative. Mlip runs on the cores of <c>--cores</c> (taskset;
/// default: core 0), and with <c>--cores 0,1</c> also on one core alone, for the speed-up: the core that a short probe
/// (<see cref="CoreSpeed"/>) right before the pair finds faster, so that on a VM whose vCPUs differ the ratio can only
/// understate; beside the ratio the bench prints the cores' capacity relative to that core (1 + slow/fast, from the probes
/// before and after each pair), the ceiling the ratio had at that moment. LAMMPS (a serial build) runs on the core the
/// probe before it finds faster (with one core in <c>--cores</c>: on it). Each case runs <c>--repeat K</c> times (default with several cores: 5 for a case
/// whose one-core run is short, 3 for the long ones; one core: once), the one-core and multi-core runs interleaved
/// (A B A B ...) so that a change of the machine's speed hits both; the figures are medians, with the spread (min-max)
/// of the whole times and of the pairs' ratios. LAMMPS runs as often where its whole run takes under 10 s, else once.
/// </summary>
public static class WholeRunBenchmark
{
    /// <summary>One comparison: an Mlip command and the LAMMPS input that computes the same thing.</summary>
    private sealed record Case(string Name, Structure Cell, Structure Small, string[] MlipArgs, string LammpsPair, string Mass, int Steps,
        IReadOnlyDictionary<string, string> Files, bool Descriptors = false, bool Predict = false);

    /// <summary>A LAMMPS run shorter than this (its first whole process) is repeated as often as Mlip's runs; longer ones run once (their loop time hardly moves, and they are most of the bench's time).</summary>
    private const double LammpsRepeatSeconds = 10;

    /// <summary>With several cores and no <c>--repeat</c>: pairs of runs for a case whose first one-core run takes under <see cref="ShortRunSeconds"/> (short runs are the noisiest), and for the others.</summary>
    private const int ShortRepeats = 5, LongRepeats = 3;
    private const double ShortRunSeconds = 5;

    public static void Run(string[] args)
    {
        string cores = Arg(args, "--cores", "0");
        double scale = Arg(args, "--steps-scale", 1.0);
        int repeatArg = Arg(args, "--repeat", 0);
        if (repeatArg < 0) { Console.WriteLine("--repeat must be ≥ 1 (0: the default)"); return; }
        var only = Arg(args, "--only", "")!.Split(',', StringSplitOptions.RemoveEmptyEntries);
        string? cli = FindCli();
        if (cli is null) { Console.WriteLine("the Mlip CLI could not be built (./mlip --help)"); return; }
        if (LammpsTiming.Executable is null) { Console.WriteLine("LAMMPS not built (scripts/build-lammps.sh): nothing to compare with"); return; }
        string reference = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(LammpsTiming.Executable))!, "reference", "potentials");
        string mlearn = Path.Combine(RepoRoot(), "..", "shared", "data", "mlearn", "Si", "mvl_models");
        string firstCore = cores.Split(',')[0];
        bool multi = cores.Contains(',') || cores.Contains('-');
        var benchClock = Stopwatch.StartNew();

        // --only names cases, or their first word ("pace" is both pace cases)
        bool Selected(string name) => only.Length == 0 || only.Any(o => name == o || name.StartsWith(o + " ", StringComparison.Ordinal));
        var cases = Cases(reference, mlearn, cli, Selected).Where(c => Selected(c.Name)).ToList();
        Console.WriteLine($"Whole processes, Mlip ({cli}) vs LAMMPS ({LammpsTiming.Executable}, serial, on {(multi ? "the faster core of " + cores + " at the time" : "core " + firstCore)}); µs per atom-step; Mlip on cores {cores}");
        Console.WriteLine("LAMMPS loop = its 'Loop time'; whole = the process from start to exit; Mlip − start-up = whole minus the same command on a small cell");
        Console.WriteLine("cpu/cpu = user+system CPU seconds of the whole Mlip process on one core over those of the whole LAMMPS process (less sensitive to a loaded machine than wall times)");
        string repeats = repeatArg > 0 ? $"{repeatArg}" : multi ? $"{ShortRepeats} for a case whose first one-core run takes under {ShortRunSeconds:F0} s, else {LongRepeats}" : "1";
        Console.WriteLine($"repetitions: {repeats} (--repeat K){(multi ? ", one-core and multi-core runs interleaved (A B A B ...)" : "")}; times are medians of the repetitions; " +
            $"LAMMPS is repeated as often when its first whole run takes under {LammpsRepeatSeconds:F0} s, else run once; every run's step-0 energy is checked against LAMMPS's");
        if (multi)
        {
            Console.WriteLine($"1 core→{cores}: median whole Mlip process on one core over the median on {cores} [the lowest and highest ratio of one interleaved pair]; the one core of each pair is the one " +
                $"a probe right before it found faster (c0×n c1×m: how often each), so unequal vCPUs can only lower the ratio; net: the same with the start-up (the small-cell runs' medians) taken off both; " +
                "serial: fraction of the MD loop thread's CPU outside parallel loops on one core (MLIP_PHASE_TIMES, median); " +
                "1 core s / 2 cores s: median whole seconds [min-max]");
            Console.WriteLine($"ceiling: the cores' capacity relative to the one-core run's core, Σ_k speed_k / speed_used = 1 + slow/fast on two cores (probe: {CoreSpeedProbeText}, on each core before and after each pair, " +
                "their mean per core), median [min-max] over the pairs: the highest 1 core→2 ratio perfectly parallel code could show then; Amdahl: 1/(s + (1 − s)/ceiling) with the serial fraction s; " +
                "probe: the last reading (ms of the probe's work per core)");
        }
        Console.WriteLine($"{"case",-22} {"atoms",6} {"steps",6} {"reps",4} {"LAMMPS loop",12} {"LAMMPS whole",13} {"Mlip whole",11} {"Mlip − start",13} {"whole/whole",12} {"net/loop",9} " +
            $"{(multi ? $"{"1 core→" + cores,-20} {"on",-10} {"ceiling",-18} {"Amdahl",6} {"net",6} {"serial",7} {"1 core s",-22} {cores + " s",-22}" : "")}  {"cpu/cpu",8}  {"E LAMMPS (eV)",20} {"E Mlip (eV)",20} {"rel. diff",9}");
        if (multi) CoreCheck(cli, cores, "before");
        foreach (var c in cases)
        {
            if (c.Files.Values.FirstOrDefault(f => !File.Exists(f)) is string missing) { Console.WriteLine($"{c.Name,-22} skipped: {missing} not found"); continue; }
            int steps = c.Descriptors || c.Predict ? 0 : Math.Max(1, (int)Math.Round(c.Steps * scale));
            int smallSteps = c.Descriptors || c.Predict ? 0 : 1;
            bool md = !c.Descriptors && !c.Predict;
            var lammpsRuns = new List<LammpsResult>();
            var lammpsCpu = new List<double>();
            var coreList = CoreList(cores);
            // the core a one-core run goes to: the faster one now (a probe), the first of the list where it cannot probe
            string FasterCore(out CoreSpeed.Reading? reading)
            {
                reading = multi ? CoreSpeed.Probe(coreList) : null;
                return reading?.Fastest ?? firstCore;
            }
            void Lammps()
            {
                string core = FasterCore(out _);
                double before = ChildCpu.Seconds();
                lammpsRuns.Add(RunLammps(c, steps, core));
                lammpsCpu.Add(ChildCpu.Seconds() - before);
            }
            Lammps();
            // Mlip: the measured runs (on the cores of --cores), with several cores each after one on the first core alone
            var runs = new List<MlipResult>();
            var ones = new List<MlipResult>();
            var cpuOne = new List<double>();
            var oneCores = new List<string>();
            var ceilings = new List<double>();
            CoreSpeed.Reading? last = null;
            int k = repeatArg;
            for (int r = 0; k == 0 || r < k; r++)
            {
                if (multi)
                {
                    // the probe before this pair is the one after the last pair
                    string core = last?.Fastest ?? FasterCore(out last);
                    var before = last;
                    double cpu0 = ChildCpu.Seconds();
                    ones.Add(RunMlip(cli, c, c.Cell, steps, core, phaseTimes: md));
                    cpuOne.Add(ChildCpu.Seconds() - cpu0);
                    runs.Add(RunMlip(cli, c, c.Cell, steps, cores));
                    oneCores.Add(core);
                    last = CoreSpeed.Probe(coreList);
                    if (before is not null && last is not null) ceilings.Add(CoreSpeed.Mean(before, last).Capacity(core));
                }
                else
                {
                    double before = ChildCpu.Seconds();
                    runs.Add(RunMlip(cli, c, c.Cell, steps, cores));
                    cpuOne.Add(ChildCpu.Seconds() - before);
                }
                if (k == 0) k = multi ? (ones[0].Seconds < ShortRunSeconds ? ShortRepeats : LongRepeats) : 1;
            }
            if (lammpsRuns[0].WholeSeconds < LammpsRepeatSeconds)
                for (int r = 1; r < k; r++) Lammps();
            // the start-up: the same command on the small cell, as often, interleaved the same way
            var smalls = new List<double>();
            var oneSmalls = new List<double>();
            for (int r = 0; r < k; r++)
            {
                if (multi) oneSmalls.Add(RunMlip(cli, c, c.Small, smallSteps, FasterCore(out _)).Seconds);
                smalls.Add(RunMlip(cli, c, c.Small, smallSteps, cores).Seconds);
            }

            double per = c.Cell.Count * (double)Math.Max(1, steps);
            double lLoop = Median(lammpsRuns.Select(l => l.LoopSeconds)) * 1e6 / per, lWhole = Median(lammpsRuns.Select(l => l.WholeSeconds)) * 1e6 / per;
            double mlipSeconds = Median(runs.Select(m => m.Seconds)), small = Median(smalls);
            double mWhole = mlipSeconds * 1e6 / per, mNet = Math.Max(0, mlipSeconds - small) * 1e6 / per;
            string speedup = "", net = "", serial = "", oneSpread = "", multiSpread = "", on = "", ceiling = "", amdahl = "";
            if (multi)
            {
                double one = Median(ones.Select(m => m.Seconds)), oneSmall = Median(oneSmalls);
                var pairRatios = ones.Zip(runs, (a, b) => a.Seconds / b.Seconds).ToList();
                speedup = string.Create(CultureInfo.InvariantCulture, $"{one / mlipSeconds:F2}x [{pairRatios.Min():F2}-{pairRatios.Max():F2}]");
                net = string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, one - oneSmall) / Math.Max(1e-9, mlipSeconds - small):F2}x");
                var fractions = ones.Where(o => o.SerialFraction is not null).Select(o => o.SerialFraction!.Value).ToList();
                if (fractions.Count > 0) serial = string.Create(CultureInfo.InvariantCulture, $"{Median(fractions):F4}");
                on = string.Join(" ", oneCores.GroupBy(x => x).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"c{g.Key}×{g.Count()}"));
                if (ceilings.Count > 0)
                {
                    double cap = Median(ceilings);
                    ceiling = string.Create(CultureInfo.InvariantCulture, $"{cap:F2} [{ceilings.Min():F2}-{ceilings.Max():F2}]");
                    if (fractions.Count > 0) amdahl = string.Create(CultureInfo.InvariantCulture, $"{1 / (Median(fractions) + (1 - Median(fractions)) / cap):F2}x");
                }
                oneSpread = Spread(ones.Select(m => m.Seconds).ToList());
                multiSpread = Spread(runs.Select(m => m.Seconds).ToList());
            }
            string energies = "";
            if (lammpsRuns[0].FirstPe is double le && runs[0].Energy is double me)
            {
                // the worst agreement over every run of both codes (LAMMPS's repeats must give its first run's energy too)
                double rel = ones.Concat(runs).Where(m => m.Energy is not null).Select(m => m.Energy!.Value)
                    .Concat(lammpsRuns.Where(l => l.FirstPe is not null).Select(l => l.FirstPe!.Value))
                    .Max(e => Math.Abs(le - e)) / Math.Max(1e-300, Math.Abs(le));
                energies = string.Create(CultureInfo.InvariantCulture, $"{le,20:F10} {me,20:F10} {rel,9:E1}{(rel <= 1e-8 ? "" : "  ENERGIES DIFFER")}");
            }
            double cpuRatio = Median(cpuOne) / Median(lammpsCpu);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{c.Name,-22} {c.Cell.Count,6} {steps,6} {k,4} {lLoop,12:F3} {lWhole,13:F3} {mWhole,11:F3} {mNet,13:F3} {mWhole / lWhole,12:F2} {(c.Predict ? double.NaN : mNet / lLoop),9:F2} " +
                $"{(multi ? $"{speedup,-20} {on,-10} {ceiling,-18} {amdahl,6} {net,6} {serial,7} {oneSpread,-22} {multiSpread,-22}" : "")}  {cpuRatio,8:F2}  {energies}"));
            if (multi && last is not null) Console.WriteLine($"  {c.Name}: probe after the last pair: {last}");
            if (multi && md) Console.WriteLine(PoolLine(cli, c, steps, cores, ones));
        }
        if (multi) CoreCheck(cli, cores, "after");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bench whole took {benchClock.Elapsed.TotalMinutes:F1} min"));
    }

    private const string CoreSpeedProbeText = "square roots and exponentials over 16 kB on a thread pinned to each core alone, best of 3 rounds of ~30 ms";

    /// <summary>The cores of a <c>taskset</c> list ("0,1", "0-3", "0,2-3").</summary>
    internal static IReadOnlyList<string> CoreList(string cores) =>
        cores.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SelectMany(part =>
        {
            int dash = part.IndexOf('-');
            if (dash < 0) return [part];
            int from = int.Parse(part[..dash], CultureInfo.InvariantCulture), to = int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
            return Enumerable.Range(from, to - from + 1).Select(i => i.ToString(CultureInfo.InvariantCulture));
        }).ToList();

    /// <summary>Speed of each core alone: the same one-thread whole `mlip md` (SW, 512 atoms, 2000 steps) pinned to each core of
    /// <paramref name="cores"/>, twice each, interleaved; the faster of the two per core. A virtual machine's vCPUs can differ
    /// (another guest on the same physical core): a parallel region waits for its slowest block, so when the slowest core takes
    /// clearly longer than the fastest the multi-core ratios say more about the host than about the code. (Each pair of runs
    /// has its own, shorter probe, <see cref="CoreSpeed"/>: it picks the one-core run's core and gives the pair's ceiling.)</summary>
    private static void CoreCheck(string cli, string cores, string when)
    {
        var list = CoreList(cores);
        var cell = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 4, 4, 4), 0.05, 12345);
        var probe = new Case("core check", cell, cell, ["-p", "sw"], "", "", 2000, new Dictionary<string, string>());
        var best = list.ToDictionary(k => k, _ => double.PositiveInfinity);
        for (int r = 0; r < 2; r++)
            foreach (var core in list)
                best[core] = Math.Min(best[core], RunMlip(cli, probe, cell, probe.Steps, core).Seconds);
        double slowest = best.Values.Max(), fastest = best.Values.Min();
        string each = string.Join(", ", list.Select(k => string.Create(CultureInfo.InvariantCulture, $"core {k} {best[k]:F2} s")));
        string line = string.Create(CultureInfo.InvariantCulture,
            $"core check {when} the cases (one-thread mlip md, SW 512 atoms, 2000 steps, on each core alone, best of 2): {each}; slowest/fastest {slowest / fastest:F2}");
        Console.WriteLine(slowest / fastest > 1.15 ? line + "  CORES DIFFER: each case's one-core runs went to the faster core at the time; its ceiling column says what the cores allowed" : line);
        // the hand-off between the first two cores: what each fork/join of a parallel region pays
        if (list.Count >= 2 && int.TryParse(list[0], out int a) && int.TryParse(list[1], out int b) && CoreHandoff.RoundTripNanoseconds(a, b) is double ns)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"thread hand-off between cores {a} and {b} {when} the cases: {ns:F0} ns per round trip (median of 7 batches of 20000; two threads pinned, spinning on one flag)"));
        // what a line written by the other core costs: the data that the threads of one process share from region to region
        if (list.Count >= 2 && int.TryParse(list[0], out int c0) && int.TryParse(list[1], out int c1) && CoreHandoff.LineNanoseconds(c0, c1) is var (local, remote))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cache lines {when} the cases: a random-order pass over 2 MB last written on core {c0} costs {local:F1} ns per line on core {c0}, {remote:F1} on core {c1} ({remote / local:F1}x; median of 41)"));
    }

    /// <summary>The median (the mean of the middle two for an even count).</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    private static string Spread(IReadOnlyList<double> seconds) =>
        string.Create(CultureInfo.InvariantCulture, $"{Median(seconds):F3} [{seconds.Min():F3}-{seconds.Max():F3}]");

    private static IEnumerable<Case> Cases(string reference, string mlearn, string cli, Func<string, bool> selected)
    {
        var si2000 = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 10), 0.05, 12345);
        var si4096 = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 8, 8, 8), 0.05, 12345);
        var si8 = Crystals.Diamond("Si", 5.431);
        var si64 = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 12345);
        var cu4000 = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.615), 10, 10, 10), 0.05, 12345);
        var cu32 = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.615), 2, 2, 2), 0.05, 12345);
        const string si = "mass 1 28.0855\n", cu = "mass 1 63.546\n";
        string snap = Path.Combine(mlearn, "snap", "SNAPotential"), qsnap = Path.Combine(mlearn, "qsnap", "SNAPotential");
        string ace = Path.Combine(reference, "Cu-PBE-core-rep.ace");
        string nn = Path.Combine(reference, "Si.nn.mliap");
        string eam = Path.Combine(reference, "Cu_mishin1.eam.alloy");
        string swFile = Path.Combine(Path.GetTempPath(), "mlip-bench-Si.sw"), tersoffFile = Path.Combine(Path.GetTempPath(), "mlip-bench-Si.tersoff");
        File.WriteAllText(swFile, StillingerWeber.SiliconFile);
        File.WriteAllText(tersoffFile, Tersoff.SiliconFile);

        yield return new("snap", si2000, si64, ["-m", snap + ".snapcoeff"], "pair_style snap\npair_coeff * * pot.snapcoeff pot.snapparam Si\n", si, 200,
            new Dictionary<string, string> { ["pot.snapcoeff"] = snap + ".snapcoeff", ["pot.snapparam"] = snap + ".snapparam" });
        yield return new("qsnap", si2000, si64, ["-m", qsnap + ".snapcoeff"], "pair_style snap\npair_coeff * * pot.snapcoeff pot.snapparam Si\n", si, 200,
            new Dictionary<string, string> { ["pot.snapcoeff"] = qsnap + ".snapcoeff", ["pot.snapparam"] = qsnap + ".snapparam" });
        yield return new("sw", si4096, si64, ["-p", "sw"], "pair_style sw\npair_coeff * * pot.sw Si\n", si, 1000,
            new Dictionary<string, string> { ["pot.sw"] = swFile });
        yield return new("tersoff", si4096, si64, ["-p", "tersoff"], "pair_style tersoff\npair_coeff * * pot.tersoff Si\n", si, 1000,
            new Dictionary<string, string> { ["pot.tersoff"] = tersoffFile });
        yield return new("eam", cu4000, cu32, ["-p", "eam:" + eam], "pair_style eam/alloy\npair_coeff * * pot.eam.alloy Cu\n", cu, 1000,
            new Dictionary<string, string> { ["pot.eam.alloy"] = eam });
        yield return new("pace (recursive)", cu4000, cu32, ["-m", ace], "pair_style pace recursive\npair_coeff * * pot.ace Cu\n", cu, 50,
            new Dictionary<string, string> { ["pot.ace"] = ace });
        yield return new("pace (product)", cu4000, cu32, ["-m", ace], "pair_style pace product\npair_coeff * * pot.ace Cu\n", cu, 50,
            new Dictionary<string, string> { ["pot.ace"] = ace });
        yield return new("mliap nn so3", si2000, si64, ["-m", nn + ".model"], "pair_style mliap model nn pot.mliap.model descriptor so3 pot.mliap.descriptor\npair_coeff * * Si\n", si, 50,
            new Dictionary<string, string> { ["pot.mliap.model"] = nn + ".model", ["pot.mliap.descriptor"] = nn + ".descriptor" });
        // models trained by Mlip (trained once by mlip train, cached), run by mlip md from their own files and by LAMMPS from the exported ones
        string mlearnTraining = Path.Combine(mlearn, "..", "training.json");
        if (selected("mlip-nn so4") && TrainedModels.Network(cli, mlearnTraining) is var (nnModel, nnMliap, nnDescriptor))
            yield return new("mlip-nn so4", si2000, si64, ["-m", nnModel], "pair_style mliap model nn pot.mliap.model descriptor sna pot.mliap.descriptor\npair_coeff * * Si\n", si, 50,
                new Dictionary<string, string> { ["pot.mliap.model"] = nnMliap, ["pot.mliap.descriptor"] = nnDescriptor });
        if (selected("mlip-fs-ace 327") && TrainedModels.FinnisSinclairAce(cli, mlearnTraining) is var (fsYace, fsAce))
            yield return new("mlip-fs-ace 327", si2000, si64, ["-m", fsYace], "pair_style pace recursive\npair_coeff * * pot.ace Si\n", si, 50,
                new Dictionary<string, string> { ["pot.ace"] = fsAce });
        // mlip descriptors so4 2J=6 with derivatives vs compute sna/atom + snad/atom + snav/atom on the same cell (one evaluation)
        yield return new("descriptors so4 2J=6", si2000, si8,
            ["--type", "so4", "--param", "twojmax=6", "--param", "rcutfac=4.9", "--param", "rfac0=0.99363", "--param", "rmin0=0", "--param", "bzeroflag=0", "--derivatives"],
            "pair_style zero 5.0\npair_coeff * *\ncompute b all sna/atom 4.9 0.99363 6 0.5 1.0 rmin0 0 switchflag 1 bzeroflag 0\n" +
            "compute db all snad/atom 4.9 0.99363 6 0.5 1.0 rmin0 0 switchflag 1 bzeroflag 0\ncompute vb all snav/atom 4.9 0.99363 6 0.5 1.0 rmin0 0 switchflag 1 bzeroflag 0\n" +
            "compute sb all reduce sum c_b[1] c_db[1] c_vb[1]\n", si, 0, new Dictionary<string, string>(), Descriptors: true);
        // mlip predict (energy, forces, stress of one cell, written as extxyz) vs LAMMPS run 0 (no loop: compare whole processes)
        yield return new("predict snap", si2000, si8, ["--model", snap + ".snapcoeff"], "pair_style snap\npair_coeff * * pot.snapcoeff pot.snapparam Si\n", si, 0,
            new Dictionary<string, string> { ["pot.snapcoeff"] = snap + ".snapcoeff", ["pot.snapparam"] = snap + ".snapparam" }, Predict: true);
    }

    private sealed record LammpsResult(double LoopSeconds, double WholeSeconds, double? FirstPe);

    private static LammpsResult RunLammps(Case c, int steps, string core)
    {
        // the mlearn .snapparam files carry "diagonalstyle 3", a keyword of older LAMMPS that today's refuses (3 is what it does)
        var files = c.Files.ToDictionary(kv => kv.Key, kv => kv.Key.EndsWith(".snapparam", StringComparison.Ordinal)
            ? string.Join('\n', File.ReadAllLines(kv.Value).Where(l => !l.TrimStart().StartsWith("diagonalstyle", StringComparison.Ordinal)))
            : File.ReadAllText(kv.Value));
        string thermo = c.Descriptors
            ? "thermo_style custom step c_sb[1] c_sb[2] c_sb[3]\nthermo 1\nrun 1\n"
            : c.Predict ? "thermo_style custom step pe press\nthermo_modify format float %.15g\nrun 0\n"
            : "velocity all create 300 12345\nfix 1 all nve\ntimestep 0.001\nthermo_style custom step pe\nthermo_modify format float %.15g\n" +
              $"thermo {steps}\nrun {steps}\n";
        var r = LammpsTiming.RunWhole(c.Cell, c.LammpsPair + c.Mass + thermo, files, core);
        // descriptors: thermo evaluates the computes at set-up (step 0) and again in the one-step loop; the whole process
        // that evaluates them once, as mlip descriptors does, is the whole run minus its loop
        return c.Descriptors ? new LammpsResult(r.LoopSeconds, r.WholeSeconds - r.LoopSeconds, null) : new LammpsResult(r.LoopSeconds, r.WholeSeconds, r.FirstPe);
    }

    private sealed record MlipResult(double Seconds, double? Energy, double? SerialFraction = null, string? Phases = null);

    /// <summary>One whole Mlip process under taskset; the energy of step 0 from its thermo log (md); with <paramref name="phaseTimes"/>, MLIP_PHASE_TIMES=1 and the serial fraction it prints.</summary>
    private static MlipResult RunMlip(string cli, Case c, Structure cell, int steps, string cores, bool phaseTimes = false)
    {
        string dir = Path.Combine(Path.GetTempPath(), "mlip-bench-whole", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cell.xyz"), new ExtXyzFormat().WriteString([cell]));
        var argv = new List<string> { "-c", cores, cli };
        if (c.Descriptors) argv.AddRange(["descriptors", "cell.xyz", .. c.MlipArgs, "-o", "out.npz"]);
        else if (c.Predict) argv.AddRange(["predict", .. c.MlipArgs, "cell.xyz", "-o", "out.xyz"]);
        else argv.AddRange(["md", "cell.xyz", .. c.MlipArgs, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--temperature", "300",
            "--log-every", steps.ToString(CultureInfo.InvariantCulture), "--log", "thermo.csv"]);
        var psi = new ProcessStartInfo("taskset") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in argv) psi.ArgumentList.Add(a);
        if (phaseTimes) psi.Environment["MLIP_PHASE_TIMES"] = "1";
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        double seconds = clock.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"mlip failed in {dir}: {err}{stdout.Result}");
        double? energy = null;
        if (c.Predict) energy = new ExtXyzFormat().Read(Path.Combine(dir, "out.xyz"))[0].Energy;
        else if (!c.Descriptors)
        {
            // step,time,T,pe,ke,...: the row of step 0
            var row = File.ReadLines(Path.Combine(dir, "thermo.csv")).Skip(1).First().Split(',');
            energy = double.Parse(row[3], CultureInfo.InvariantCulture);
        }
        Directory.Delete(dir, recursive: true);
        const string marker = "serial fraction of the loop thread's CPU ";
        double? serial = null;
        int at = err.IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0 && double.TryParse(err.AsSpan(at + marker.Length).ToString().Split(';')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double sf)) serial = sf;
        return new MlipResult(seconds, energy, serial, phaseTimes ? err : null);
    }

    /// <summary>
    /// With several cores, one more (untimed) run on them with MLIP_PHASE_TIMES=1: per thread of the worker pool the CPU
    /// running blocks, against the one-core runs' CPU in parallel loops (the same work: a sum above it is work the threads
    /// add by sharing, e.g. cache lines that move between the cores), the blocks a thread took from the other's range, and
    /// the worker's CPU outside blocks (spinning between regions: why the process CPU of two threads is about twice the wall).
    /// </summary>
    private static string PoolLine(string cli, Case c, int steps, string cores, IReadOnlyList<MlipResult> ones)
    {
        var run = RunMlip(cli, c, c.Cell, steps, cores, phaseTimes: true);
        var oneParallel = ones.Select(o => PhaseNumbers(o.Phases, "  all phases")).Where(v => v.Length >= 2).Select(v => v[1]).ToList();
        var oneProcess = ones.Select(o => PhaseNumbers(o.Phases, "process CPU")).Where(v => v.Length >= 1).Select(v => v[0]).ToList();
        var caller = PhaseNumbers(run.Phases, "  pool, loop thread:");
        var worker = PhaseNumbers(run.Phases, "  pool, worker 1:");
        var process = PhaseNumbers(run.Phases, "process CPU");
        if (caller.Length < 4 || worker.Length < 6 || oneParallel.Count == 0 || process.Length < 2) return $"  {c.Name}: no pool figures on {cores}";
        double sum = caller[0] + worker[0], one = Median(oneParallel);
        return string.Create(CultureInfo.InvariantCulture,
            $"  {c.Name} on {cores}, one run with MLIP_PHASE_TIMES=1, ms per step: CPU running blocks {caller[0]:F3} (loop thread) + {worker[0]:F3} (worker) = {sum:F3}, " +
            $"{sum / one:F2}x the {one:F3} in parallel loops on one core; worker's share {worker[0] / Math.Max(1e-12, sum):P0}; blocks taken from the other's range {caller[3] + worker[3]:F1} of {caller[2] + caller[3] + worker[2] + worker[3]:F1}; " +
            $"worker outside blocks {worker[5]:F3}; process CPU {process[0]:F3} (one core {Median(oneProcess):F3}), wall {process[1]:F3}");
    }

    /// <summary>The numbers on the line of <paramref name="phases"/> that starts with (or, for "process CPU", contains) <paramref name="start"/>, after it.</summary>
    private static double[] PhaseNumbers(string? phases, string start)
    {
        if (phases is null) return [];
        foreach (var line in phases.Split('\n'))
        {
            int at = line.IndexOf(start, StringComparison.Ordinal);
            if (at < 0 || (at > 0 && start.StartsWith(' '))) continue;
            return System.Text.RegularExpressions.Regex.Matches(line[(at + start.Length)..], @"(?<![\w/])-?\d+(\.\d+)?(?![\w/])")
                .Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture)).ToArray();
        }
        return [];
    }

    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "Mlip.slnx"))) d = d.Parent;
        return d?.FullName ?? Directory.GetCurrentDirectory();
    }

    /// <summary>The CLI executable of this checkout (./mlip builds it); null when it has not been built.</summary>
    private static string? FindCli()
    {
        return CliExecutable.Find(RepoRoot());
    }

    private static T Arg<T>(string[] args, string name, T fallback) where T : IParsable<T>
    {
        int k = Array.IndexOf(args, name);
        return k >= 0 && k + 1 < args.Length ? T.Parse(args[k + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
