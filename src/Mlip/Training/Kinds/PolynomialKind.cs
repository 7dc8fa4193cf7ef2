using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Models;
using Mlip.Training.Streaming;

namespace Mlip.Training;

/// <summary>Settings of <c>model: {kind: linear}</c> and <c>{kind: quadratic}</c> (SNAP and qSNAP when the descriptor is so4).</summary>
public sealed record PolynomialSettings
{
    [Setting("ridge", "L2 penalty on the coefficients (1e-4 of it on the per-element constants), in the units of the weighted rows", Min = 0)]
    public double Ridge { get; init; } = 1e-8;

    [Setting("normalize", "fit in standardised features (x - mean)/std, stored in the model")]
    public bool Normalize { get; init; } = true;

    [Setting("solver", "least-squares solver: default (libtorch QR when available, else managed), torch, torch-normal, managed", Choices = ["default", "torch", "qr", "torch-normal", "normal", "managed"])]
    public string Solver { get; init; } = "default";
}

/// <summary>Linear (order 1) or quadratic (order 2) per-element polynomials in the descriptors, fitted by weighted ridge least squares.</summary>
public sealed class PolynomialKind(int order) : ModelKind<PolynomialSettings>
{
    public override string Name => order == 1 ? "linear" : "quadratic";
    public override string Doc => order == 1
        ? "E_i = c_0 + c . x_i per element, weighted ridge least squares (SNAP with the so4 descriptor)"
        : "E_i = c_0 + c . x_i + x_i^T C x_i / 2 per element, weighted ridge least squares (qSNAP with so4)";
    public override bool Refittable => true;
    public override bool Distributes(object settings) => true;
    public override bool Streams(object settings) => true;
    public override ModelCodec? Codec => ModelFile.PolynomialCodec(Name);
    public override PerAtomVariant PerAtom { get; } = new PerAtomPolynomialVariant(order);

    protected override ModelFitResult Fit(ModelFitContext c, PolynomialSettings s)
    {
        if (c.Store is { } store) return FitStreamed(c, s, store);
        var options = new PolynomialFitOptions { Order = order, Weights = c.Loss, Ridge = s.Ridge, Normalize = s.Normalize, Threads = c.Threads, Communicator = c.Communicator };
        var (model, report) = PolynomialFit.Fit(c.Set!, options, LeastSquaresSolvers.ByName(s.Solver, c.Threads));
        c.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {report.Rows} x {report.Columns} least squares, built in {report.BuildTime.TotalSeconds:F2} s, solved in {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
        return new ModelFitResult(model, new JsonObject
        {
            ["rows"] = report.Rows, ["columns"] = report.Columns,
            ["build_seconds"] = report.BuildTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
            ["solver"] = report.Method,
        });
    }

    private ModelFitResult FitStreamed(ModelFitContext c, PolynomialSettings s, DescriptorStore store)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var options = new StreamingOptions { Threads = c.Threads, Backend = s.Solver == "managed" ? TsqrBackend.Managed : TsqrBackend.Auto, Communicator = c.Communicator };
        var f = StreamingLinearFit.Factorise(store, order, s.Normalize, LinearFactorization.ClassesFor(c.Loss), options, c.Log, c.Progress);
        var build = clock.Elapsed;
        clock.Restart();
        var phases = new PhaseTimes(c.Communicator, c.Log);
        var solution = f.Solve(c.Loss, f.RidgeVector(s.Ridge), LeastSquaresSolvers.ByName(s.Solver, c.Threads));
        phases.Mark(c.Communicator.Size == 1 ? "solve of the factors"
            : "solve of the factors (rank 0: merges, condition number estimate, back substitution) and broadcast of the coefficients");
        var solve = clock.Elapsed;
        c.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {f.Columns} columns from the store's factors, factorised in {build.TotalSeconds:F2} s, solved in {solve.TotalSeconds:F2} s ({solution.Method})"));
        return new ModelFitResult(f.Model(solution.Coefficients), new JsonObject
        {
            ["rows"] = f.Factors.Classes.Sum(k => f.Factors.RowsOf(k)), ["columns"] = f.Columns,
            ["build_seconds"] = build.TotalSeconds, ["solve_seconds"] = solve.TotalSeconds,
            ["solver"] = solution.Method, ["store"] = store.Directory,
        });
    }
}
