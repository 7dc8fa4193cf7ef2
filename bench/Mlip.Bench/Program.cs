using Mlip.Bench;

// Benchmarks are run by hand (not by the tests): dotnet run -c Release --project bench/Mlip.Bench -- neighbors
var which = args.Length > 0 ? args[0] : "help";
// the benchmarks that report single-thread figures keep the force and descriptor passes on one thread (they are parallel over atoms otherwise)
using var singleThread = which is "so4" or "mliap" or "md" or "pinn" ? Mlip.Validation.MlipParallel.LimitThreads(1) : null;
switch (which)
{
    case "neighbors":
        NeighborListBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "descriptors":
        DescriptorsBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fits":
        FitBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "lstsq":
        LeastSquaresBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "so4":
        So4Benchmark.Run(args.Skip(1).ToArray());
        break;
    case "mliap":
        MliapBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "md":
        MdBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "whole":
        WholeRunBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "ace":
        AceBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "ace-grade":
        AceGradeBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "ace-basis":
        AceBenchmark.Basis(args.Skip(1).ToArray());
        break;
    case "peratom":
        PerAtomBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "pinn":
        PinnBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "random-crystals":
        RandomCrystalBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "uncertainty":
        UncertaintyBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "python":
        PythonBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "mpi":
        MpiBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "merge":
        MergeBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "scale":
        ScaleBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "scale-run":
        ScaleBenchmark.RunChild(args.Skip(1).ToArray());
        break;
    case "fit-memory":
        FitDesignMemoryBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fit-fs":
        FitFsBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fit-ladder":
        FitLadderBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fit-average":
        FitAverageBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fit-robust":
        FitRobustBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "fuzz":
        FuzzBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "labelling":
        LabellingBenchmark.Run(args.Skip(1).ToArray());
        break;
    default:
        Console.WriteLine("usage: dotnet run -c Release --project bench/Mlip.Bench -- <benchmark>");
        Console.WriteLine("  neighbors [--quick]   neighbour-list build time, 1k/10k/100k-atom diamond Si, rc 5 Å, vs brute force");
        Console.WriteLine("  descriptors [--no-dataset]  every descriptor on 64-atom Si vs PyXtal_FF; mlearn Si training set, 1 and 2 threads, memory");
        Console.WriteLine("  fits [--mathnet-quadratic]  linear and quadratic fits of the mlearn Si set: build, torch solve vs MathNet, test errors");
        Console.WriteLine("  mpi [--ranks 2] [--config examples/si-quadratic-qsnap.yaml] [--in-memory] [--replicas K] [--phases] [--copies] [--no-handover]  mpirun -n N mlip train (N ranks x 1 thread) vs 1 process x 1 thread, each with a fresh descriptor store (or none): speed-up, CPU of all ranks, memory, model difference; --phases: every rank's phase lines; --copies: N independent 1-thread runs at once, one per core, against one alone (the ceiling of the speed-up on this machine); --no-handover: the ranks without the rows' handover (MLIP_MPI_HANDOVER=0; on by default)");
        Console.WriteLine("  merge [--factors FILE.tsqr] [--columns 1596] [--threads 1] [--repeats 3]  merge of two TSQR triangles and the factored solve: dense QR vs the structured triangle merge, wall and CPU, ratios, differences");
        Console.WriteLine("  fit-memory [--level 2] [--rc 5.5] [--family ace|quadratic|linear] [--twoj 6] [--structures 40 (0: all)] [--threads 2] [--estimate-only]  one basis of mlip fit on a subset of mlearn Si: the search's memory estimate vs the peak resident memory of the build and the solves");
        Console.WriteLine("  fit-fs [--model fit/model.json] [--level 1] [--wf 0.0173] [--ridge 1e-5] [--s 0] [--iterations 30] [--threads 1] [--structures N] [--yace OUT]  the FS stage of mlip fit alone: an FS density on a ladder level over the residuals of a linear ACE model, train and test errors before and after");
        Console.WriteLine("  fit-ladder [--level 2] [--nmax 24,8,5,3] [--lmax 0,4,3,2] [--order 4] [--radial SBessel] [--rc 5.5] [--threads 1] [-o DIR] [--resume] [--quick]  the search of mlip fit on ACE levels 0..level at one cut-off, level's basis replaced (this process only): validation errors per candidate in DIR/report.json");
        Console.WriteLine("  fit-average --report DIR/report.json|fit-checkpoint.json [--basis 'ace L2 rc 5.5'] [--k 5] [--step 0.1] [--threads 1]  weighted means of the coefficients of a basis's best candidates (of a finished mlip fit), validation errors on the search's folds");
        Console.WriteLine("  fit-robust [--level 2] [--rc 5.5] [--wf 0.01] [--ridge 1e-10] [--ws 1e-4] [--s 0] [--k 1.345] [--iterations 3] [--threads 1]  a Huber force loss (IRLS) on one basis of mlip fit, validation errors on the search's folds per iteration (lists: comma-separated)");
        Console.WriteLine("  lstsq [--rows 20000] [--cols 500] [--threads N] [--no-mathnet]  dense least squares: libtorch QR vs MathNet.Numerics managed QR");
        Console.WriteLine("  so4 [--quick]         SO(4) bispectrum values, derivatives and adjoint forces, 2000 atoms, 2J=6 and 8, vs LAMMPS");
        Console.WriteLine("  mliap [--quick]       PyXtal_FF Si network (SO(3) NN) force call, 2000 atoms, vs LAMMPS pair_style mliap");
        Console.WriteLine("  peratom [--threads N]  per-atom OLCAO target: data-set generation, target vs SW cost, multi-range vs single SO(4) descriptor time, fit/predict of linear, nn, gpr");
        Console.WriteLine("  md [--steps 200] [--skin 1.0] [--cells 8]  NVE MD, Stillinger-Weber Si, 4096 atoms, µs/atom/step, fresh vs reused neighbour list, vs LAMMPS pair_style sw");
        Console.WriteLine("  pinn [time] [--cells 3] [--nn M --pinn M]  PINN vs NN force-call µs/atom on the same cell and features, split into features, network, BOP");
        Console.WriteLine("  pinn eos NN.json PINN.json DATA.json... -o DIR  diamond Si EOS 0.7-1.3 V0 of both models with the data's Elastic-group DFT points (PNG, CSV)");
        Console.WriteLine("  whole [--cores 0|0,1] [--repeat K] [--steps-scale 1] [--only snap,qsnap,sw,...]  whole mlip md / descriptors processes vs whole lmp processes on the same cells: loop and whole-process µs/atom-step, ratios, step-0 energies of both (1e-8); K interleaved 1-core/multi-core repetitions (default 5 short, 3 long), medians and spread");
        Console.WriteLine("  ace [--cells 10] [--repeats 3]  force call of Cu-PBE-core-rep.ace on 4000-atom rattled fcc Cu vs Mlip's linear SNAP (Zuo Cu), µs/atom-step, ratio");
        Console.WriteLine("  ace-grade [--cells 10] [--repeats 3] [--training 14]  ACE extrapolation grade: active-set build, then γ of a 4000-atom Cu cell vs the force call, µs/atom, ratio");
        Console.WriteLine("  ace-basis [--order 3] [--nmax 8,6,4] [--lmax 0,4,3] [--degree D] [--wl 1.5]  size of a linear ACE basis");
        Console.WriteLine("  uncertainty [sw|tersoff] [--no-nn]  Spearman correlation of uncertainty with validation force error, per model kind");
        Console.WriteLine("  fuzz [--count 3000] [--seed 1] [--format extxyz,poscar,...] [--hang 60]  seeded mutants of real files through every structure reader, validation, neighbour list, summary: counts per outcome");
        Console.WriteLine("  python [--calls 1000] [--model M]  per-call overhead of Python's MlipCalculator (ASE, socket, mlip serve) vs the same calls in-process from C#");
        Console.WriteLine("  scale [--replicas 1,4,16,64] [--models ace,quadratic,nn] [--threads 1] [--no-in-memory] [--no-reuse]  mlearn Si replicated: peak memory, store disk, wall and CPU time of streamed fits (child process per case), coefficients vs the in-memory fit, store reuse");
        Console.WriteLine("  labelling [--count 20]  the learn loop's labeller, a command sleeping 1 s per structure: parallel 1, 2, 4 jobs, wall time and ratio");
        Console.WriteLine("  random-crystals [--quick]  random symmetric Ga12As12 cells in every group that fits: mean ms per cell, failure rate per group");
        break;
}
