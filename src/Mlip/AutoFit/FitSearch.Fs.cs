using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>The FS stage of the search (docs/fit.md, "The FS stage"): an FS density over the best linear ACE model.</summary>
public sealed partial class FitSearch
{
    // nominal cost of one entry of the per-pair Jacobian blocks of the FS fit (pairs × 3 × functions × densities), in
    // multiply-adds at the nominal rate: the tensor passes that build, scale and scatter them (measured on mlearn Si, docs/fit.md)
    private const double FsPairEntryCost = 100;
    private const int FsDensities = 2;

    /// <summary>Pairs within a cut-off over all training structures (the FS fit holds one derivative block per pair), by cut-off.</summary>
    private readonly Dictionary<double, long> _pairsAt = new();

    private long PairsAt(double rc)
    {
        if (!_pairsAt.TryGetValue(rc, out long q))
            _pairsAt[rc] = q = _o.Train.Sum(s => (long)Neighbors.NeighborList.Build(s, rc).PairCount);
        return q;
    }

    /// <summary>
    /// Estimated seconds of the FS stage over a model on <paramref name="over"/> (an ACE basis; nominal, times the calibration):
    /// a fit per validated fold on the other folds and the refit on all of TRAIN, each the sub-basis's descriptors, the linear
    /// model's residuals and <see cref="FitSearchSettings.FsIterations"/> Levenberg-Marquardt steps; and the validation evaluations.
    /// </summary>
    private double FsStageEstimate(FitBasis over)
    {
        double rc = double.Parse(over.Descriptor.Parameters["rc"], CultureInfo.InvariantCulture);
        if (!_fsEstimate.TryGetValue(rc, out double nominal))
            _fsEstimate[rc] = nominal = EstimateFs(FitBasis.FsAce(FsLevelOver(over), over)).Seconds;
        return nominal * _calibration;
    }

    /// <summary>The sub-basis level: <see cref="FitSearchSettings.FsLevel"/>, at most the linear model's own level.</summary>
    private int FsLevelOver(FitBasis over)
    {
        int level = over.Label.StartsWith("ace L", StringComparison.Ordinal)
            ? int.Parse(over.Label.AsSpan(5, over.Label.IndexOf(' ', 5) - 5), CultureInfo.InvariantCulture) : 0;
        return Math.Min(_s.FsLevel, level);
    }

    /// <summary>Nominal estimate of the FS stage on <paramref name="basis"/> (family fs-ace), its parameter count and memory.</summary>
    private (double Seconds, int Columns, DesignMemory Memory, double Evaluation) EstimateFs(FitBasis basis)
    {
        var clock = Stopwatch.StartNew();
        var sub = basis.Descriptor.Create(_elements);
        var bySize = Enumerable.Range(0, _o.Train.Count).OrderBy(i => _o.Train[i].Count).ThenBy(i => i).ToArray();
        int probe = bySize[bySize.Length / 2];
        sub.Compute(_o.Train[probe], true);
        double perAtom = clock.Elapsed.TotalSeconds / Math.Max(1, _o.Train[probe].Count);
        long atoms = _o.Train.Sum(s => (long)s.Count);
        long pairs = PairsAt(sub.Cutoff);
        int k = sub.FeatureCount, threads = Math.Max(1, _o.Threads);
        long n = _elements.Count * (1L + k * FsDensities);
        long rows = _o.Train.Count + 3 * atoms;
        double rate = 2e9 * threads;
        double step = (FsPairEntryCost * pairs * 3.0 * k * FsDensities + (double)rows * n * n) / rate;
        // the linear model's evaluation (residuals, validation): the measured cost of the best basis, or its estimate
        double linearPerAtom = _best is { } b && _bases.FirstOrDefault(x => x.Basis.Label == b.Basis.Label)?.CostUsPerAtom is double us ? 1e-6 * us / threads : perAtom;
        double Fit(double share) => share * (1.3 * perAtom * atoms / threads + linearPerAtom * atoms + _s.FsIterations * step);
        int validated = _folds.Validated.Length;
        double seconds = validated * Fit(1.0 - 1.0 / _folds.Count) + Fit(1) + 2 * linearPerAtom * atoms * validated / _folds.Count + clock.Elapsed.TotalSeconds;
        // held: every pair's derivative block and the features (the fit's data), the normal equations, one block's temporaries
        long data = pairs * 3L * k * 8 + atoms * (long)k * 8;
        long solves = 3 * n * n * 8;
        long inFlight = 8L * 8_000_000 * 8;
        var memory = new DesignMemory(0, data, 0, inFlight, solves, _processBytes);
        return (seconds, (int)n, memory, linearPerAtom * (atoms + _o.Test.Sum(s => (long)s.Count)));
    }

    /// <summary>
    /// The FS stage: over the best linear ACE candidate so far, an FS density on a small sub-basis fitted to its residuals
    /// (<see cref="FsOverLinear"/>) on each validated fold's training part, from that fold's linear model, scored on the held-out
    /// fold with the search's score; recorded as a candidate (family fs-ace), so it is chosen only when its validation score is
    /// the lowest; then refitted on all of TRAIN over the linear refit, and that model kept (and written to fs-model.yace for
    /// a resumed run). Skipped when its estimate does not fit in the time left; stopped (no candidate) when a fold's measured
    /// time shows the rest will not.
    /// </summary>
    private void EvaluateFs()
    {
        if (_best is not { } linear || linear.Basis.Family != "ace")
        {
            _o.Log.WriteLine("fit: FS stage: skipped (the best candidate is not a linear ACE model)");
            return;
        }
        int level = FsLevelOver(linear.Basis);
        var basis = FitBasis.FsAce(level, linear.Basis);
        string modelFile = Path.Combine(_o.Output, FsModelName);
        if (_checkpoint.TryGetValue(basis.Label, out var saved))
        {
            var outcome = FitBasisOutcome.FromJson(saved["outcome"]!, basis);
            _bases.Add(outcome);
            foreach (var c in saved["candidates"]!.AsArray())
            {
                var savedErrors = c!["validation"] is { } v ? FitCandidate.ErrorsFromJson(v) : null;
                var cand = new FitCandidate(_candidates.Count, basis, FitHyper.FromJson(c["hyperparameters"]!), savedErrors, double.PositiveInfinity, c["fit_seconds"]!.GetValue<double>(), c["status"]!.GetValue<string>());
                Record(cand with { Score = savedErrors is null ? double.PositiveInfinity : Score(savedErrors) });
            }
            if (File.Exists(modelFile) && saved["model_file"] is not null) _fsRefit = (basis.Label, AcePotential.ReadBasis(modelFile));
            _o.Log.WriteLine($"fit: {basis.Label}: from the checkpoint ({outcome.Status})");
            return;
        }

        var (nominal, columns, memory, evaluation) = EstimateFs(basis);
        double estimate = nominal * _calibration;
        _evaluationEstimate[basis.Label] = evaluation;
        double reserve = Reserve() + _evaluationEstimate.GetValueOrDefault(linear.Basis.Label, evaluation);
        if (memory.Peak > MemoryLimitBytes)
        {
            Skip(basis, columns, estimate, FitMemory.SkipStatus(memory, null, MemoryLimitBytes, 1));
            return;
        }
        if (Elapsed + estimate + reserve > _budget)
        {
            Skip(basis, columns, estimate, string.Create(CultureInfo.InvariantCulture, $"skipped: estimated {estimate:F0} s, {Math.Max(0, Left - reserve):F0} s left"));
            return;
        }
        var sub = (AceBasisDescriptor)basis.Descriptor.Create(_elements);
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {basis.Label}: FS density on {sub.FeatureCount} functions over the linear {linear.Basis.Label} ({linear.Hyper}), {_s.FsIterations} Levenberg-Marquardt steps at most per fit, " +
            $"{_folds.Validated.Length} fold fits and a refit; estimated {estimate:F0} s{(_calibration != 1 ? $" ({nominal:F0} s nominal x {_calibration:F2})" : "")}, memory {memory.Peak / 1e9:F2} GB"));
        double startedAt = Elapsed;
        LargeObjectGarbage.Collect();
        var folds = _bestFolds is { } bf && bf.Label == linear.Basis.Label && bf.Key == linear.Hyper.Key ? bf.Models : RebuildFoldModels(linear);

        // a fit per validated fold, from that fold's linear model, scored on the fold (the linear part's errors pooled the same way, for the log)
        var all = new ErrorAccumulator();
        var groups = new SortedDictionary<string, ErrorAccumulator>(StringComparer.Ordinal);
        var linearAll = new ErrorAccumulator();
        string status = "done";
        int done = 0;
        foreach (int f in _folds.Validated)
        {
            var fitOn = _o.Train.Where((_, i) => _folds.FoldOf[i] != f).ToList();
            var held = _o.Train.Where((_, i) => _folds.FoldOf[i] == f).ToList();
            var r = FsOverLinear.Fit(folds[f], sub, fitOn, linear.Hyper, _s.FsIterations, _o.Threads);
            var model = AcePotential.Create(r.Combined);
            var predicted = Evaluation.Run(model, held, _o.Threads);
            var before = Evaluation.Run(folds[f], held, _o.Threads);
            for (int s = 0; s < held.Count; s++)
            {
                all.Add(held[s], predicted.Comparisons[s].Predicted);
                string g = held[s].Group ?? "(none)";
                if (!groups.TryGetValue(g, out var acc)) groups[g] = acc = new ErrorAccumulator();
                acc.Add(held[s], predicted.Comparisons[s].Predicted);
                linearAll.Add(held[s], before.Comparisons[s].Predicted);
            }
            done++;
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fit: {basis.Label}: fold {f}: {r.Iterations} LM steps, loss {r.StartLoss:G4} -> {r.EndLoss:G4}, {r.Seconds:F0} s; held-out F MAE {predicted.Overall.ForceMaeEvPerA:G4} eV/Å (linear {before.Overall.ForceMaeEvPerA:G4}), E {predicted.Overall.EnergyMaeMevPerAtom:G4} meV/atom (linear {before.Overall.EnergyMaeMevPerAtom:G4})"));
            Progress($"{basis.Label} fold {done}/{_folds.Validated.Length}", force: true);
            // the measured time per fit: the rest (the other folds and the refit on more data) must fit, or the stage stops without a candidate
            double perFit = (Elapsed - startedAt) / done;
            double rest = perFit * (_folds.Validated.Length - done + 1.0 / (1 - 1.0 / Math.Max(2, _folds.Count)));
            if (Elapsed + rest + reserve > _budget) { status = "stopped: budget"; break; }
        }
        if (status != "done")
        {
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: stopped after {done} of {_folds.Validated.Length} folds (the rest would not fit in the budget); no FS candidate"));
            var stopped = new FitBasisOutcome(basis, columns, Elapsed - startedAt, null, estimate, status);
            _bases.Add(stopped);
            SaveCheckpoint(basis, stopped, []);
            return;
        }
        var errors = new ValidationErrors(all.Result(), [.. groups.Select(kv => new KeyValuePair<string, ErrorMetrics>(kv.Key, kv.Value.Result()))]);
        var candidate = new FitCandidate(_candidates.Count, basis, linear.Hyper, errors, Score(errors), Elapsed - startedAt, "evaluated");
        Record(candidate);
        var lin = linearAll.Result();
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {basis.Label}: validation E {F(errors.Overall.EnergyMaeMevPerAtom)} meV/atom, F {F(errors.Overall.ForceMaeEvPerA)} eV/Å, S {F(errors.Overall.StressMaeGpa)} GPa, score {candidate.Score:F4} " +
            $"against the linear {linear.Basis.Label}'s {linear.Score:F4} (its fold models re-evaluated: E {F(lin.EnergyMaeMevPerAtom)}, F {F(lin.ForceMaeEvPerA)}, S {F(lin.StressMaeGpa)}): {(ReferenceEquals(_best, candidate) ? "the FS model is the best" : "the linear model stays the best")}"));

        // the refit on all of TRAIN over the linear refit, only when the FS candidate is the best (it is then the model written)
        double? cost = null;
        JsonNode? fileNode = null;
        if (ReferenceEquals(_best, candidate))
        {
            var over = _bestRefit is { } kept && kept.Label == linear.Basis.Label && kept.Key == linear.Hyper.Key ? kept.Potential : RebuildRefit(linear);
            var r = FsOverLinear.Fit(over, sub, _o.Train, linear.Hyper, _s.FsIterations, _o.Threads);
            _fsRefit = (basis.Label, r.Combined);
            AcePotential.Save(modelFile, r.Combined);
            fileNode = FsModelName;
            cost = MeasureCost(AcePotential.Create(r.Combined));
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: refitted on all of TRAIN ({r.Iterations} LM steps, {r.Seconds:F0} s)"));
        }
        double took = Elapsed - startedAt;
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: took {took:F0} s (estimated {estimate:F0} s)"));
        var outcomeNew = new FitBasisOutcome(basis, columns, took, cost, estimate, "done");
        _bases.Add(outcomeNew);
        SaveCheckpoint(basis, outcomeNew, [candidate], fileNode);
    }

    /// <summary>A resumed run: the best linear candidate's fold models from its rebuilt design.</summary>
    private Dictionary<int, Potential> RebuildFoldModels(FitCandidate linear)
    {
        _o.Log.WriteLine($"fit: rebuilding the design of {linear.Basis.Label} for the FS stage (resumed run)");
        var design = LinearDesign.Build(linear.Basis.Descriptor.Create(_elements), linear.Basis.Order, _o.Train, _folds, _o.Threads);
        var models = new Dictionary<int, Potential>();
        foreach (int f in _folds.Validated)
        {
            var x = design.Blocks.Solve(f, [1, linear.Hyper.Force, linear.Hyper.Stress], RidgeVector(design, linear.Hyper))
                ?? throw new MlipException($"the fold {f} fit of {linear.Basis.Label} failed on the rebuilt design");
            models[f] = MakePotential(design, linear.Basis, x);
        }
        var refit = Refit(design, linear.Basis, linear.Hyper);
        if (refit is { } rf) _bestRefit = (linear.Basis.Label, linear.Hyper.Key, rf.Potential, rf.X);
        return models;
    }

    private Potential RebuildRefit(FitCandidate linear)
    {
        RebuildFoldModels(linear);
        return _bestRefit?.Potential ?? throw new MlipException($"the refit of {linear.Basis.Label} on all of TRAIN failed");
    }
}
