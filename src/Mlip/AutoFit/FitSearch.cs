using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Distributed;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>What <c>mlip fit</c> is given: the data, the search settings, the run's seed, threads, output and mode.</summary>
public sealed record FitOptions
{
    public required IReadOnlyList<Structure> Train { get; init; }
    public IReadOnlyList<Structure> Test { get; init; } = [];
    public required string Output { get; init; }
    public FitSearchSettings Search { get; init; } = new();
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public bool Resume { get; init; }
    /// <summary>Identifies the data and settings in the checkpoint (a resumed run must match it).</summary>
    public string Fingerprint { get; init; } = "";
    public TextWriter Log { get; init; } = TextWriter.Null;
    /// <summary>Periodic progress lines (best so far, time left); stderr in the CLI.</summary>
    public TextWriter Progress { get; init; } = TextWriter.Null;

    /// <summary>
    /// The ranks of an MPI run (every rank makes a <see cref="FitSearch"/> with the same options): rank 0 runs the search
    /// (<see cref="FitSearch.Run"/>) and the others serve it (<see cref="FitSearch.Serve"/>), each building its share of every
    /// basis's normal-equation blocks.
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
}

/// <summary>A basis as the search saw it: its size, build time, measured evaluation cost and what became of it.</summary>
public sealed record FitBasisOutcome(FitBasis Basis, int Columns, double BuildSeconds, double? CostUsPerAtom, double EstimateSeconds, string Status)
{
    public JsonObject Json() => new()
    {
        ["basis"] = Basis.Json(), ["columns"] = Columns, ["build_seconds"] = BuildSeconds,
        ["evaluation_us_per_atom"] = CostUsPerAtom, ["estimate_seconds"] = EstimateSeconds, ["status"] = Status,
    };

    public static FitBasisOutcome FromJson(JsonNode n, FitBasis basis) => new(basis, n["columns"]!.GetValue<int>(), n["build_seconds"]!.GetValue<double>(),
        n["evaluation_us_per_atom"]?.GetValue<double>(), n["estimate_seconds"]!.GetValue<double>(), n["status"]!.GetValue<string>());
}

/// <summary>The result of <c>mlip fit</c>.</summary>
public sealed record FitOutcome(
    IReadOnlyList<FitCandidate> Candidates, IReadOnlyList<FitBasisOutcome> Bases, FitCandidate Chosen, string Reason,
    Potential Potential, double[] Coefficients, Evaluation TrainErrors, Evaluation? TestErrors, ValidationFolds Folds,
    string ModelPath, double Seconds, double BudgetSeconds);

/// <summary>
/// The automatic fit (docs/fit.md): bases from cheap to expensive (the ACE cut-off on the smallest basis, then the ACE
/// ladder while the validation error falls, then so4 bases), on each a coordinate descent over the loss weights, the
/// ridge and the smoothness prior, every candidate a p × p solve on <see cref="NormalEquationBlocks"/> scored on the
/// validation folds only; the winner refitted on all of TRAIN; TEST evaluated once at the end. A clock for the whole
/// command skips bases whose estimated cost does not fit in the time left and stops a basis's descent when time runs
/// out. A checkpoint after every basis lets <c>--resume</c> continue after a kill.
/// </summary>
public sealed partial class FitSearch
{
    /// <summary>
    /// Memory the process may reach while a basis is searched (its <see cref="DesignMemory.Peak"/>; the search keeps no
    /// earlier basis's design, only the best candidate's refitted model): search.memory (--memory) when set, else the
    /// machine's available memory when the search starts (<see cref="FitMemory.Limit"/>); larger bases are skipped.
    /// </summary>
    public long MemoryLimitBytes { get; }
    private const string CheckpointName = "fit-checkpoint.json";

    private readonly FitOptions _o;
    private readonly FitSearchSettings _s;
    private readonly Stopwatch _clock = new();
    private readonly double _budget;
    private double _previousSeconds;
    // measured over estimated time of the last basis that ran to the end of its descent and took 20 s or more: the
    // estimates' nominal rates corrected for this machine (1 until one is measured; kept within [0.25, 4])
    private double _calibration = 1.0;
    private readonly List<FitCandidate> _candidates = [];
    private readonly List<FitBasisOutcome> _bases = [];
    private readonly Dictionary<string, JsonNode> _checkpoint = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<string> _elements;
    private readonly ValidationFolds _folds;
    private readonly bool _hasStress, _hasForces;
    private (double E, double F, double S)? _reference;
    // the best candidate's refit on all of TRAIN (coefficients and model), made when its basis ends: the search keeps
    // this instead of the basis's design (its Gram blocks), so a larger basis can use that memory
    private (string Label, string Key, Potential Potential, double[] X)? _bestRefit;
    private FitCandidate? _best;
    private TimeSpan _lastProgress = TimeSpan.FromSeconds(-100);
    private readonly Dictionary<string, double> _evaluationEstimate = new(StringComparer.Ordinal);
    // the best linear ACE candidate's models, one per validated fold (each fitted without its fold): the FS stage's starts
    private (string Label, string Key, Dictionary<int, Potential> Models)? _bestFolds;
    // the FS stage's refit on all of TRAIN (one PACE model), kept should it be chosen
    private (string Label, AceBasisSet Basis)? _fsRefit;
    private const string FsModelName = "fs-model.yace";
    private bool _fsPlanned;
    private readonly Dictionary<double, double> _fsEstimate = new();

    public FitSearch(FitOptions options)
    {
        _o = options;
        _s = options.Search;
        _budget = _s.Budget * 60;
        MemoryLimitBytes = FitMemory.Limit(_s.Memory);
        _processBytes = FitMemory.ProcessBytes(options.Train, options.Test);
        if (options.Train.Count < 2) throw new MlipException("mlip fit needs at least two training structures (one to fit, one to validate)");
        _elements = [.. options.Train.SelectMany(s => s.AtomicNumbers).Distinct().Order().Select(Elements.Symbol)];
        _folds = ValidationFolds.Make(options.Train, _s.Folds, options.Train.Count < _s.CrossValidationBelow, options.Seed);
        _hasStress = options.Train.Any(s => s.Stress is not null && s.Pbc.AllPeriodic);
        _hasForces = options.Train.Any(s => s.Forces is not null);
        if (!options.Train.Any(s => s.Energy is not null)) throw new MlipException("mlip fit needs training structures with energies");
    }

    public double Elapsed => _previousSeconds + _clock.Elapsed.TotalSeconds;
    public double Left => _budget - Elapsed;
    public ValidationFolds Folds => _folds;

    /// <summary>The bases of the plan in the order they are tried, without the choices (the ladder, its cut-off re-tune and so4 growth assume the cut-off does not move from the grid's middle).</summary>
    public IReadOnlyList<FitBasis> PlanForDryRun()
    {
        var list = new List<FitBasis>();
        var families = Families();
        CheckCutoffs();
        double rc0 = _s.Cutoffs.Length > 0 ? _s.Cutoffs[_s.Cutoffs.Length / 2] : 5.0;
        if (families.Contains("ace"))
        {
            var radials = Radials();
            foreach (double rc in _s.Cutoffs) list.Add(FitBasis.Ace(0, rc, radials[0]));
            if (_s.RadialLevel == 0) foreach (string other in radials.Skip(1)) list.Add(FitBasis.Ace(0, rc0, other));
            int top = Math.Min(_s.AceLevels, FitBasis.AceLadder.Length) - 1;
            var (up, down) = CutoffSteps();
            for (int l = 1; l <= top; l++)
            {
                list.Add(FitBasis.Ace(l, rc0));
                if (l == _s.RadialLevel) foreach (string other in radials.Skip(1)) list.Add(FitBasis.Ace(l, rc0, other));
                // the re-tune's neighbours as they are tried when the cut-off does not move (both sides: the plan cannot know the side)
                if (_s.RetuneCutoff && _s.Cutoffs.Length > 0)
                {
                    list.Add(FitBasis.Ace(l, Math.Round(rc0 + up, 6)));
                    if (rc0 - down >= MinCutoff - 1e-9) list.Add(FitBasis.Ace(l, Math.Round(rc0 - down, 6)));
                }
            }
            if (_s.Fs) list.Add(FitBasis.FsAce(Math.Min(_s.FsLevel, top), FitBasis.Ace(top, rc0)));
        }
        foreach (string fam in families.Where(f => f != "ace"))
            foreach (int j in _s.TwoJMax) list.Add(FitBasis.So4(fam, j, rc0));
        return list;
    }

    /// <summary>Estimated seconds of a basis (descriptor time measured on two structures, Gram and solve counts at a nominal rate) and its column count.</summary>
    public (double Seconds, int Columns, DesignMemory Memory) Estimate(FitBasis basis)
    {
        var (seconds, columns, memory, _) = EstimateWithEvaluation(basis);
        return (seconds, columns, memory);
    }

    /// <summary><see cref="Estimate"/> and the estimated time of the final evaluation of a model on this basis over TRAIN and TEST.</summary>
    private (double Seconds, int Columns, DesignMemory Memory, double Evaluation) EstimateWithEvaluation(FitBasis basis)
    {
        if (basis.Family == "fs-ace") return EstimateFs(basis);
        var clock = Stopwatch.StartNew();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var descriptor = basis.Descriptor.Create(_elements);
        long tableBytes = GC.GetAllocatedBytesForCurrentThread() - allocated; // the descriptor's tables (an upper bound: what it allocated)
        var bySize = Enumerable.Range(0, _o.Train.Count).OrderBy(i => _o.Train[i].Count).ThenBy(i => i).ToArray();
        int[] probe = [bySize[bySize.Length / 2], bySize[(3 * bySize.Length) / 4]];
        int probeAtoms = 0;
        double derivativeBytesPerPair = 0;
        foreach (int i in probe.Distinct())
        {
            var d = descriptor.Compute(_o.Train[i], _hasForces || _hasStress);
            if (d.PairGradients is { } g && d.Neighbors.PairCount > 0)
                derivativeBytesPerPair = Math.Max(derivativeBytesPerPair, 8.0 * g.LongLength / d.Neighbors.PairCount);
            probeAtoms += _o.Train[i].Count;
        }
        // the derivative blocks of the structure with the most pairs within the descriptor's cut-off bound a batch in flight
        long maxPairs = MaxPairsAt(descriptor.Cutoff);
        long maxAtoms = _o.Train.Max(st => (long)st.Count);
        long maxRows = _o.Train.Max(st => (long)LinearDesign.RowsOf(st).Total);
        double perAtom = clock.Elapsed.TotalSeconds / Math.Max(1, probeAtoms);
        long atoms = _o.Train.Sum(s => (long)s.Count);
        int per = PolynomialModel.CoefficientsPerElement(basis.Order, descriptor.FeatureCount);
        int p = per * _elements.Count;
        long rows = _o.Train.Sum(s => 1L + (s.Forces is not null ? 3L * s.Count : 0) + (s.Stress is not null ? 6 : 0));
        double rate = 2e9 * Math.Max(1, _o.Threads); // multiply-adds per second, nominal
        int ranks = _o.Communicator.Size; // the build splits over the ranks; the solves and the scoring stay on rank 0
        double descriptors = 1.3 * perAtom * atoms / Math.Max(1, _o.Threads) / ranks;
        double gram = rows * (double)p * p / 2 / rate / ranks;
        int evaluations = _s.Sweeps * (_s.ForceWeights.Length + (_hasStress ? _s.StressWeights.Length : 0) + _s.Ridges.Length + (basis.IsAce ? _s.Smoothness.Length : 0))
            + (_s.Refine ? 4 : 0);
        double validatedRows = rows * (double)_folds.Validated.Length / _folds.Count;
        double solves = evaluations * _folds.Validated.Length * ((double)p * p * p / 6 + 3.0 * _folds.Count * p * p) / rate;
        double scoring = evaluations * validatedRows * p / rate * Math.Max(1, _o.Threads);
        long validatedRowCount = _o.Train.Where((_, i) => _folds.Validated.Contains(_folds.FoldOf[i])).Sum(st => (long)LinearDesign.RowsOf(st).Total);
        var memory = LinearDesign.MemoryOf(p, descriptor.FeatureCount, _folds.Count, Math.Max(1, _o.Threads), atoms, validatedRowCount, maxRows,
            (long)(maxPairs * derivativeBytesPerPair), maxAtoms, maxPairs, _processBytes, tableBytes);
        double testAtoms = _o.Test.Sum(s => (long)s.Count);
        double evaluation = perAtom * (atoms + testAtoms) / Math.Max(1, _o.Threads);
        return (descriptors + gram + solves + scoring + clock.Elapsed.TotalSeconds, p, memory, evaluation);
    }

    /// <summary>The radial bases of search.radials, in order (at least one; an unknown one is refused in one line).</summary>
    private string[] Radials()
    {
        var list = _s.Radials.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal).ToArray();
        if (list.Length == 0) throw new MlipException("search.radials is empty: name at least one radial base (SBessel, ChebExpCos, ChebPow, ChebLinear)");
        foreach (string r in list)
        {
            try { FitBasis.ParseRadial(r); }
            catch (ArgumentException e) { throw new MlipException($"search.radials: {e.Message}"); }
        }
        return list;
    }

    /// <summary>search.cutoffs checked: each in [2, 8] Å and listed once (a radius listed twice would search one basis twice).</summary>
    private void CheckCutoffs()
    {
        var seen = new HashSet<double>();
        foreach (double rc in _s.Cutoffs)
        {
            if (!(rc >= MinCutoff && rc <= MaxCutoff))
                throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"search.cutoffs: {rc:G6} Å is outside [{MinCutoff:G3}, {MaxCutoff:G3}] Å"));
            if (!seen.Add(Math.Round(rc, 6)))
                throw new MlipException(string.Create(CultureInfo.InvariantCulture,
                    $"search.cutoffs: {rc:G6} Å is listed twice (to try only the listed radii, set search.extend_cutoffs: false)"));
        }
    }

    private HashSet<string> Families() =>
        [.. _s.Families.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => f.ToLowerInvariant())];

    public FitOutcome Run(IProgress<WorkProgress>? descriptorProgress = null)
    {
        _clock.Start();
        Directory.CreateDirectory(_o.Output);
        LoadCheckpoint();
        var log = _o.Log;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {_o.Train.Count} training structures ({_o.Train.Sum(s => s.Count)} atoms, elements {string.Join(" ", _elements)}), " +
            $"{(_folds.IsCrossValidation ? $"{_folds.Count}-fold cross-validation" : $"hold-out validation (1 fold of {_folds.Count})")} stratified by config_type; " +
            $"{(_hasStress ? "stresses fitted when it helps" : "no stresses in the data")}; budget {_s.Budget:G4} min"));
        if (_o.Test.Count > 0) log.WriteLine($"fit: {_o.Test.Count} test structures, evaluated once after the choice and never used in it");
        var families = Families();
        foreach (var f in families)
            if (f is not ("ace" or "quadratic" or "linear"))
                throw new MlipException($"unknown model family '{f}' in search.families (ace, quadratic, linear)");
        var radials = Radials();
        CheckCutoffs();
        CheckSmallestFits(); // refuses, before anything is computed, a search whose smallest basis cannot fit in memory

        double bestRc = _s.Cutoffs.Length > 0 ? _s.Cutoffs[_s.Cutoffs.Length / 2] : 5.0;
        _fsPlanned = _s.Fs && families.Contains("ace");
        if (families.Contains("ace"))
        {
            // the cut-off on the cheapest basis
            double bestScore = double.PositiveInfinity;
            string radial = radials[0];
            foreach (double rc in _s.Cutoffs)
            {
                double sc = EvaluateBasis(FitBasis.Ace(0, rc, radial), descriptorProgress);
                if (sc < bestScore) { bestScore = sc; bestRc = rc; }
            }
            // a best cut-off at the edge of the grid: go on past the edge while the score falls (the grid's spacing, 0.5 Å for one radius)
            var (step, stepDown) = CutoffSteps();
            if (_s.Cutoffs.Length > 0 && _s.ExtendCutoffs)
            {
                var grid = _s.Cutoffs.Order().ToArray();
                foreach (var (edge, delta, limit) in new[] { (grid[^1], step, MaxCutoff), (grid[0], -stepDown, MinCutoff) })
                {
                    if (bestRc != edge || !(Math.Abs(delta) > 1e-9)) continue;
                    for (double rc = edge + delta; delta > 0 ? rc <= limit + 1e-9 : rc >= limit - 1e-9; rc += delta)
                    {
                        double sc = EvaluateBasis(FitBasis.Ace(0, Math.Round(rc, 6), radial), descriptorProgress);
                        if (!(sc < bestScore)) break;
                        bestScore = sc;
                        bestRc = Math.Round(rc, 6);
                    }
                }
            }
            // the radial base: the others of search.radials on level search.radial_level at its cut-off; the best is kept
            // for the rest of the ladder (level 0: at the best cut-off of the grid)
            string first = radial;
            double OtherRadials(int level, double score)
            {
                foreach (string other in radials.Skip(1))
                {
                    double sc = EvaluateBasis(FitBasis.Ace(level, bestRc, other), descriptorProgress);
                    if (sc < score) { score = sc; radial = other; }
                }
                if (radial != first) _o.Log.WriteLine($"fit: ace L{level}: the radial base {radial} is kept for the ladder");
                return score;
            }
            if (_s.RadialLevel == 0) bestScore = OtherRadials(0, bestScore);
            // the ladder: grow while the validation score falls; on every level the cut-off is re-tuned (its neighbours
            // searched, first both sides, then the side it last moved to), as the best cut-off can grow with the basis
            double previous = bestScore;
            int side = 0;
            for (int l = 1; l < Math.Min(_s.AceLevels, FitBasis.AceLadder.Length); l++)
            {
                double sc = EvaluateBasis(FitBasis.Ace(l, bestRc, radial), descriptorProgress);
                // the re-tune does not crowd out the ladder: a neighbour is searched only with the next level's time kept back
                double keep = _s.RetuneCutoff && _s.Cutoffs.Length > 0 && double.IsFinite(sc) && l + 1 < Math.Min(_s.AceLevels, FitBasis.AceLadder.Length)
                    ? NextLevelSeconds(FitBasis.Ace(l + 1, bestRc, radial)) : 0;
                if (_s.RetuneCutoff && _s.Cutoffs.Length > 0)
                    foreach (int d in side != 0 ? [side] : new[] { 1, -1 })
                    {
                        double delta = d > 0 ? step : -stepDown;
                        bool moved = false;
                        for (double rc = Math.Round(bestRc + delta, 6); d > 0 ? rc <= MaxCutoff + 1e-9 : rc >= MinCutoff - 1e-9; rc = Math.Round(rc + delta, 6))
                        {
                            double there = EvaluateBasis(FitBasis.Ace(l, rc, radial), descriptorProgress, keep);
                            if (!(there < sc)) break;
                            sc = there;
                            bestRc = rc;
                            moved = true;
                        }
                        if (moved)
                        {
                            side = d;
                            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: ace L{l}: the cut-off moves to {bestRc:G6} Å"));
                            break;
                        }
                    }
                if (l == _s.RadialLevel && double.IsFinite(sc)) sc = OtherRadials(l, sc);
                if (!(sc < previous)) break;
                previous = sc;
            }
            if (_s.Fs) EvaluateFs();
        }
        foreach (string fam in new[] { "quadratic", "linear" }.Where(families.Contains))
        {
            double previous = double.PositiveInfinity;
            foreach (int j in _s.TwoJMax)
            {
                double sc = EvaluateBasis(FitBasis.So4(fam, j, bestRc), descriptorProgress);
                if (!(sc < previous)) break;
                previous = sc;
            }
        }
        if (_best is null) throw new MlipException($"no candidate could be evaluated: every basis was skipped (memory limit or budget of {_s.Budget:G4} minutes; the log says why)");
        return Finish(descriptorProgress);
    }

    private const double MaxCutoff = 8.0, MinCutoff = 2.0;

    /// <summary>The calibrated estimate of a basis (0 when its memory would pass the limit: it will be skipped anyway).</summary>
    private double NextLevelSeconds(FitBasis basis)
    {
        var (nominal, _, memory, evaluation) = EstimateWithEvaluation(basis);
        return memory.Peak > MemoryLimitBytes ? 0 : nominal * _calibration + evaluation;
    }

    /// <summary>The steps of the cut-off beyond the grid's edges and in the ladder's re-tune: the grid's spacing at each end (0.5 Å for one radius).</summary>
    private (double Up, double Down) CutoffSteps()
    {
        var grid = _s.Cutoffs.Order().ToArray();
        return grid.Length > 1 ? (grid[^1] - grid[^2], grid[1] - grid[0]) : (0.5, 0.5);
    }

    /// <summary>The score of a candidate: Σ over the quantities the data carry of its validation MAE over the reference candidate's (the first one evaluated); stress weighs <see cref="FitSearchSettings.StressScore"/>.</summary>
    private double Score(ValidationErrors e)
    {
        var m = e.Overall;
        _reference ??= (m.EnergyMaeMevPerAtom ?? 0, m.ForceMaeEvPerA ?? 0, m.StressMaeGpa ?? 0);
        var (re, rf, rs) = _reference.Value;
        double s = 0;
        if (m.EnergyMaeMevPerAtom is double ee && re > 0) s += ee / re;
        if (m.ForceMaeEvPerA is double ff && rf > 0) s += ff / rf;
        if (m.StressMaeGpa is double ss && rs > 0) s += _s.StressScore * ss / rs;
        return double.IsFinite(s) ? s : double.PositiveInfinity;
    }

    /// <summary>
    /// Whether the FS stage's kept time <paramref name="fsReserve"/> gives way to a ladder level estimated at
    /// <paramref name="estimate"/> s: the level fits in the budget with its other reserves but not with the FS stage's too.
    /// </summary>
    internal static bool FsReserveYields(double elapsed, double estimate, double reserve, double fsReserve, double budget)
        => elapsed + estimate + reserve + fsReserve > budget && elapsed + estimate + reserve <= budget;

    // keep: seconds kept back besides the usual reserve (a cut-off neighbour keeps the next ladder level's time)
    private double EvaluateBasis(FitBasis basis, IProgress<WorkProgress>? descriptorProgress, double keep = 0)
    {
        // resumed: the basis's candidates come from the checkpoint
        if (_checkpoint.TryGetValue(basis.Label, out var saved))
        {
            var outcome = FitBasisOutcome.FromJson(saved["outcome"]!, basis);
            _bases.Add(outcome);
            double bestSaved = double.PositiveInfinity;
            foreach (var c in saved["candidates"]!.AsArray())
            {
                var errors = c!["validation"] is { } v ? FitCandidate.ErrorsFromJson(v) : null;
                var cand = new FitCandidate(_candidates.Count, basis, FitHyper.FromJson(c["hyperparameters"]!), errors, double.PositiveInfinity, c["fit_seconds"]!.GetValue<double>(), c["status"]!.GetValue<string>());
                cand = cand with { Score = errors is null ? double.PositiveInfinity : Score(errors) };
                Record(cand);
                bestSaved = Math.Min(bestSaved, cand.Score);
            }
            _o.Log.WriteLine($"fit: {basis.Label}: {saved["candidates"]!.AsArray().Count} candidates from the checkpoint ({outcome.Status})");
            return bestSaved;
        }

        var (nominal, columns, memory, evaluation) = EstimateWithEvaluation(basis);
        double estimate = nominal * _calibration;
        // kept for the end should this basis win: its refit, the TRAIN and TEST evaluation, the report
        _evaluationEstimate[basis.Label] = evaluation;
        double reserve = Reserve() + Math.Max(evaluation, _best is null ? 0 : _evaluationEstimate.GetValueOrDefault(_best.Basis.Label, evaluation));
        // the FS stage after the ladder keeps its estimated time: a level that cannot finish with it is skipped, a descent stops in time for it
        double fsReserve = basis.IsAce && _fsPlanned && _best is not null ? FsStageEstimate(basis) : 0;
        // but the ladder comes first: a level whose gain the validation error measures is not given up for the FS stage, whose
        // gain is a guess; a level that fits only without the FS stage's time runs, and the FS stage gets what is left after it
        if (fsReserve > 0 && FsReserveYields(Elapsed, estimate, reserve + keep, fsReserve, _budget))
        {
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fit: {basis.Label}: fits only without the {fsReserve:F0} s kept for the FS stage: the ladder level goes first"));
            fsReserve = 0;
        }
        if (fsReserve > 0)
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: {fsReserve:F0} s kept for the FS stage after the ladder"));
        reserve += fsReserve;
        if (keep > 0)
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: {keep:F0} s kept for the next ladder level"));
        reserve += keep;
        // the search keeps no earlier design (only the best candidate's refitted model), so a basis has the limit to itself
        long limit = MemoryLimitBytes;
        if (memory.Peak > limit)
            return Skip(basis, columns, estimate, MemorySkipStatus(basis, memory));
        // the first basis that fits in memory is always searched (its first candidate at least), so that any budget gives a
        // model: a budget too small for it is exceeded, and the log says so
        if (Elapsed + estimate + reserve > _budget)
        {
            if (_best is not null)
                return Skip(basis, columns, estimate, string.Create(CultureInfo.InvariantCulture, $"skipped: estimated {estimate:F0} s, {Math.Max(0, Left - reserve):F0} s left"));
            _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fit: the budget ({_s.Budget:G4} min) is smaller than the cheapest basis needs (~{estimate + reserve:F0} s): {basis.Label} is searched anyway, so that the fit gives a model"));
        }

        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {basis.Label}: {columns} columns, estimated {estimate:F0} s{(_calibration != 1 ? $" ({nominal:F0} s nominal x {_calibration:F2} measured on the last basis)" : "")}, memory {memory}; computing descriptors"));
        double startedAt = Elapsed;
        // the last basis's design is garbage by now: give its memory back before this one's blocks are allocated
        LargeObjectGarbage.Collect();
        var design = BuildDesign(basis, descriptorProgress);
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {basis.Label}: design built in {design.BuildTime.TotalSeconds:F1} s"));
        Progress(basis.Label + " built", force: true);

        var start = StartHyper(basis);
        var tried = new Dictionary<string, FitCandidate>(StringComparer.Ordinal);
        var bestHere = Evaluate(design, basis, [start], tried)[0];
        string status = "done";
        var dims = new List<int> { 0, 2 };
        if (_hasStress) dims.Insert(1, 1);
        if (basis.IsAce) dims.Add(3);
        if (!_hasForces) dims.Remove(0);
        for (int sweep = 0; sweep < _s.Sweeps && status == "done"; sweep++)
            foreach (int dim in dims)
            {
                if (Left < reserve + 1) { status = "stopped: budget"; break; }
                var grid = dim switch { 0 => _s.ForceWeights, 1 => _s.StressWeights, 2 => _s.Ridges, _ => _s.Smoothness };
                var hypers = grid.Select(v => dim switch
                {
                    0 => bestHere.Hyper with { Force = v },
                    1 => bestHere.Hyper with { Stress = v },
                    2 => bestHere.Hyper with { Ridge = v },
                    _ => bestHere.Hyper with { Smoothness = v },
                }).ToList();
                foreach (var c in Evaluate(design, basis, hypers, tried))
                    if (c.Score < bestHere.Score) bestHere = c;
                Progress(basis.Label, force: false);
            }
        // refinement: the optimum of a weight or ridge lies between grid points; the geometric midpoints on either side
        // of the best value (one level finer than the grid) are tried, force weight first, then the ridge
        if (_s.Refine && status == "done")
            foreach (int dim in new[] { 0, 2 })
            {
                if (dim == 0 && !_hasForces) continue;
                if (Left < reserve + 1) { status = "stopped: budget"; break; }
                var grid = (dim == 0 ? _s.ForceWeights : _s.Ridges).Where(v => v > 0).Order().ToArray();
                double at = dim == 0 ? bestHere.Hyper.Force : bestHere.Hyper.Ridge;
                var finer = Midpoints(grid, at).Select(v => dim == 0 ? bestHere.Hyper with { Force = v } : bestHere.Hyper with { Ridge = v }).ToList();
                foreach (var c in Evaluate(design, basis, finer, tried))
                    if (c.Score < bestHere.Score) bestHere = c;
                Progress(basis.Label + " refined", force: false);
            }
        double took = Elapsed - startedAt;
        if (status == "done" && took >= 20 && nominal > 0) _calibration = Math.Clamp(took / nominal, 0.25, 4);
        // the refit on all of TRAIN of the basis's best candidate: its cost is measured, and it is kept should it be the best so far
        var refit = Refit(design, basis, bestHere.Hyper);
        double? cost = refit is { } r ? MeasureCost(r.Potential) : null;
        if (_best is { } best && best.Basis.Label == basis.Label)
        {
            var kept = best.Hyper.Key == bestHere.Hyper.Key ? refit : Refit(design, basis, best.Hyper);
            _bestRefit = kept is { } k ? (basis.Label, best.Hyper.Key, k.Potential, k.X) : null;
        }
        _workspaces = [];
        _workspaceDesign = null;
        var outcomeNew = new FitBasisOutcome(basis, columns, design.BuildTime.TotalSeconds, cost, estimate, status);
        _bases.Add(outcomeNew);
        SaveCheckpoint(basis, outcomeNew, tried.Values.OrderBy(c => c.Id));
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {basis.Label}: best {bestHere.Hyper}: validation E {F(bestHere.Errors?.Overall.EnergyMaeMevPerAtom)} meV/atom, F {F(bestHere.Errors?.Overall.ForceMaeEvPerA)} eV/Å, S {F(bestHere.Errors?.Overall.StressMaeGpa)} GPa, score {bestHere.Score:F4}; {cost:F1} µs/atom"));
        return bestHere.Score;
    }

    /// <summary>The geometric midpoints between <paramref name="at"/> and its neighbours on the sorted positive <paramref name="grid"/> (none when it is not on the grid).</summary>
    internal static double[] Midpoints(double[] grid, double at)
    {
        int i = Array.IndexOf(grid, at);
        if (i < 0) return [];
        var list = new List<double>();
        if (i > 0) list.Add(Math.Sqrt(grid[i - 1] * at));
        if (i < grid.Length - 1) list.Add(Math.Sqrt(grid[i + 1] * at));
        return [.. list];
    }

    private static string F(double? v) => v is double x ? x.ToString("G4", CultureInfo.InvariantCulture) : "-";

    private double Skip(FitBasis basis, int columns, double estimate, string status)
    {
        _bases.Add(new FitBasisOutcome(basis, columns, 0, null, estimate, status));
        _o.Log.WriteLine($"fit: {basis.Label}: {status}");
        return double.PositiveInfinity;
    }

    /// <summary>Time kept for the end besides the evaluation of the model: the refit, the files, the report.</summary>
    private double Reserve() => Math.Max(10, 0.02 * _budget);

    private FitHyper StartHyper(FitBasis basis)
    {
        var same = _candidates.Where(c => c.Basis.IsAce == basis.IsAce && c.Basis.Family != "fs-ace" && double.IsFinite(c.Score)).MinBy(c => c.Score);
        if (same is not null) return same.Hyper;
        double Mid(double[] grid, double fallback) => grid.Length > 0 ? grid[grid.Length / 2] : fallback;
        return new FitHyper(_hasForces ? Mid(_s.ForceWeights, 0.03) : 0, 0, basis.IsAce ? 1e-10 : 1e-8, basis.IsAce ? Mid(_s.Smoothness, 2) : 0);
    }

    internal static double[] RidgeVector(LinearDesign d, FitHyper h)
    {
        int per = d.PerElement, k = d.Features;
        var prior = d.Descriptor is AceBasisDescriptor ace && d.Order == 1 ? AceLinearFit.SmoothnessWeights(ace, h.Smoothness) : null;
        var lambda = new double[d.Columns];
        for (int e = 0; e < d.Elements.Length; e++)
        {
            lambda[e * per] = 1e-4 * h.Ridge;
            for (int q = 1; q < per; q++) lambda[e * per + q] = h.Ridge * (prior is not null && q - 1 < k ? prior[q - 1] : 1);
        }
        return lambda;
    }

    private List<FitCandidate> Evaluate(LinearDesign design, FitBasis basis, IReadOnlyList<FitHyper> hypers, Dictionary<string, FitCandidate> tried)
    {
        var todo = hypers.Where(h => !tried.ContainsKey(h.Key)).DistinctBy(h => h.Key).ToList();
        var results = new (ValidationErrors? Errors, double Seconds, Dictionary<int, double[]>? ByFold)[todo.Count];
        // one p × p workspace per thread, reused by every solve of the basis: worker w takes candidates w, w + T, ...
        int workers = Math.Max(1, Math.Min(_o.Threads, todo.Count));
        var workspaces = Workspaces(design, workers);
        MlipParallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            for (int i = w; i < todo.Count; i += workers)
            {
                var clock = Stopwatch.StartNew();
                var h = todo[i];
                var byFold = new Dictionary<int, double[]>();
                bool failed = false;
                foreach (int f in _folds.Validated)
                {
                    var x = design.Blocks.Solve(f, [1, h.Force, h.Stress], RidgeVector(design, h), workspaces[w]);
                    if (x is null) { failed = true; break; }
                    byFold[f] = x;
                }
                results[i] = (failed ? null : design.Score(byFold), clock.Elapsed.TotalSeconds, failed ? null : byFold);
            }
        });
        for (int i = 0; i < todo.Count; i++)
        {
            var (errors, seconds, byFold) = results[i];
            var c = new FitCandidate(_candidates.Count, basis, todo[i], errors, errors is null ? double.PositiveInfinity : Score(errors), seconds,
                errors is null ? "failed: the normal equations are not positive definite" : "evaluated");
            tried[todo[i].Key] = c;
            Record(c);
            // the FS stage starts from the best linear ACE candidate's fold models: kept (small) while it is the best
            if (ReferenceEquals(_best, c) && basis.IsAce && _fsPlanned && byFold is not null)
                _bestFolds = (basis.Label, c.Hyper.Key, byFold.ToDictionary(kv => kv.Key, kv => MakePotential(design, basis, kv.Value)));
        }
        return [.. hypers.Select(h => tried[h.Key])];
    }

    private LinearDesign? _workspaceDesign;
    private double[][] _workspaces = [];

    /// <summary>The solve workspaces of <paramref name="design"/> (one per thread, kept while the search is on that basis).</summary>
    private double[][] Workspaces(LinearDesign design, int count)
    {
        if (!ReferenceEquals(_workspaceDesign, design))
        {
            _workspaces = [];
            _workspaceDesign = design;
        }
        if (_workspaces.Length < count)
            _workspaces = [.. _workspaces, .. Enumerable.Range(0, count - _workspaces.Length).Select(_ => new double[(long)design.Columns * design.Columns])];
        return _workspaces;
    }

    private void Record(FitCandidate c)
    {
        _candidates.Add(c);
        if (_best is null || c.Score < _best.Score) _best = c;
    }

    /// <summary>The fit of <paramref name="h"/> on all folds of <paramref name="design"/> (null when its normal equations are not positive definite).</summary>
    private (double[] X, Potential Potential)? Refit(LinearDesign design, FitBasis basis, FitHyper h)
    {
        var x = design.Blocks.Solve(null, [1, h.Force, h.Stress], RidgeVector(design, h));
        return x is null ? null : (x, MakePotential(design, basis, x));
    }

    private double MeasureCost(Potential potential)
    {
        var bySize = _o.Train.Where(s => s.Count > 0).OrderBy(s => s.Count).ToList();
        var probe = bySize[bySize.Count / 2];
        potential.Calculate(probe, forces: true, stress: true); // warm-up
        var clock = Stopwatch.StartNew();
        long atoms = 0;
        int reps = 0;
        do
        {
            potential.Calculate(probe, forces: true, stress: true);
            atoms += probe.Count;
            reps++;
        }
        while (clock.Elapsed.TotalSeconds < 0.2 && reps < 10);
        return 1e6 * clock.Elapsed.TotalSeconds / atoms;
    }

    private static Potential MakePotential(LinearDesign d, FitBasis basis, double[] x)
    {
        int per = d.PerElement;
        var coefficients = new double[d.Elements.Length][];
        for (int e = 0; e < d.Elements.Length; e++) coefficients[e] = x.AsSpan(e * per, per).ToArray();
        var model = new PolynomialModel(d.Order, d.Elements, d.Features, coefficients, d.Mean, d.Scale);
        return new Potential(d.Descriptor, model, basis.Descriptor);
    }

    private void Progress(string what, bool force)
    {
        var now = TimeSpan.FromSeconds(Elapsed);
        if (!force && now - _lastProgress < TimeSpan.FromSeconds(5)) return;
        _lastProgress = now;
        string best = _best is null ? "none yet" : string.Create(CultureInfo.InvariantCulture,
            $"{_best.Basis.Label} {_best.Hyper} (E {F(_best.Errors?.Overall.EnergyMaeMevPerAtom)} meV/atom, F {F(_best.Errors?.Overall.ForceMaeEvPerA)} eV/Å)");
        _o.Progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {Clock(Elapsed)} of {Clock(_budget)}, {Clock(Math.Max(0, Left))} left; {_candidates.Count} candidates; {what}; best so far: {best}"));
    }

    private static string Clock(double seconds) => $"{(int)(seconds / 60):D2}:{(int)(seconds % 60):D2}";

    private FitOutcome Finish(IProgress<WorkProgress>? descriptorProgress)
    {
        var chosen = _best!;
        Potential potential;
        double[] x;
        bool fsChosen = chosen.Basis.Family == "fs-ace";
        if (fsChosen)
        {
            var fsBasis = _fsRefit is { } fr && fr.Label == chosen.Basis.Label ? fr.Basis
                : throw new MlipException($"{Path.Combine(_o.Output, FsModelName)}: the FS stage's model is missing; run the fit again without --resume");
            // its coefficients: E0 and every C-tilde of every species (the model's free numbers, compared bit for bit by the determinism test)
            (potential, x) = (AcePotential.Create(fsBasis), [.. fsBasis.E0, .. fsBasis.Functions.SelectMany(fs => fs.SelectMany(f => f.Ctildes))]);
        }
        else if (_bestRefit is { } kept && kept.Label == chosen.Basis.Label && kept.Key == chosen.Hyper.Key)
            (potential, x) = (kept.Potential, kept.X);
        else
        {
            _o.Log.WriteLine($"fit: rebuilding the design of {chosen.Basis.Label} (resumed run)");
            var design = BuildDesign(chosen.Basis, descriptorProgress);
            (x, potential) = Refit(design, chosen.Basis, chosen.Hyper)
                ?? throw new MlipException($"the refit of {chosen.Basis.Label} on all of TRAIN failed: its normal equations are not positive definite");
        }
        EndService();
        int evaluated = _candidates.Count(c => double.IsFinite(c.Score));
        string reason = string.Create(CultureInfo.InvariantCulture,
            $"lowest validation score ({chosen.Score:F4}: the sum of its validation MAEs over those of the first candidate, stress at weight {_s.StressScore:G3}) " +
            $"among {evaluated} candidates on {_bases.Count(b => b.Status is "done" or "stopped: budget")} bases; " +
            $"{(_folds.IsCrossValidation ? $"{_folds.Count}-fold cross-validation" : "hold-out validation")} on TRAIN only; refitted on all of TRAIN");
        _o.Log.WriteLine($"fit: chosen {chosen.Basis.Label} {chosen.Hyper}: {reason}");

        string modelPath = Path.Combine(_o.Output, fsChosen ? "model.yace" : "model.json");
        var training = new JsonObject
        {
            ["fit"] = "mlip fit",
            ["seed"] = _o.Seed,
            ["basis"] = chosen.Basis.Json(),
            ["hyperparameters"] = chosen.Hyper.Json(),
            ["loss"] = new JsonObject { ["energy"] = 1.0, ["force"] = chosen.Hyper.Force, ["stress"] = chosen.Hyper.Stress },
        };
        if (fsChosen)
        {
            // a PACE model with an FS embedding has only the .yace form (every verb and LAMMPS read it); no stale model.json beside it
            ModelFile.Save(modelPath, potential);
            string stale = Path.Combine(_o.Output, "model.json");
            if (File.Exists(stale)) File.Delete(stale);
        }
        else ModelFile.Save(modelPath, potential, training);
        if (!fsChosen && Models.Ace.AceLinearExport.IsLinearAce(potential))
            ModelFile.Save(Path.Combine(_o.Output, "model.yace"), potential);
        var trainErrors = Evaluation.Run(potential, _o.Train, _o.Threads);
        // TEST: evaluated once, after the choice and the refit
        var testErrors = _o.Test.Count > 0 ? Evaluation.Run(potential, _o.Test, _o.Threads) : null;
        double? cost = _bases.FirstOrDefault(b => b.Basis.Label == chosen.Basis.Label)?.CostUsPerAtom;
        var outcome = new FitOutcome(_candidates, _bases, chosen, reason, potential, x, trainErrors, testErrors, _folds, modelPath, Elapsed, _budget);
        FitReport.Write(_o.Output, outcome, _s);
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: done in {Clock(Elapsed)} (budget {Clock(_budget)}); chosen model {cost:F1} µs/atom"));
        return outcome;
    }

    /// <summary>
    /// The design of <paramref name="basis"/>: under MPI rank 0 tells the other ranks (waiting in <see cref="Serve"/>) which
    /// basis to build, and every rank builds its share (<see cref="LinearDesign.Build"/>); rank 0 gets the whole design.
    /// </summary>
    private LinearDesign BuildDesign(FitBasis basis, IProgress<WorkProgress>? descriptorProgress)
    {
        var comm = _o.Communicator;
        if (comm.Size > 1)
        {
            comm.Barrier(); // the serving ranks sleep here while rank 0 solves, instead of spinning in the broadcast
            comm.BroadcastBytes(System.Text.Encoding.UTF8.GetBytes(basis.Json().ToJsonString()));
        }
        return LinearDesign.Build(basis.Descriptor.Create(_elements), basis.Order, _o.Train, _folds, _o.Threads, descriptorProgress, comm);
    }

    /// <summary>Rank 0: tells the serving ranks that no more designs are built (they return from <see cref="Serve"/>).</summary>
    private void EndService()
    {
        var comm = _o.Communicator;
        if (comm.Size == 1) return;
        comm.Barrier();
        comm.BroadcastBytes([]);
    }

    /// <summary>
    /// A rank other than 0 of an MPI run: builds its share of each design rank 0 asks for (the same structures, folds and
    /// threads as rank 0's <see cref="Run"/>), until rank 0 has chosen; it writes nothing. Returns the number of designs built.
    /// </summary>
    public int Serve()
    {
        var comm = _o.Communicator;
        if (comm.IsRoot) throw new InvalidOperationException("rank 0 runs the search; the other ranks serve it");
        int built = 0;
        while (true)
        {
            comm.Barrier();
            var command = comm.BroadcastBytes(null);
            if (command.Length == 0) return built;
            var basis = FitBasis.FromJson(JsonNode.Parse(command)!);
            LinearDesign.Build(basis.Descriptor.Create(_elements), basis.Order, _o.Train, _folds, _o.Threads, null, comm);
            built++;
            LargeObjectGarbage.Collect(); // this rank's share of the blocks is garbage once rank 0 has it
        }
    }

    private void LoadCheckpoint()
    {
        string path = Path.Combine(_o.Output, CheckpointName);
        if (!_o.Resume)
        {
            if (File.Exists(path)) File.Delete(path);
            return;
        }
        if (!File.Exists(path))
        {
            _o.Log.WriteLine($"fit: --resume: no {CheckpointName} in {_o.Output}; starting afresh");
            return;
        }
        var root = TryLoad(path) ?? throw new MlipException($"{path}: not a readable checkpoint; remove it or leave out --resume");
        if (root["fingerprint"]?.GetValue<string>() != _o.Fingerprint)
            throw new MlipException($"{path}: the checkpoint belongs to another run (other data, settings, seed or threads); remove it or leave out --resume");
        _previousSeconds = root["elapsed_seconds"]!.GetValue<double>();
        foreach (var b in root["bases"]!.AsArray()) _checkpoint[b!["label"]!.GetValue<string>()] = b;
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: resuming: {_checkpoint.Count} bases done, {_previousSeconds:F0} s spent before"));
    }

    private void SaveCheckpoint(FitBasis basis, FitBasisOutcome outcome, IEnumerable<FitCandidate> candidates, JsonNode? modelFile = null)
    {
        string path = Path.Combine(_o.Output, CheckpointName);
        var root = File.Exists(path) ? TryLoad(path) : null; // a fresh run deleted the old one at its start
        root ??= new JsonObject { ["fingerprint"] = _o.Fingerprint, ["bases"] = new JsonArray() };
        root["elapsed_seconds"] = Elapsed;
        root["bases"]!.AsArray().Add(new JsonObject
        {
            ["label"] = basis.Label,
            ["outcome"] = outcome.Json(),
            ["candidates"] = new JsonArray([.. candidates.Select(c => (JsonNode)c.Json(null, outcome.Columns))]),
            ["model_file"] = modelFile,
        });
        AtomicFile.WriteJson(path, root);
    }

    private static JsonObject? TryLoad(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject; }
        catch (System.Text.Json.JsonException) { return null; }
    }
}
