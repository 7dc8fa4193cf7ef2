using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models.Uncertainty;
using Mlip.Validation;
using Mlip.Training.Streaming;

namespace Mlip.Training;

/// <summary>Settings of <c>model: {kind: ace}</c> (docs/ace.md).</summary>
public sealed record AceSettings
{
    [Setting("ridge", "λ0 of the smoothness prior λ0·(d/d_min)^smoothness on the basis functions' coefficients", Min = 0)]
    public double Ridge { get; init; } = 1e-10;

    [Setting("smoothness", "exponent s of the smoothness prior", Min = 0)]
    public double Smoothness { get; init; } = 2;

    [Setting("solver", "least-squares solver: default (libtorch QR when available, else managed), torch, torch-normal, managed", Choices = ["default", "torch", "qr", "torch-normal", "normal", "managed"])]
    public string Solver { get; init; } = "default";

    [Setting("embedding", "linear (one density, E = rho) or fs (Finnis-Sinclair embedding of several densities, fitted from the linear fit)", Choices = ["linear", "fs"])]
    public string Embedding { get; init; } = "linear";

    [Setting("fs_parameters", "fs: the Finnis-Sinclair embedding as pairs (weight, exponent) per density")]
    public double[] FsParameters { get; init; } = [1, 1, 1, 0.5];

    [Setting("optimizer", "fs: lm (Levenberg-Marquardt) or lbfgs", Choices = ["lm", "levenberg-marquardt", "lbfgs", "l-bfgs"])]
    public string Optimizer { get; init; } = "lm";

    [Setting("iterations", "fs: at most this many optimiser iterations", Min = 1, DefaultText = "100 with lm, 200 with lbfgs")]
    public int? Iterations { get; init; }

    [Setting("tolerance", "fs: relative loss change that ends the fit", Min = 0)]
    public double Tolerance { get; init; } = 1e-9;

    [Setting("initial_scale", "fs: scale of the random start of the further densities' coefficients", Min = 0, DefaultText = "0 with lm, 0.05 with lbfgs")]
    public double? InitialScale { get; init; }

    [Setting("fs_ridge", "fs: λ of the Tikhonov regulariser on the densities' coefficients (best of 0 ... 1e-7 on mlearn Si)", Min = 0)]
    public double FsRidge { get; init; } = TrainingRun.DefaultFsRidge;
}

/// <summary>Atomic cluster expansion on the ace descriptor: a linear fit, optionally followed by a Finnis-Sinclair embedding fit (a PACE potential).</summary>
public sealed class AceKind : ModelKind<AceSettings>
{
    public override string Name => "ace";
    public override string Doc => "atomic cluster expansion (needs the ace descriptor): linear fit with a smoothness prior, optionally an fs embedding (saved as model.yace)";
    public override string? Descriptor => "ace";
    public override bool NeedsTrainingSet => false;
    public override bool Refittable => true;
    /// <summary>Both split over MPI ranks: the linear ACE (its factors merged), and the Finnis-Sinclair embedding fit (its normal equations or gradient summed over the ranks' blocks).</summary>
    public override bool Distributes(object settings) => true;
    public override bool Streams(object settings) => true;
    /// <summary>A linear ACE is saved as a "linear" model over the ace descriptor (and as .yace); a nonlinear one only as .yace.</summary>
    public override ModelCodec? Codec => null;
    public override string UncertaintyName => "ace extrapolation grade max gamma";

    /// <summary>The ACE extrapolation grade over the training structures: on the B-projections of a linear ACE, on the FS projections F'(ρ_p) B_f of every density of an FS-ACE.</summary>
    public override IUncertaintyEstimator Uncertainty(Potential potential, TrainingSet set) =>
        AceExtrapolation.Build(potential, set.Structures,
            AcePotential.BasisOf(potential) is { } b && b.Embeddings.Any(e => e.NDensity > 1) ? AceGradeKind.Full : AceGradeKind.Linear);

    protected override ModelFitResult Fit(ModelFitContext c, AceSettings s)
    {
        if (c.Descriptor is not AceBasisDescriptor ace)
            throw new MlipException($"{c.Source}: model kind 'ace' needs descriptor type 'ace' (found '{c.Spec.Type}')");
        var optimizer = s.Optimizer is "lm" or "levenberg-marquardt" ? AceEmbeddingOptimizer.LevenbergMarquardt : AceEmbeddingOptimizer.Lbfgs;
        bool lm = optimizer == AceEmbeddingOptimizer.LevenbergMarquardt;
        var options = new AceLinearFitOptions { Weights = c.Loss, Ridge = s.Ridge, Smoothness = s.Smoothness, Threads = c.Threads, Communicator = c.Communicator };
        var log = c.Log;
        log.WriteLine($"ace: {ace.FeatureCount} basis functions, order {ace.Spec.MaxRank}, smoothness prior λ = {options.Ridge:G3}·(d/d_min)^{options.Smoothness:G3}");
        var (m, report) = c.Store is { } store
            ? FitStreamed(c, s, ace, store)
            : AceLinearFit.Fit(ace, c.Structures, options, LeastSquaresSolvers.ByName(s.Solver, c.Threads), c.Progress);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {report.Rows} x {report.Columns} least squares, built in {report.BuildTime.TotalSeconds:F2} s, solved in {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
        var info = new JsonObject
        {
            ["rows"] = report.Rows, ["columns"] = report.Columns, ["functions"] = ace.FeatureCount,
            ["build_seconds"] = report.BuildTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
            ["solver"] = report.Method,
        };
        if (s.Embedding != "fs") return new ModelFitResult(m, info);

        var fsOptions = new AceEmbeddingFitOptions
        {
            FsParameters = s.FsParameters,
            Optimizer = optimizer,
            Iterations = s.Iterations ?? (lm ? 100 : 200),
            Tolerance = s.Tolerance,
            InitialScale = s.InitialScale ?? (lm ? 0 : 0.05),
            Ridge = s.FsRidge,
            Smoothness = options.Smoothness,
            Weights = c.Loss,
            Seed = c.Seed,
            Threads = c.Threads,
            Communicator = c.Communicator,
        };
        AceEmbeddingFit fs;
        if (c.Store is { } fsStore)
        {
            int done = fsStore.FeatureChunksDone();
            fs = new AceEmbeddingFit(ace, c.Structures, m, fsOptions, fsStore, c.Progress);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"descriptor store: fs embedding streamed from {fsStore.Describe()}: σ from {(done == fsStore.ChunkCount ? "the stored" : "newly written")} feature chunks, " +
                $"{fs.ChunkCount} blocks of structures whose descriptors and per-pair derivative blocks are recomputed at every pass (one block in memory; store: none holds them all)"));
        }
        else fs = new AceEmbeddingFit(ace, c.Structures, m, fsOptions, c.Progress);
        log.WriteLine($"fs embedding: {fs.DensityCount} densities (FS parameters {string.Join(" ", fsOptions.FsParameters.Select(v => v.ToString("G4", CultureInfo.InvariantCulture)))}), " +
                      $"{fs.Parameters.Length} parameters, {fs.ResidualCount} residuals in {fs.ChunkCount} blocks, at most {fsOptions.Iterations} {(lm ? "Levenberg-Marquardt" : "L-BFGS")} iterations from the linear fit");
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fs embedding: Tikhonov regulariser λ = {fsOptions.Ridge:G3}·(d/d_min)^{fsOptions.Smoothness:G3} on the densities' coefficients; at the start {fs.Penalty(fs.Parameters):G4}"));
        if (c.WarmStart is double[] previous)
        {
            var (lp, ll, taken) = fs.StartFrom(previous);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fs embedding: warm start: loss {lp:G4} from the previous fit's coefficients, {ll:G4} from this linear fit: {(taken ? "starting from the previous fit" : "starting from the linear fit")}"));
            info["fs_warm_start"] = taken;
        }
        var (startLoss, endLoss) = fs.Run(null, log.WriteLine); // one log line per iteration (the progress line here counts structures)
        double penalty = fs.Penalty(fs.Parameters);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fs embedding: loss {startLoss:G4} at the start (the linear fit{(fsOptions.InitialScale > 0 ? " + random further densities" : "")}) → {endLoss:G4} (regulariser {penalty:G4}, data {endLoss - penalty:G4})"));
        info["embedding"] = "fs";
        info["fs_streamed"] = fs.Streams;
        info["fs_optimizer"] = lm ? "lm" : "lbfgs";
        info["fs_parameters"] = new JsonArray([.. fsOptions.FsParameters.Select(v => (JsonNode)v)]);
        info["fs_start_loss"] = startLoss;
        info["fs_final_loss"] = endLoss;
        info["fs_ridge"] = fsOptions.Ridge;
        info["fs_final_penalty"] = penalty;
        return new ModelFitResult(m, info, AcePotential.Create(fs.ToCTilde()), fs.RawParameters());
    }

    /// <summary>The linear fit from the store's factors (docs/scale.md): the rows of <see cref="AceLinearFit"/>, streamed.</summary>
    private static (PolynomialModel, PolynomialFitReport) FitStreamed(ModelFitContext c, AceSettings s, AceBasisDescriptor ace, DescriptorStore store)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var options = new StreamingOptions { Threads = c.Threads, Backend = s.Solver == "managed" ? TsqrBackend.Managed : TsqrBackend.Auto, Communicator = c.Communicator };
        var f = StreamingLinearFit.Factorise(store, 1, true, LinearFactorization.ClassesFor(c.Loss), options, c.Log, c.Progress);
        var build = clock.Elapsed;
        clock.Restart();
        var solution = f.Solve(c.Loss, f.RidgeVector(s.Ridge, AceLinearFit.SmoothnessWeights(ace, s.Smoothness)), LeastSquaresSolvers.ByName(s.Solver, c.Threads));
        var rows = (int)Math.Min(int.MaxValue, f.Factors.Classes.Sum(k => f.Factors.RowsOf(k)));
        return (f.Model(solution.Coefficients), new PolynomialFitReport(rows, f.Columns, build, clock.Elapsed, Math.Sqrt(solution.WeightedResidualSumOfSquares), solution.Method));
    }
}
