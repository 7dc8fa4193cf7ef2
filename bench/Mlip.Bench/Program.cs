using Mlip.Bench;

// Benchmarks are run by hand (not by the tests): dotnet run -c Release --project bench/Mlip.Bench -- neighbors
var which = args.Length > 0 ? args[0] : "help";
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
    case "md":
        MdBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "random-crystals":
        RandomCrystalBenchmark.Run(args.Skip(1).ToArray());
        break;
    case "uncertainty":
        UncertaintyBenchmark.Run(args.Skip(1).ToArray());
        break;
    default:
        Console.WriteLine("usage: dotnet run -c Release --project bench/Mlip.Bench -- <benchmark>");
        Console.WriteLine("  neighbors [--quick]   neighbour-list build time, 1k/10k/100k-atom diamond Si, rc 5 Å, vs brute force");
        Console.WriteLine("  descriptors [--no-dataset]  every descriptor on 64-atom Si vs PyXtal_FF; mlearn Si training set, 1 and 2 threads, memory");
        Console.WriteLine("  fits [--mathnet-quadratic]  linear and quadratic fits of the mlearn Si set: build, torch solve vs MathNet, test errors");
        Console.WriteLine("  lstsq [--rows 20000] [--cols 500] [--threads N] [--no-mathnet]  dense least squares: libtorch QR vs MathNet.Numerics managed QR");
        Console.WriteLine("  so4 [--quick]         SO(4) bispectrum values, derivatives and adjoint forces, 2000 atoms, 2J=6 and 8, vs LAMMPS");
        Console.WriteLine("  md [--steps 200] [--skin 1.0] [--cells 8]  NVE MD, Stillinger-Weber Si, 4096 atoms, µs/atom/step, fresh vs reused neighbour list, vs LAMMPS pair_style sw");
        Console.WriteLine("  uncertainty [sw|tersoff] [--no-nn]  Spearman correlation of uncertainty with validation force error, per model kind");
        Console.WriteLine("  random-crystals [--quick]  random symmetric Ga12As12 cells in every group that fits: mean ms per cell, failure rate per group");
        break;
}
