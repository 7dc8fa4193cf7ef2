using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// SO(4) bispectrum on a 2000-atom rattled diamond-Si cell (a = 5.431 Å, ±0.05 Å), rc 4.9,
/// rfac0 0.99363, single thread: values only, values + derivative blocks (what compute
/// sna + snad + snav give), and the adjoint force path (what pair_style snap does).
/// LAMMPS's figures on this machine kind (../shared/data/reference-timings.md) are printed beside.
/// For B + dB + virial LAMMPS is timed two ways: its three per-atom computes (sna/atom, snad/atom, snav/atom),
/// each of which redoes the expansion, and <c>compute snap</c>, the one-pass design-matrix compute FitSNAP uses,
/// which is what LAMMPS needs at best for the same numbers; the ratio column is against the better of the two.
/// </summary>
public static class So4Benchmark
{
    private static readonly Dictionary<int, (double Sna, double Full, double Snap)> Lammps = new()
    {
        [6] = (22.5, 210.7, double.NaN),
        [8] = (double.NaN, 525.4, 132.6),
    };

    public static void Run(string[] args)
    {
        int[] twojs = args.Contains("--quick") ? [6] : [6, 8];
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 10), 0.05, 12345);
        bool lammps = LammpsTiming.Executable is not null;
        Console.WriteLine($"SO(4) bispectrum, {s.Count}-atom rattled diamond Si, rc 4.9, rfac0 0.99363, single thread, µs per atom");
        Console.WriteLine(lammps ? "LAMMPS measured in this run (scripts/build-lammps.sh)" : "LAMMPS not built: its figures come from ../shared/data/reference-timings.md");
        Console.WriteLine($"{"2J",3} {"K",4} {"B only",8} {"LAMMPS sna",11} {"B+dB+virial",12} {"LAMMPS sna+snad+snav",21} {"LAMMPS compute snap",20} {"ratio",6} {"adjoint F",10} {"LAMMPS snap",12} {"ratio",6}");
        foreach (int twoj in twojs)
        {
            var d = new BispectrumSo4(new So4Parameters { TwoJMax = twoj, RcutFac = 4.9, Rfac0 = 0.99363, BzeroFlag = false });
            var nl = Mlip.Neighbors.NeighborList.Build(s, d.Cutoff);
            double tv = Time(() => d.Compute(s, false, nl), s.Count);
            double td = Time(() =>
            {
                var set = d.Compute(s, true, nl);
                Mlip.Models.ForceContraction.Contract(set, new double[set.Values.Length], s.Volume); // virial pass
            }, s.Count);
            var rng = new Random(1);
            var coeff = new double[d.FeatureCount];
            for (int q = 0; q < coeff.Length; q++) coeff[q] = 0.01 * (rng.NextDouble() - 0.5);
            var beta = new double[s.Count * d.FeatureCount];
            for (int i = 0; i < s.Count; i++) Array.Copy(coeff, 0, beta, i * coeff.Length, coeff.Length);
            double ta = Time(() => d.ForcesFromAdjoint(s, beta, Mlip.Neighbors.NeighborList.Build(s, d.Cutoff)), s.Count);

            var (lSna, lFull, lSnap) = Lammps.GetValueOrDefault(twoj, (double.NaN, double.NaN, double.NaN));
            double lOnePass = double.NaN;
            if (lammps)
            {
                string sna = $"4.9 0.99363 {twoj} 0.5 1.0 rmin0 0 switchflag 1 bzeroflag 0";
                string head = "pair_style zero 5.0\npair_coeff * *\n";
                lSna = 1e6 * LammpsTiming.SecondsPerStep(s, head + $"compute b all sna/atom {sna}\ncompute sb all reduce sum c_b[1]\nthermo_style custom step c_sb\nthermo 1\nrun 5\n")!.Value / s.Count;
                lFull = 1e6 * LammpsTiming.SecondsPerStep(s, head + $"compute b all sna/atom {sna}\ncompute db all snad/atom {sna}\ncompute vb all snav/atom {sna}\n" +
                    "compute sb all reduce sum c_b[1] c_db[1] c_vb[1]\nthermo_style custom step c_sb[1] c_sb[2] c_sb[3]\nthermo 1\nrun 3\n")!.Value / s.Count;
                // compute snap: B, dB and the virial rows of the whole cell in one pass (a global array, fitted by FitSNAP)
                lOnePass = 1e6 * LammpsTiming.SecondsPerStep(s, head + $"compute b all snap {sna}\n" +
                    "thermo_style custom step pe press c_b[1][1]\nthermo 1\nrun 3\n")!.Value / s.Count;
                var coeffText = new System.Text.StringBuilder($"# random coefficients\n1 {coeff.Length + 1}\nSi 0.5 1.0\n0.0\n");
                foreach (double c in coeff) coeffText.Append(c.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                var files = new Dictionary<string, string>
                {
                    ["Si.snapcoeff"] = coeffText.ToString(),
                    ["Si.snapparam"] = $"rcutfac 4.9\ntwojmax {twoj}\nrfac0 0.99363\nrmin0 0\nswitchflag 1\nbzeroflag 0\nquadraticflag 0\n",
                };
                lSnap = 1e6 * LammpsTiming.SecondsPerStep(s, "pair_style snap\npair_coeff * * Si.snapcoeff Si.snapparam Si\nmass 1 28.0855\nvelocity all create 300 1\nfix 1 all nve\nthermo 10\nrun 10\n", files)!.Value / s.Count;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{twoj,3} {d.FeatureCount,4} {tv,8:F1} {lSna,11:F1} {td,12:F1} {lFull,21:F1} {lOnePass,20:F1} {td / (double.IsNaN(lOnePass) ? lFull : Math.Min(lFull, lOnePass)),6:F2} {ta,10:F1} {lSnap,12:F1} {ta / lSnap,6:F2}"));
        }
    }

    /// <summary>Median µs per atom over a few runs after a warm-up.</summary>
    private static double Time(Action run, int atoms)
    {
        run();
        var t = new List<double>();
        var total = Stopwatch.StartNew();
        while (t.Count < 3 || (t.Count < 7 && total.Elapsed.TotalSeconds < 10))
        {
            var sw = Stopwatch.StartNew();
            run();
            t.Add(sw.Elapsed.TotalMilliseconds * 1000 / atoms);
        }
        t.Sort();
        return t[t.Count / 2];
    }
}
