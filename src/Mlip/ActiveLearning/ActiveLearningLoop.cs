using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Generation;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>One iteration of the loop, as reported.</summary>
public sealed record IterationRecord(int Iteration, int Labelled, double EnergyRmse, double ForceRmse, int Candidates,
    double MeanUncertainty, double MaxUncertainty, double ValidationMeanUncertainty, double Spearman, double Seconds, int Failed = 0, int SetAside = 0, int Dropped = 0)
{
    public JsonObject ToJson() => new()
    {
        ["iteration"] = Iteration, ["labelled"] = Labelled, ["validation_energy_rmse_mev_per_atom"] = EnergyRmse,
        ["validation_force_rmse_ev_per_a"] = ForceRmse, ["candidates"] = Candidates, ["candidate_mean_uncertainty"] = MeanUncertainty,
        ["candidate_max_uncertainty"] = MaxUncertainty, ["validation_mean_uncertainty"] = ValidationMeanUncertainty,
        ["validation_spearman_uncertainty_vs_force_error"] = double.IsFinite(Spearman) ? Spearman : null, ["seconds"] = Seconds,
        ["failed_labels"] = Failed, ["set_aside"] = SetAside, ["dropped_candidates"] = Dropped,
    };

    public static IterationRecord FromJson(JsonNode n) => new((int)n["iteration"]!, (int)n["labelled"]!,
        (double)n["validation_energy_rmse_mev_per_atom"]!, (double)n["validation_force_rmse_ev_per_a"]!, (int)n["candidates"]!,
        (double)n["candidate_mean_uncertainty"]!, (double)n["candidate_max_uncertainty"]!, (double)n["validation_mean_uncertainty"]!,
        n["validation_spearman_uncertainty_vs_force_error"] is { } s ? (double)s : double.NaN, (double)n["seconds"]!, (int?)n["failed_labels"] ?? 0, (int?)n["set_aside"] ?? 0, (int?)n["dropped_candidates"] ?? 0);
}

/// <summary>
/// The model of one iteration: the calculator MD and validation use (one fit, or a committee's mean), the fitted
/// potentials (saved at the end), the training set's descriptors, the uncertainty, and what the next refit may start from.
/// </summary>
public sealed record LoopModel(ICalculator Model, IReadOnlyList<Potential> Members, TrainingSet Set, IUncertaintyEstimator Estimator, object?[] WarmStart);

/// <summary>One selection mode's run: its history, why it stopped, and the structures the reference could not label.</summary>
public sealed record LearningRun(List<IterationRecord> History, string StopReason, List<LabelFailure> Failures);

/// <summary>Selection rule of a run: by uncertainty (the active loop) or uniformly at random (the baseline).</summary>
public enum SelectionMode { Active, Random }

/// <summary>
/// The active-learning loop: train → explore → score by uncertainty → pick a diverse batch → label with the
/// reference → add, until the labelling budget is spent or validation error and uncertainty stop falling.
/// Every iteration is checkpointed atomically in OUTPUT/MODE (labelled-NNN.xyz, then state.json naming it);
/// every random choice of iteration i draws from a generator seeded by (seed, i), so a killed and resumed run
/// ends with the same data set as an uninterrupted one.
/// </summary>
public sealed class ActiveLearningLoop(LearnConfig config, IReferenceMethod reference, TextWriter log)
{
    public LearnConfig Config { get; } = config;

    private readonly Labeller _labeller = new(reference, config.Threads, config.ReferenceRetries, log);

    /// <summary>Runs (or resumes) one selection mode; returns its history, why it stopped and the failed labels.</summary>
    public LearningRun Run(SelectionMode mode, IReadOnlyList<Structure> validation, bool resume)
    {
        var c = Config;
        string modeName = mode == SelectionMode.Active ? "active" : "random";
        string dir = Path.Combine(c.Output, modeName);
        Directory.CreateDirectory(dir);
        string statePath = Path.Combine(dir, "state.json");
        var descriptor = DescriptorFactory.Create(c.DescriptorType, c.DescriptorParameters, c.Elements);
        var spec = new DescriptorSpec(c.DescriptorType, c.DescriptorParameters);
        var seeds = ExplorationSeeds.From(c);
        // explore.min_pair_ratio: the closest approach a candidate may have, a fraction of the given structures' shortest distance
        double closest = c.MinPairRatio > 0 ? c.MinPairRatio * seeds.Crystals.Concat(seeds.MdStarts).Select(x => BatchSelector.ShortestDistance(x)).DefaultIfEmpty(0).Min() : 0;
        List<Structure> labelled;
        List<IterationRecord> history;
        List<LabelFailure> failures;
        int iteration;
        bool finished = false;
        string stopReason = "";
        if (resume && File.Exists(statePath))
        {
            var state = JsonNode.Parse(File.ReadAllText(statePath))!;
            iteration = (int)state["iteration"]!;
            labelled = [.. StructureIO.Read(Path.Combine(dir, (string)state["labelled"]!))];
            history = state["history"]!.AsArray().Select(n => IterationRecord.FromJson(n!)).ToList();
            failures = state["failures"]?.AsArray().Select(n => LabelFailure.FromJson(n!)).ToList() ?? [];
            finished = (bool?)state["finished"] ?? false;
            stopReason = (string?)state["stop_reason"] ?? "";
            log.WriteLine($"learn[{mode}]: resuming at iteration {iteration} with {labelled.Count} labelled structures");
        }
        else
        {
            if (!resume && Directory.EnumerateFileSystemEntries(dir).Any())
                foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
            var rng = IterationRandom(-1, mode);
            var (initial, failed) = InitialSet(rng);
            failures = failed;
            if (initial.Count == 0)
                throw new MlipException($"learn: none of the {failures.Count} initial structures could be labelled (first error: {failures.FirstOrDefault()?.Message})");
            labelled = initial;
            history = [];
            iteration = 0;
            Checkpoint(dir, iteration, labelled, history, failures, false, "");
        }
        object?[]? warmStart = null; // the previous iteration's fits (FS-ACE coefficients), a start for this one's
        while (!finished)
        {
            var clock = Stopwatch.StartNew();
            var fitted = Train(descriptor, spec, labelled, warmStart);
            warmStart = fitted.WarmStart;
            var (potential, set, estimator) = (fitted.Model, fitted.Set, fitted.Estimator);
            var (eRmse, fRmse, valMeanU, spearman) = Validate(potential, estimator, validation);
            var rng = IterationRandom(iteration, mode);
            // labels spent: the training set plus the labelled structures set aside for their forces (select.max_force)
            int spent = labelled.Count + history.Sum(h => h.SetAside);
            string? why = spent >= c.Budget ? $"budget spent: {spent} labelled structures (budget {c.Budget}{(spent > labelled.Count ? $", {spent - labelled.Count} set aside for forces above select.max_force" : "")})"
                : history.Count > 0 && history[^1].Labelled == labelled.Count && history[^1].Candidates > 0 && history[^1].SetAside == 0 ? $"no structure of iteration {iteration - 1}'s batch could be labelled (see failures)"
                : Plateau(history, fRmse);
            bool stop = why is not null;
            double meanU = 0, maxU = 0;
            int nCand = 0, nFailed = 0, nAside = 0, nDropped = 0;
            List<Structure> next = labelled;
            if (!stop)
            {
                if (c.Md is not null && !Explorer.ModelHasSeenForces(labelled))
                    log.WriteLine($"learn[{mode}] iteration {iteration}: no MD yet: every labelled force is zero (perfect crystals), so the model knows no forces to run MD with");
                var candidates = Explorer.Candidates(c, seeds, potential, labelled, rng, x => SafeScore(estimator, x));
                if (closest > 0)
                {
                    var near = new bool[candidates.Count];
                    MlipParallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = c.Threads }, i => near[i] = BatchSelector.ShortestDistance(candidates[i]) < closest);
                    nDropped = near.Count(x => x);
                    if (nDropped > 0)
                    {
                        candidates = [.. candidates.Where((_, i) => !near[i])];
                        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"learn[{mode}] iteration {iteration}: {nDropped} candidate(s) dropped (two atoms closer than {closest:F2} Å, explore.min_pair_ratio {c.MinPairRatio:G3} of the given structures' shortest distance)"));
                    }
                }
                nCand = candidates.Count;
                var scores = new double[candidates.Count];
                var fingerprints = new double[candidates.Count][];
                // greedy D-optimal batches need each candidate's per-atom vectors (descriptors, or ACE projections)
                var activeSets = mode == SelectionMode.Active && (c.DOptimalBatch || c.IOptimalBatch) ? estimator as IActiveSetEstimator : null;
                var vectors = new AtomVectors[candidates.Count];
                var (mean, scale) = set.FeatureStatistics();
                MlipParallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = c.Threads }, i =>
                {
                    var ds = descriptor.Compute(candidates[i], derivatives: false);
                    fingerprints[i] = BatchSelector.Fingerprint(ds, mean, scale);
                    if (activeSets is not null) vectors[i] = activeSets.Vectors(candidates[i]);
                    scores[i] = SafeScore(estimator, candidates[i]); // scored in both modes: the random baseline reports its uncertainty too
                });
                var finite = scores.Where(double.IsFinite).ToArray();
                meanU = finite.Length > 0 ? finite.Average() : 0;
                maxU = finite.Length > 0 ? finite.Max() : 0;
                int batch = Math.Min(c.Batch, c.Budget - spent);
                int[] pick;
                if (mode == SelectionMode.Random) pick = BatchSelector.Random(candidates.Count, batch, rng);
                else
                {
                    // select.random_share: that part of the batch is drawn uniformly from the candidates left after the informed picks
                    int informed = batch - (int)Math.Round(c.RandomShare * batch, MidpointRounding.AwayFromZero);
                    var pool = BatchSelector.Pool(scores, informed, c.MaxScore, c.PoolFraction);
                    var quota = c.Strata ? BatchSelector.Strata(pool.Select(i => BatchSelector.Kind(candidates[i])).ToList(), pool.Select(i => scores[i]).ToList(), informed) : null;
                    var sub = informed == 0 ? [] : quota is not null && c.WithinStrataAtRandom ? BatchSelector.WithinStrataAtRandom(quota, rng)
                        : activeSets is not null && c.IOptimalBatch ? PoolVariance.Select(TrainingVectors(activeSets, labelled, c.Threads), pool.Select(i => vectors[i]).ToList(), informed, quota)
                        : activeSets is not null
                        ? BatchSelector.DOptimal(activeSets.Sets, pool.Select(i => vectors[i]).ToList(), informed, quota)
                        : BatchSelector.Active(pool.Select(i => scores[i]).ToList(), pool.Select(i => fingerprints[i]).ToList(), informed, c.MinDistance, quota);
                    pick = sub.Select(j => pool[j]).ToArray();
                    if (informed < batch) pick = [.. pick, .. BatchSelector.RandomRest(candidates.Count, pick, batch - informed, rng)];
                }
                var chosen = pick.Select(i => candidates[i]).ToList();
                var (got, failed) = _labeller.LabelAll(chosen, FormattableString.Invariant($"{modeName}-iter{iteration:D3}"));
                nFailed = failed.Count;
                // structures whose reference forces are beyond anything the model should learn from are kept out of the fit
                var aside = got.Where(x => x.Forces!.Any(f => Math.Max(Math.Abs(f.X), Math.Max(Math.Abs(f.Y), Math.Abs(f.Z))) > c.MaxLabelForce)).ToList();
                nAside = aside.Count;
                if (nAside > 0)
                {
                    got = [.. got.Except(aside)];
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"learn[{mode}] iteration {iteration}: {nAside} labelled structure(s) set aside (a force component above {c.MaxLabelForce:G3} eV/Å)"));
                }
                failures.AddRange(failed);
                next = [.. labelled, .. got];
            }
            var record = new IterationRecord(iteration, labelled.Count, eRmse, fRmse, nCand, meanU, maxU, valMeanU, spearman, clock.Elapsed.TotalSeconds, nFailed, nAside, nDropped);
            history.Add(record);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"learn[{mode}] iteration {iteration}: {labelled.Count} labelled, validation E {eRmse:F2} meV/atom, F {fRmse:F4} eV/Å, " +
                $"{nCand} candidates, uncertainty mean {meanU:G3} max {maxU:G3} ({estimator.ScoreName}), {record.Seconds:F1} s") +
                (nFailed > 0 ? $", {nFailed} label(s) failed" : ""));
            if (stop)
            {
                stopReason = why!;
                log.WriteLine($"learn[{mode}]: stopped: {stopReason}");
                for (int m = 0; m < fitted.Members.Count; m++)
                {
                    // a PACE potential (FS-ACE) is saved as .yace; a committee's members as model-1, model-2, ...
                    string ext = fitted.Members[m].Descriptor is AceDensities ? ".yace" : ".json";
                    ModelFile.Save(Path.Combine(dir, (fitted.Members.Count == 1 ? "model" : FormattableString.Invariant($"model-{m + 1}")) + ext), fitted.Members[m]);
                }
                finished = true;
                Checkpoint(dir, iteration, labelled, history, failures, true, stopReason);
                break;
            }
            iteration++;
            labelled = next;
            Checkpoint(dir, iteration, labelled, history, failures, false, "");
        }
        return new LearningRun(history, stopReason, failures);
    }

    /// <summary>The per-atom vectors of the labelled structures that the active sets grade (the training rows of <see cref="PoolVariance"/>).</summary>
    private static AtomVectors[] TrainingVectors(IActiveSetEstimator estimator, IReadOnlyList<Structure> labelled, int threads)
    {
        var v = new AtomVectors[labelled.Count];
        MlipParallel.For(0, labelled.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => v[i] = estimator.Vectors(labelled[i]));
        return v;
    }

    /// <summary>An independent generator for iteration i of a mode (−1: the initial set, shared by both modes).</summary>
    private Random IterationRandom(int iteration, SelectionMode mode)
    {
        unchecked
        {
            int h = Config.Seed * 7919 + (iteration + 2) * 104729 + (iteration < 0 ? 0 : (int)mode * 15485863);
            return new Random(h);
        }
    }

    /// <summary>
    /// The initial set: the structures of <c>initial: FILE</c> (labelled ones kept as they are, the others labelled), or
    /// strained and rattled 8-atom diamond cells.
    /// </summary>
    private (List<Structure> Labelled, List<LabelFailure> Failed) InitialSet(Random rng)
    {
        if (Config.InitialFile is { } file)
        {
            var given = LearnConfig.ReadStructures(file).Select(s => { var r = s.Clone(); r.Group ??= "initial"; return r; }).ToList();
            var todo = given.Where(s => s.Energy is null || s.Forces is null).ToList();
            var (got, failed) = _labeller.LabelAll(todo, "init");
            var labelledQueue = new Queue<Structure>(got);
            var failedTags = failed.Select(f => f.Tag).ToHashSet();
            var result = new List<Structure>();
            for (int i = 0, t = 0; i < given.Count; i++)
            {
                if (given[i].Energy is not null && given[i].Forces is not null) { result.Add(given[i]); continue; }
                if (!failedTags.Contains(FormattableString.Invariant($"init-{t:D3}"))) result.Add(labelledQueue.Dequeue());
                t++;
            }
            log.WriteLine($"learn: initial set of {result.Count} structures from {file} ({given.Count - todo.Count} labelled there, {todo.Count - failed.Count} labelled now)");
            return (result, failed);
        }
        var list = new List<Structure>();
        for (int i = 0; i < Config.Initial; i++)
        {
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond(Config.Element, Config.LatticeConstant), Explorer.RandomStrain(rng, 0.03)),
                0.02 + 0.08 * rng.NextDouble(), rng.Next());
            s.Group = "initial";
            list.Add(s);
        }
        return _labeller.LabelAll(list, "init");
    }

    /// <summary>
    /// Fits the configured model to the labelled structures: one fit, or a committee of <see cref="LearnConfig.Committee"/>
    /// fits with seeds seed, seed + 1, ... (the model is then their mean, the uncertainty their spread). The training set
    /// returned holds the descriptors (with derivatives, except for ACE, whose fit folds each structure's derivative blocks
    /// into the design matrix as it goes). <paramref name="warmStart"/>: the previous iteration's <see cref="LoopModel.WarmStart"/>.
    /// </summary>
    public LoopModel Train(IDescriptor descriptor, DescriptorSpec spec, IReadOnlyList<Structure> labelled, object?[]? warmStart = null)
    {
        var c = Config;
        var kind = ModelKinds.Get(c.ModelKind);
        var settings = c.ModelSettings;
        // a sparse GPR cannot have more sparse points than the atoms labelled so far
        if (settings is GaussianProcessSettings gp) settings = gp with { Sparse = Math.Min(gp.Sparse, labelled.Sum(s => s.Count)) };
        var set = kind.NeedsTrainingSet ? TrainingSet.Compute(descriptor, labelled, derivatives: true, c.Threads, neighborCutoff: kind.NeighborCutoff(settings, descriptor)) : null;
        int n = Math.Max(1, c.Committee);
        var members = new List<Potential>(n);
        var states = new object?[n];
        for (int m = 0; m < n; m++)
        {
            var fit = kind.Fit(new ModelFitContext
            {
                Descriptor = descriptor, Spec = spec, Elements = c.Elements, Structures = labelled, Set = set,
                Loss = c.Loss, Seed = c.Seed + m, Threads = c.Threads, Source = c.SourcePath,
                WarmStart = warmStart is { } w && m < w.Length ? w[m] : null,
            }, settings);
            members.Add(fit.Potential ?? new Potential(descriptor, fit.Model!, spec));
            states[m] = fit.WarmStart;
        }
        set ??= TrainingSet.Compute(descriptor, labelled, derivatives: false, c.Threads);
        if (n == 1)
        {
            // a PACE potential (FS-ACE) is graded on the projections select.grade names, by default the linear B-projections
            // (pacemaker's default): an FS fit from the linear start keeps its further densities near zero, where F'(ρ_p) is
            // nearly the same for every atom, so the full grade's density blocks are nearly collinear (docs/active-learning.md)
            var estimator = Models.Ace.AcePotential.BasisOf(members[0]) is not null
                ? Models.Ace.AceExtrapolation.Build(members[0], set.Structures, c.AceGrade ?? Models.Ace.AceGradeKind.Linear) : kind.Uncertainty(members[0], set);
            return new LoopModel(members[0], members, set, estimator, states);
        }
        var committee = new CommitteeUncertainty(members);
        return new LoopModel(new CommitteeCalculator(committee), members, set, committee, states);
    }

    private static double SafeScore(IUncertaintyEstimator estimator, Structure s)
    {
        try { return estimator.Estimate(s).Score; }
        catch (MlipException) { return double.PositiveInfinity; }
    }

    /// <summary>Validation errors, mean uncertainty and the Spearman correlation of per-structure uncertainty with per-structure force RMSE.</summary>
    public (double EnergyRmse, double ForceRmse, double MeanUncertainty, double Spearman) Validate(ICalculator potential, IUncertaintyEstimator estimator, IReadOnlyList<Structure> validation)
    {
        var eval = Evaluation.Run(potential, validation, Config.Threads);
        var u = new double[validation.Count];
        var err = new double[validation.Count];
        MlipParallel.For(0, validation.Count, new ParallelOptions { MaxDegreeOfParallelism = Config.Threads }, i =>
        {
            var r = estimator.Estimate(validation[i]);
            u[i] = r.Score;
            var f = validation[i].Forces!;
            double sq = 0;
            for (int a = 0; a < f.Length; a++) sq += (r.Forces[a] - f[a]).NormSquared;
            err[i] = Math.Sqrt(sq / (3.0 * Math.Max(1, f.Length)));
        });
        return (eval.Overall.EnergyRmseMevPerAtom ?? double.NaN, eval.Overall.ForceRmseEvPerA ?? double.NaN,
            u.Where(double.IsFinite).DefaultIfEmpty(0).Average(), Statistics.Spearman(u, err));
    }

    /// <summary>
    /// The stop rule: over the last <c>stop.patience</c> iterations neither the validation force RMSE nor the candidates'
    /// uncertainty (max over each fresh exploration, or mean: <c>stop.uncertainty</c>) fell by <c>stop.tolerance</c>
    /// (relative); the reason as the report states it, or null to go on.
    /// </summary>
    public string? Plateau(List<IterationRecord> history, double forceRmse)
    {
        int p = Config.Patience;
        if (p <= 0 || history.Count < p) return null;
        double before = history[^p].ForceRmse;
        double best = Math.Min(forceRmse, history.Skip(history.Count - p + 1).Select(h => h.ForceRmse).DefaultIfEmpty(forceRmse).Min());
        bool max = Config.StopUncertainty == "max";
        double U(IterationRecord h) => max ? h.MaxUncertainty : h.MeanUncertainty;
        double uBefore = U(history[^p]), uBest = history.Skip(history.Count - p + 1).Select(U).DefaultIfEmpty(U(history[^1])).Min();
        if (!(best > (1 - Config.Tolerance) * before && uBest > (1 - Config.Tolerance) * uBefore)) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"plateau: over the last {p} iterations the validation force RMSE went from {before:G4} to at best {best:G4} eV/Å and the {(max ? "max" : "mean")} candidate uncertainty from {uBefore:G4} to at best {uBest:G4}, neither falling by {Config.Tolerance:P0}");
    }

    private static void Checkpoint(string dir, int iteration, List<Structure> labelled, List<IterationRecord> history, List<LabelFailure> failures, bool finished, string stopReason)
    {
        string name = FormattableString.Invariant($"labelled-{iteration:D3}.xyz");
        StructureIO.Write(Path.Combine(dir, name), labelled);
        var state = new JsonObject
        {
            ["iteration"] = iteration, ["labelled"] = name, ["finished"] = finished, ["stop_reason"] = stopReason,
            ["history"] = new JsonArray(history.Select(h => (JsonNode)h.ToJson()).ToArray()),
            ["failures"] = new JsonArray(failures.Select(f => (JsonNode)f.ToJson()).ToArray()),
        };
        AtomicFile.WriteText(Path.Combine(dir, "state.json"), w => w.Write(state.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        foreach (var f in Directory.GetFiles(dir, "labelled-*.xyz"))
            if (Path.GetFileName(f) != name) File.Delete(f);
        if (finished) File.Copy(Path.Combine(dir, name), Path.Combine(dir, "labelled.xyz"), overwrite: true);
    }

    /// <summary>
    /// The fixed validation set: a file; or, made once and kept in OUTPUT/validation.xyz, from the user's structures
    /// (initial, MD cells) by the exploration's operations (strains, rattles, vacancies, swaps, surfaces) plus MD
    /// snapshots with a classical reference, labelled by the reference; or, without user structures, strained diamond
    /// cells, vacancies, (100) surfaces and MD of <see cref="LearnConfig.Element"/>.
    /// </summary>
    public static IReadOnlyList<Structure> ValidationSet(LearnConfig c, ICalculator? referenceCalculator, IReferenceMethod reference, TextWriter log)
    {
        if (c.ValidationFile is not null) return StructureIO.Read(c.ValidationFile);
        string path = Path.Combine(c.Output, "validation.xyz");
        if (File.Exists(path)) return StructureIO.Read(path);
        IReadOnlyList<Structure> set;
        if (c.HasUserStructures) set = FromUserStructures(c, referenceCalculator, reference, log);
        else
        {
            if (referenceCalculator is null) throw new MlipException("with a command or i-PI reference give a labelled validation file (validation: FILE) or starting structures (initial: FILE)");
            set = DatasetGenerator.Generate(referenceCalculator, new DatasetOptions
            {
                Element = c.Element, Seed = c.Seed + 1000, DiamondCells = 10, DiamondSupercells = 2, OtherPhaseCells = 0, VacancyCells = 4, SurfaceSlabs = 4,
                Temperatures = [.. c.ValidationTemperatures], SnapshotsPerTemperature = c.ValidationSnapshots, MaxStrain = 0.05,
            });
        }
        Directory.CreateDirectory(c.Output);
        StructureIO.Write(path, set);
        log.WriteLine($"learn: validation set of {set.Count} structures ({string.Join(", ", set.GroupBy(s => s.Group).Select(g => $"{g.Key} {g.Count()}"))}) in {path}");
        return set;
    }

    private static List<Structure> FromUserStructures(LearnConfig c, ICalculator? referenceCalculator, IReferenceMethod reference, TextWriter log)
    {
        var seeds = ExplorationSeeds.From(c);
        var crystals = seeds.Crystals.Count > 0 ? seeds.Crystals : seeds.MdStarts;
        var rng = new Random(c.Seed + 1000);
        var list = new List<Structure>();
        for (int k = 0; k < c.ValidationStructures && crystals.Count > 0; k++)
        {
            var bulk = crystals[k % crystals.Count];
            Structure Strained() { var x = StructureOperations.Strain(bulk, 0.05, 0.05, rng); x.Group = "strain"; return x; }
            Structure Rattled(double amplitude) { var x = StructureOperations.Rattle(bulk, amplitude, rng); x.Group = "rattle"; return x; }
            Structure Tagged(Structure x, string group) { x.Group = group; return x; }
            var s = (k % 5) switch
            {
                0 => Strained(),
                1 => Rattled(0.05 + 0.1 * rng.NextDouble()),
                2 => StructureOperations.Vacancies(bulk, 1, c.VacancyMinAtoms, rng) is { } v ? Tagged(StructureOperations.Rattle(v, 0.05, rng), "vacancy") : Strained(),
                3 => StructureOperations.Swap(bulk, 1, rng) is { } w ? Tagged(StructureOperations.Rattle(w, 0.05, rng), "swap") : Rattled(0.1),
                _ => Surface(bulk, c.SurfaceMiller[k / 5 % c.SurfaceMiller.Count], c, rng),
            };
            list.Add(s);
        }
        if (referenceCalculator is not null)
            foreach (var start in seeds.MdStarts)
                foreach (double t in c.ValidationTemperatures)
                    list.AddRange(Explorer.RunMd(start, new MdExploration([t], [null], 100 * c.ValidationSnapshots, c.ValidationSnapshots, 1, 1.0), referenceCalculator, t, null, rng.Next()));
        var (labelled, failed) = new Labeller(reference, c.Threads, c.ReferenceRetries, log).LabelAll(list, "validation");
        if (failed.Count > 0) log.WriteLine($"learn: {failed.Count} validation structure(s) could not be labelled and are left out");
        return labelled;
    }

    private static Structure Surface(Structure bulk, int[] hkl, LearnConfig c, Random rng)
    {
        var slab = StructureOperations.Surface(bulk, hkl[0], hkl[1], hkl[2], c.SurfaceLayers, c.SurfaceVacuum);
        var s = StructureOperations.Rattle(slab, 0.05, rng);
        s.Group = slab.Group;
        return s;
    }
}

/// <summary>Rank statistics.</summary>
public static class Statistics
{
    /// <summary>Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 finite pairs.</summary>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        var idx = Enumerable.Range(0, x.Count).Where(i => double.IsFinite(x[i]) && double.IsFinite(y[i])).ToArray();
        if (idx.Length < 3) return double.NaN;
        var rx = Ranks(idx.Select(i => x[i]).ToArray());
        var ry = Ranks(idx.Select(i => y[i]).ToArray());
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++) { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - my) * (ry[i] - my); }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    public static double[] Ranks(double[] v)
    {
        var order = Enumerable.Range(0, v.Length).OrderBy(i => v[i]).ToArray();
        var r = new double[v.Length];
        for (int a = 0; a < order.Length;)
        {
            int b = a;
            while (b + 1 < order.Length && v[order[b + 1]] == v[order[a]]) b++;
            double rank = (a + b) / 2.0 + 1;
            for (int k = a; k <= b; k++) r[order[k]] = rank;
            a = b + 1;
        }
        return r;
    }
}
