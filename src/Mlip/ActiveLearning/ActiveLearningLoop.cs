using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
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
    double MeanUncertainty, double MaxUncertainty, double ValidationMeanUncertainty, double Spearman, double Seconds)
{
    public JsonObject ToJson() => new()
    {
        ["iteration"] = Iteration, ["labelled"] = Labelled, ["validation_energy_rmse_mev_per_atom"] = EnergyRmse,
        ["validation_force_rmse_ev_per_a"] = ForceRmse, ["candidates"] = Candidates, ["candidate_mean_uncertainty"] = MeanUncertainty,
        ["candidate_max_uncertainty"] = MaxUncertainty, ["validation_mean_uncertainty"] = ValidationMeanUncertainty,
        ["validation_spearman_uncertainty_vs_force_error"] = double.IsFinite(Spearman) ? Spearman : null, ["seconds"] = Seconds,
    };

    public static IterationRecord FromJson(JsonNode n) => new((int)n["iteration"]!, (int)n["labelled"]!,
        (double)n["validation_energy_rmse_mev_per_atom"]!, (double)n["validation_force_rmse_ev_per_a"]!, (int)n["candidates"]!,
        (double)n["candidate_mean_uncertainty"]!, (double)n["candidate_max_uncertainty"]!, (double)n["validation_mean_uncertainty"]!,
        n["validation_spearman_uncertainty_vs_force_error"] is { } s ? (double)s : double.NaN, (double)n["seconds"]!);
}

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

    /// <summary>Runs (or resumes) one selection mode; returns the iteration history.</summary>
    public List<IterationRecord> Run(SelectionMode mode, IReadOnlyList<Structure> validation, bool resume)
    {
        var c = Config;
        string dir = Path.Combine(c.Output, mode == SelectionMode.Active ? "active" : "random");
        Directory.CreateDirectory(dir);
        string statePath = Path.Combine(dir, "state.json");
        var descriptor = DescriptorFactory.Create(c.DescriptorType, c.DescriptorParameters, [c.Element]);
        var spec = new DescriptorSpec(c.DescriptorType, c.DescriptorParameters);
        List<Structure> labelled;
        List<IterationRecord> history;
        int iteration;
        bool finished = false;
        if (resume && File.Exists(statePath))
        {
            var state = JsonNode.Parse(File.ReadAllText(statePath))!;
            iteration = (int)state["iteration"]!;
            labelled = [.. StructureIO.Read(Path.Combine(dir, (string)state["labelled"]!))];
            history = state["history"]!.AsArray().Select(n => IterationRecord.FromJson(n!)).ToList();
            finished = (bool?)state["finished"] ?? false;
            log.WriteLine($"learn[{mode}]: resuming at iteration {iteration} with {labelled.Count} labelled structures");
        }
        else
        {
            if (!resume && Directory.EnumerateFileSystemEntries(dir).Any())
                foreach (var f in Directory.GetFiles(dir)) File.Delete(f);
            var rng = IterationRandom(-1, mode);
            labelled = LabelAll(InitialSet(rng), "init");
            history = [];
            iteration = 0;
            Checkpoint(dir, iteration, labelled, history, false);
        }
        while (!finished)
        {
            var clock = Stopwatch.StartNew();
            var (potential, set) = Train(descriptor, spec, labelled);
            var estimator = ModelKinds.Get(c.ModelKind).Uncertainty(potential, set);
            var (eRmse, fRmse, valMeanU, spearman) = Validate(potential, estimator, validation);
            var rng = IterationRandom(iteration, mode);
            bool stop = labelled.Count >= c.Budget || Plateau(history, fRmse);
            double meanU = 0, maxU = 0;
            int nCand = 0;
            List<Structure> next = labelled;
            if (!stop)
            {
                var candidates = Explorer.Candidates(c, potential, labelled, rng);
                nCand = candidates.Count;
                var scores = new double[candidates.Count];
                var fingerprints = new double[candidates.Count][];
                // greedy D-optimal batches need each candidate's per-atom vectors (descriptors, or ACE projections)
                var activeSets = mode == SelectionMode.Active && c.DOptimalBatch ? estimator as IActiveSetEstimator : null;
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
                int batch = Math.Min(c.Batch, c.Budget - labelled.Count);
                int[] pick;
                if (mode == SelectionMode.Random) pick = BatchSelector.Random(candidates.Count, batch, rng);
                else
                {
                    // candidates above max_score wait unless too few are left below it (then the least extreme of them)
                    var pool = Enumerable.Range(0, candidates.Count).Where(i => scores[i] <= c.MaxScore).ToList();
                    if (pool.Count < batch)
                        pool.AddRange(Enumerable.Range(0, candidates.Count).Where(i => !(scores[i] <= c.MaxScore)).OrderBy(i => scores[i]).Take(batch - pool.Count));
                    var sub = activeSets is not null
                        ? BatchSelector.DOptimal(activeSets.Sets, pool.Select(i => vectors[i]).ToList(), batch)
                        : BatchSelector.Active(pool.Select(i => scores[i]).ToList(), pool.Select(i => fingerprints[i]).ToList(), batch, c.MinDistance);
                    pick = sub.Select(j => pool[j]).ToArray();
                }
                var chosen = pick.Select(i => candidates[i]).ToList();
                next = [.. labelled, .. LabelAll(chosen, FormattableString.Invariant($"iter{iteration:D3}"))];
            }
            var record = new IterationRecord(iteration, labelled.Count, eRmse, fRmse, nCand, meanU, maxU, valMeanU, spearman, clock.Elapsed.TotalSeconds);
            history.Add(record);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"learn[{mode}] iteration {iteration}: {labelled.Count} labelled, validation E {eRmse:F2} meV/atom, F {fRmse:F4} eV/Å, " +
                $"{nCand} candidates, uncertainty mean {meanU:G3} max {maxU:G3} ({estimator.ScoreName}), {record.Seconds:F1} s"));
            if (stop)
            {
                ModelFile.Save(Path.Combine(dir, "model.json"), potential);
                finished = true;
                Checkpoint(dir, iteration, labelled, history, true);
                break;
            }
            iteration++;
            labelled = next;
            Checkpoint(dir, iteration, labelled, history, false);
        }
        return history;
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

    /// <summary>The initial set: strained and rattled 8-atom diamond cells.</summary>
    private List<Structure> InitialSet(Random rng)
    {
        var list = new List<Structure>();
        for (int i = 0; i < Config.Initial; i++)
        {
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond(Config.Element, Config.LatticeConstant), Explorer.RandomStrain(rng, 0.03)),
                0.02 + 0.08 * rng.NextDouble(), rng.Next());
            s.Group = "initial";
            list.Add(s);
        }
        return list;
    }

    private List<Structure> LabelAll(List<Structure> structures, string tag)
    {
        var result = new Structure[structures.Count];
        if (reference.Parallel)
            MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = Config.Threads },
                i => result[i] = reference.Label(structures[i], FormattableString.Invariant($"{tag}-{i:D3}")));
        else
            for (int i = 0; i < structures.Count; i++) result[i] = reference.Label(structures[i], FormattableString.Invariant($"{tag}-{i:D3}"));
        return [.. result];
    }

    /// <summary>
    /// Fits the configured model to the labelled structures. The training set returned holds their descriptors (with
    /// derivatives, except for ACE, whose fit folds each structure's derivative blocks into the design matrix as it goes).
    /// </summary>
    public (Potential Potential, TrainingSet Set) Train(IDescriptor descriptor, DescriptorSpec spec, IReadOnlyList<Structure> labelled)
    {
        var c = Config;
        var kind = ModelKinds.Get(c.ModelKind);
        var settings = c.ModelSettings;
        // a sparse GPR cannot have more sparse points than the atoms labelled so far
        if (settings is GaussianProcessSettings gp) settings = gp with { Sparse = Math.Min(gp.Sparse, labelled.Sum(s => s.Count)) };
        var set = kind.NeedsTrainingSet ? TrainingSet.Compute(descriptor, labelled, derivatives: true, c.Threads) : null;
        var fit = kind.Fit(new ModelFitContext
        {
            Descriptor = descriptor, Spec = spec, Elements = [c.Element], Structures = labelled, Set = set,
            Loss = c.Loss, Seed = c.Seed, Threads = c.Threads, Source = c.SourcePath,
        }, settings);
        var potential = fit.Potential ?? new Potential(descriptor, fit.Model!, spec);
        return (potential, set ?? TrainingSet.Compute(descriptor, labelled, derivatives: false, c.Threads));
    }

    private static double SafeScore(IUncertaintyEstimator estimator, Structure s)
    {
        try { return estimator.Estimate(s).Score; }
        catch (MlipException) { return double.PositiveInfinity; }
    }

    /// <summary>Validation errors, mean uncertainty and the Spearman correlation of per-structure uncertainty with per-structure force RMSE.</summary>
    public (double EnergyRmse, double ForceRmse, double MeanUncertainty, double Spearman) Validate(Potential potential, IUncertaintyEstimator estimator, IReadOnlyList<Structure> validation)
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

    private bool Plateau(List<IterationRecord> history, double forceRmse)
    {
        int p = Config.Patience;
        if (p <= 0 || history.Count < p) return false;
        double before = history[^p].ForceRmse;
        double best = Math.Min(forceRmse, history.Skip(history.Count - p + 1).Select(h => h.ForceRmse).DefaultIfEmpty(forceRmse).Min());
        double uBefore = history[^p].MeanUncertainty, uNow = history[^1].MeanUncertainty;
        return best > (1 - Config.Tolerance) * before && uNow > (1 - Config.Tolerance) * uBefore;
    }

    private static void Checkpoint(string dir, int iteration, List<Structure> labelled, List<IterationRecord> history, bool finished)
    {
        string name = FormattableString.Invariant($"labelled-{iteration:D3}.xyz");
        StructureIO.Write(Path.Combine(dir, name), labelled);
        var state = new JsonObject
        {
            ["iteration"] = iteration, ["labelled"] = name, ["finished"] = finished,
            ["history"] = new JsonArray(history.Select(h => (JsonNode)h.ToJson()).ToArray()),
        };
        AtomicFile.WriteText(Path.Combine(dir, "state.json"), w => w.Write(state.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        foreach (var f in Directory.GetFiles(dir, "labelled-*.xyz"))
            if (Path.GetFileName(f) != name) File.Delete(f);
        if (finished) File.Copy(Path.Combine(dir, name), Path.Combine(dir, "labelled.xyz"), overwrite: true);
    }

    /// <summary>The fixed validation set: a file, or (made once, kept in OUTPUT/validation.xyz) MD at the given temperatures, vacancies, surfaces, strained cells, labelled by the reference calculator.</summary>
    public static IReadOnlyList<Structure> ValidationSet(LearnConfig c, ICalculator? referenceCalculator, TextWriter log)
    {
        if (c.ValidationFile is not null) return StructureIO.Read(c.ValidationFile);
        string path = Path.Combine(c.Output, "validation.xyz");
        if (File.Exists(path)) return StructureIO.Read(path);
        if (referenceCalculator is null) throw new MlipException("with a command or i-PI reference give a labelled validation file (validation: FILE)");
        var set = DatasetGenerator.Generate(referenceCalculator, new DatasetOptions
        {
            Element = c.Element, Seed = c.Seed + 1000, DiamondCells = 10, DiamondSupercells = 2, OtherPhaseCells = 0, VacancyCells = 4, SurfaceSlabs = 4,
            Temperatures = [.. c.ValidationTemperatures], SnapshotsPerTemperature = c.ValidationSnapshots, MaxStrain = 0.05,
        });
        Directory.CreateDirectory(c.Output);
        StructureIO.Write(path, set);
        log.WriteLine($"learn: validation set of {set.Count} structures ({string.Join(", ", set.GroupBy(s => s.Group).Select(g => $"{g.Key} {g.Count()}"))}) in {path}");
        return set;
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
