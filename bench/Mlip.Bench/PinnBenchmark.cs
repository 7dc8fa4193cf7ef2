using System.Diagnostics;
using System.Globalization;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// PINN benchmarks (docs/pinn.md):
/// <c>pinn time [--cells 3] [--repeats 5] [--nn M.json --pinn M.json]</c>: force-call time per atom of a PINN next to a
/// plain network on the same features and cell, single thread, split into features, network, BOP and contraction;
/// <c>pinn eos NN.json PINN.json DATA.json... -o DIR</c>: diamond Si equations of state (0.7-1.3 V0) of both models with
/// the DFT points of the data's Elastic group, as CSV and PNG.
/// </summary>
public static class PinnBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "eos") { Eos(args[1..]); return; }
        if (args.Length > 0 && args[0] == "time") args = args[1..];
        Time(args);
    }

    private static string? Option(string[] args, string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }

    private static (Potential Nn, Potential Pinn) RandomModels()
    {
        var parameters = new Dictionary<string, string> { ["rc"] = "4.0", ["dc"] = "1.5", ["width"] = "0.7", ["centres"] = "2.3,3.0,3.7,4.4,5.1", ["orders"] = "0,1,2,4", ["elements"] = "Si" };
        var spec = new DescriptorSpec("pinn", parameters);
        var d = spec.Create(["Si"]);
        var rng = new Random(1);
        var pinn = PinnModel.PlainBop([14], d.FeatureCount, 4.0, 1.5, [[7.9, 3.1, 5.5, 1.9, -0.33, 2.5, 0.5, 1.5]], [16, 16], Activation.Tanh, rng);
        foreach (var l in pinn.Networks[0].Layers[^1].Weights.AsSpan().ToArray().Select((_, q) => q)) pinn.Networks[0].Layers[^1].Weights[l] = 0.01 * (rng.NextDouble() - 0.5);
        var mlp = Mlp.Create(d.FeatureCount, [16, 16], Activation.Tanh, rng);
        var nn = new NeuralNetworkModel([14], d.FeatureCount, [mlp], [-5.4], new double[d.FeatureCount], Enumerable.Repeat(1.0, d.FeatureCount).ToArray());
        return (new Potential(d, nn, spec), new Potential(d, pinn, spec));
    }

    private static void Time(string[] args)
    {
        int cells = int.Parse(Option(args, "--cells") ?? "3", Inv);
        int repeats = int.Parse(Option(args, "--repeats") ?? "5", Inv);
        var (nn, pinn) = RandomModels();
        if (Option(args, "--nn") is { } a) nn = ModelFile.Load(a);
        if (Option(args, "--pinn") is { } b) pinn = ModelFile.Load(b);
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.468), cells, cells, cells), 0.1, 3);
        int n = s.Count;
        Console.WriteLine($"cell: diamond Si {cells}x{cells}x{cells}, {n} atoms, rattled 0.1 Å; single thread; best of {repeats}");
        Console.WriteLine($"PINN: {pinn.Name}; NN: {nn.Name}");

        double Best(Action act)
        {
            act();
            double best = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                act();
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
            }
            return best * 1000 / n; // µs per atom
        }

        var model = (PinnModel)pinn.Model;
        var d = pinn.Descriptor;
        NeighborList nl = NeighborList.Build(s, Math.Max(d.Cutoff, model.GeometryCutoff));
        DescriptorSet set = d.Compute(s, true, nl);
        int k = d.FeatureCount, size = model.Layout.SetSize;
        var dEdX = new double[n * k];
        var pAll = new double[n * size];
        var gpAll = new double[n * size];
        var ws = new PinnModel.Workspace(model);
        var kernel = new PinnBopKernel(1, model.Cutoff, model.CutoffRange);
        var types = new int[nl.PairCount];
        var grad = new Vec3[nl.PairCount];

        double tList = Best(() => nl = NeighborList.Build(s, Math.Max(d.Cutoff, model.GeometryCutoff)));
        double tFeatures = Best(() => set = d.Compute(s, true, nl));
        double tForward = Best(() =>
        {
            for (int i = 0; i < n; i++)
            {
                var p = pAll.AsSpan(i * size, size);
                model.Forward(0, set.Of(i), p, ws);
                for (int q = 0; q < size; q++) p[q] += model.BaseParameters[0][q];
            }
        });
        double tBop = Best(() =>
        {
            var sum = new ForceSum(n);
            for (int i = 0; i < n; i++)
            {
                int start = nl.Offsets[i], m = nl.NeighborCount(i);
                kernel.Energy(pAll.AsSpan(i * size, size), nl.VectorsOf(i), nl.DistancesOf(i), types.AsSpan(start, m), grad.AsSpan(start, m), gpAll.AsSpan(i * size, size));
                for (int a = 0; a < m; a++) sum.Add(i, nl.Neighbors[start + a], nl.Vectors[start + a], grad[start + a]);
            }
        });
        double tBackward = Best(() =>
        {
            for (int i = 0; i < n; i++)
            {
                model.Forward(0, set.Of(i), pAll.AsSpan(i * size, size), ws); // the backward pass needs this atom's activations
                model.Backward(0, gpAll.AsSpan(i * size, size), dEdX.AsSpan(i * k, k), ws);
            }
        }) - tForward;
        double tContract = Best(() => ForceContraction.Contract(set, dEdX, s.Volume));
        double tPinn = Best(() => pinn.Calculate(s));

        var nnModel = (NeuralNetworkModel)nn.Model;
        var e = new double[n];
        double tNnFeatures = Best(() => set = nn.Descriptor.Compute(s, true));
        double tNnNet = Best(() => nnModel.Evaluate(set.Values, s.AtomicNumbers, e, dEdX));
        double tNnContract = Best(() => ForceContraction.Contract(set, dEdX, s.Volume));
        double tNn = Best(() => nn.Calculate(s));

        Console.WriteLine();
        Console.WriteLine("µs per atom per force call     PINN      NN");
        Console.WriteLine(string.Create(Inv, $"neighbour list (1.5 Rc)    {tList,8:F1}       -"));
        Console.WriteLine(string.Create(Inv, $"features + derivatives     {tFeatures,8:F1} {tNnFeatures,7:F1}   (NN: incl. its list)"));
        Console.WriteLine(string.Create(Inv, $"network forward            {tForward,8:F1} {tNnNet,7:F1}   (NN: forward + backward)"));
        Console.WriteLine(string.Create(Inv, $"BOP energy, dE/dr, dE/dp   {tBop,8:F1}       -"));
        Console.WriteLine(string.Create(Inv, $"network backward           {tBackward,8:F1}       -"));
        Console.WriteLine(string.Create(Inv, $"feature contraction        {tContract,8:F1} {tNnContract,7:F1}"));
        Console.WriteLine(string.Create(Inv, $"whole force call           {tPinn,8:F1} {tNn,7:F1}   ratio PINN/NN {tPinn / tNn:F2}"));
    }

    /// <summary>E/atom of diamond Si at volumes V0·f for each model; DFT points from the data's Elastic group.</summary>
    private static void Eos(string[] args)
    {
        string outDir = Option(args, "-o") ?? "eos";
        var files = args.Where((a, i) => !a.StartsWith('-') && (i == 0 || args[i - 1] != "-o")).ToArray();
        var nn = ModelFile.Load(files[0]);
        var pinn = ModelFile.Load(files[1]);
        var data = StructureIO.ReadAll(files[2..], null, Mlip.IO.ValidationOptions.Default);
        var elastic = data.Where(s => s.Group == "Elastic" && s.Energy is not null).ToList();
        Directory.CreateDirectory(outDir);
        // V0: the DFT Elastic cell of lowest energy per atom
        var v0Cell = elastic.OrderBy(s => s.Energy!.Value / s.Count).First();
        double v0 = v0Cell.Volume / v0Cell.Count;
        double a0 = Math.Cbrt(8 * v0);
        var fractions = Enumerable.Range(0, 61).Select(q => 0.7 + 0.01 * q).ToArray();
        var eNn = new double[fractions.Length]; var ePinn = new double[fractions.Length];
        for (int q = 0; q < fractions.Length; q++)
        {
            var s = Crystals.Diamond("Si", a0 * Math.Cbrt(fractions[q]));
            eNn[q] = nn.Calculate(s, false, false).Energy / s.Count;
            ePinn[q] = pinn.Calculate(s, false, false).Energy / s.Count;
        }
        var dftV = elastic.Select(s => s.Volume / s.Count / v0).ToArray();
        var dftE = elastic.Select(s => s.Energy!.Value / s.Count).ToArray();
        // uniaxial cells: F = C0⁻¹ C, A = F Fᵀ − I of rank one (‖A‖² = (tr A)²): strain along one direction only
        var c0Inverse = v0Cell.Cell.Inverse();
        bool Isotropic(Structure s)
        {
            var f = c0Inverse * s.Cell;
            var a = f * f.Transpose() - Matrix3.Identity;
            double norm2 = a.ToArray().Sum(x => x * x), tr = a.Trace;
            return Math.Abs(norm2 - tr * tr) <= 1e-6 + 1e-3 * norm2;
        }
        var iso = elastic.Select(Isotropic).ToArray();
        AtomicFile.WriteText(Path.Combine(outDir, "eos.csv"), w =>
        {
            w.WriteLine("v_over_v0,nn_ev_per_atom,pinn_ev_per_atom");
            for (int q = 0; q < fractions.Length; q++) w.WriteLine(string.Create(Inv, $"{fractions[q]:F3},{eNn[q]:R},{ePinn[q]:R}"));
        });
        AtomicFile.WriteText(Path.Combine(outDir, "eos-dft.csv"), w =>
        {
            w.WriteLine("v_over_v0,dft_ev_per_atom,hydrostatic");
            for (int q = 0; q < dftV.Length; q++) w.WriteLine(string.Create(Inv, $"{dftV[q]:F4},{dftE[q]:R},{(iso[q] ? 1 : 0)}"));
        });
        var plt = new ScottPlot.Plot();
        int from = Array.FindIndex(fractions, f => f >= 0.8 - 1e-9);
        var sNn = plt.Add.Scatter(fractions[from..], eNn[from..]); sNn.LegendText = "NN"; sNn.MarkerSize = 0; sNn.LineWidth = 2;
        var sP = plt.Add.Scatter(fractions[from..], ePinn[from..]); sP.LegendText = "PINN"; sP.MarkerSize = 0; sP.LineWidth = 2;
        var sD = plt.Add.ScatterPoints(dftV.Where((_, q) => iso[q]).ToArray(), dftE.Where((_, q) => iso[q]).ToArray());
        sD.LegendText = "DFT, uniaxial strain (mlearn Elastic)"; sD.MarkerSize = 8; sD.Color = ScottPlot.Colors.Black;
        var sO = plt.Add.ScatterPoints(dftV.Where((_, q) => !iso[q]).ToArray(), dftE.Where((_, q) => !iso[q]).ToArray());
        sO.LegendText = "DFT, sheared cells"; sO.MarkerSize = 4; sO.Color = ScottPlot.Colors.Gray;
        // the models on the same uniaxial DFT cells
        var isoCells = elastic.Where((_, q) => iso[q]).ToArray();
        var mNn = plt.Add.ScatterPoints(isoCells.Select(c => c.Volume / c.Count / v0).ToArray(), isoCells.Select(c => nn.Calculate(c, false, false).Energy / c.Count).ToArray());
        mNn.LegendText = "NN on the uniaxial cells"; mNn.MarkerSize = 7; mNn.MarkerShape = ScottPlot.MarkerShape.OpenCircle; mNn.Color = sNn.Color;
        var mP = plt.Add.ScatterPoints(isoCells.Select(c => c.Volume / c.Count / v0).ToArray(), isoCells.Select(c => pinn.Calculate(c, false, false).Energy / c.Count).ToArray());
        mP.LegendText = "PINN on the uniaxial cells"; mP.MarkerSize = 7; mP.MarkerShape = ScottPlot.MarkerShape.OpenSquare; mP.Color = sP.Color;
        plt.Title($"Diamond Si: hydrostatic EOS (lines) and uniaxial cells (V0 = {v0:F2} Å³/atom)");
        plt.XLabel("V / V0");
        plt.YLabel("E (eV/atom)");
        plt.ShowLegend(ScottPlot.Alignment.UpperCenter);
        Mlip.Reporting.Plots.Save(plt, Path.Combine(outDir, "eos.png"));
        Console.WriteLine(string.Create(Inv, $"V0 = {v0:F3} Å³/atom (a0 = {a0:F4} Å); {elastic.Count} DFT points ({iso.Count(b => b)} uniaxial); wrote {outDir}/eos.csv, eos-dft.csv, eos.png"));
        // error on the uniaxial DFT cells themselves
        double errNn = 0, errPinn = 0; int nIso = 0;
        for (int q = 0; q < dftV.Length; q++)
        {
            if (!iso[q]) continue;
            var s = elastic[q];
            errNn += Math.Abs(nn.Calculate(s, false, false).Energy / s.Count - dftE[q]);
            errPinn += Math.Abs(pinn.Calculate(s, false, false).Energy / s.Count - dftE[q]);
            nIso++;
        }
        if (nIso > 0) Console.WriteLine(string.Create(Inv, $"MAE on the {nIso} uniaxial DFT cells (V/V0 {dftV.Where((_, q) => iso[q]).Min():F2}..{dftV.Where((_, q) => iso[q]).Max():F2}): NN {1000 * errNn / nIso:F1} meV/atom, PINN {1000 * errPinn / nIso:F1} meV/atom"));
        Console.WriteLine("V/V0     NN (eV/atom)  PINN (eV/atom)");
        foreach (int q in new[] { 0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60 })
            Console.WriteLine(string.Create(Inv, $"{fractions[q],5:F2}  {eNn[q],12:F4}  {ePinn[q],14:F4}"));
        bool Monotonic(double[] e, int upTo) { for (int q = 1; q <= upTo; q++) if (!(e[q] < e[q - 1])) return false; return true; }
        int min = Array.IndexOf(fractions, fractions.First(f => f >= 0.95));
        Console.WriteLine($"0.7..0.95 V0 energy decreasing with volume (repulsive, monotonic): NN {Monotonic(eNn, min)}, PINN {Monotonic(ePinn, min)}");
        Console.WriteLine(string.Create(Inv, $"E(0.7 V0) - E(V0): NN {eNn[0] - eNn[30]:F3} eV/atom, PINN {ePinn[0] - ePinn[30]:F3} eV/atom"));
    }
}
