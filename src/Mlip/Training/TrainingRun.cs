using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.IO;
using Mlip.Models;
using Mlip.Reporting;
using Mlip.Structures;
using Mlip.Validation;
using Mlip.Training.Streaming;

namespace Mlip.Training;

/// <summary>The result of <c>mlip train</c>: the potential, the errors on the training and test sets, the files written.</summary>
public sealed record TrainingOutcome(Potential Potential, Evaluation TrainErrors, Evaluation? TestErrors, string ModelPath, TimeSpan DescriptorTime, TimeSpan FitTime);

/// <summary>
/// A whole training run from a <see cref="TrainConfig"/>: read the data, compute descriptors (with
/// derivatives), fit, write the model atomically, evaluate on the training and test sets, write
/// metrics.json and the parity plots. Progress goes to the log writer given to Execute.
/// </summary>
public static class TrainingRun
{
    /// <summary>The model kinds <c>mlip train</c> fits (the names in <see cref="ModelKinds"/>).</summary>
    public static IReadOnlyList<string> Kinds => ModelKinds.Names;

    public static TrainingOutcome Execute(TrainConfig config, TextWriter log, IProgress<WorkProgress>? progress = null, bool resume = false,
        ICommunicator? communicator = null)
    {
        // under mpirun each rank computes the descriptors of its share of the training structures (contiguous blocks by
        // index, Collectives.Share), the fit merges the ranks, the evaluation is split the same way, and rank 0 writes
        var comm = communicator ?? SingleProcess.Instance;
        // `threads: T` bounds every parallel loop of the run, also those inside one structure's descriptor or neighbour list
        // (MlipParallel.ForChunks takes all cores otherwise): a 1-thread run uses one core, and the ranks of an MPI run on one
        // machine do not compete for each other's cores (docs/scale.md). The loops' blocks do not depend on it: the same bits.
        using var threadLimit = MlipParallel.LimitThreads(LeastSquaresCore.ResolveThreads(config.Threads));
        var startup = new PhaseTimes(comm, log);
        startup.MarkSinceProcessStart("start-up (runtime, config, MPI)");
        var kind = ModelKinds.Get(config.ModelKind);
        var settings = kind.BindSettings(config.ModelSettings); // each error at its line of the config
        if (comm.Size > 1 && !kind.Distributes(settings))
            throw new MlipException($"{config.SourcePath}: a {kind.Name} model does not split over MPI ranks yet (linear, quadratic, ace, nn and pinn models do); run it without mpirun");
        Directory.CreateDirectory(config.Output);
        var needForces = config.Loss.Force > 0;
        var validation = ValidationOptions.Default with { RequireEnergy = config.Loss.Energy > 0, RequireForces = needForces, RequireStress = config.Loss.Stress > 0 };
        var train = StructureIO.ReadAll(config.Train, config.Format, validation);
        var test = StructureIO.ReadAll(config.Test, config.Format, ValidationOptions.Default);
        startup.Mark("reading the data");
        log.WriteLine($"data: {train.Count} training structures ({train.Sum(s => s.Count)} atoms), {test.Count} test structures ({test.Sum(s => s.Count)} atoms)");

        var (elements, spec, descriptor) = CreateDescriptor(config, train, log);
        var (first, end) = comm.Share(train.Count);
        var mine = comm.Size == 1 ? train : train.Skip(first).Take(end - first).ToList();
        if (comm.Size > 1)
            log.WriteLine($"mpi: {comm.Size} ranks, each with about {train.Count / comm.Size} of the {train.Count} training structures (rank 0: {first}..{end - 1})");

        var clock = Stopwatch.StartNew();
        bool derivatives = config.Loss.Force > 0 || config.Loss.Stress > 0;
        // a linear ACE folds each structure's derivative blocks into the design matrix as it goes (AceLinearFit)
        // linear, quadratic and linear ACE fits stream from the descriptor store when the run has one (docs/scale.md);
        // under MPI each rank computes the feature chunks and the factors of its share of the store's chunks
        bool streams = config.Store is not null && kind.Streams(settings);
        if (streams && settings is PinnSettings pinnSettings && !config.StoreNamed
            && PinnEstimate(pinnSettings, descriptor, mine, derivatives, config.StoreChunkAtoms, streamed: false) is { } inMemory && inMemory.PeakBytes <= FitEstimate.AvailableBytes())
        {
            // the streamed PINN recomputes its descriptor blocks at every evaluation (~8x the CPU on mlearn Si): the default
            // store is used only when the set does not fit in memory; a store named in the config is always used
            streams = false;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"descriptor store: not used by the PINN: its training set fits in memory (about {inMemory.PeakBytes / 1e9:F2} GB); name a store (store: DIR) to stream it"));
        }
        var store = streams
            ? DescriptorStore.Open(config.Store!, spec, descriptor, train, config.StoreChunkAtoms) : null;
        EstimateMemory(config, kind, settings, descriptor, mine, derivatives, store, log, partner: comm.Size > 1 && (comm.Rank ^ 1) < comm.Size);
        startup.Mark("descriptor, store opened, memory estimate");
        var set = kind.NeedsTrainingSet && store is null
            ? TrainingSet.Compute(descriptor, mine, derivatives, config.Threads, progress, kind.NeighborCutoff(settings, descriptor)) : null;
        var descriptorTime = clock.Elapsed;
        log.WriteLine(store is null
            ? string.Create(CultureInfo.InvariantCulture, $"descriptors: {descriptorTime.TotalSeconds:F1} s")
            : "descriptors: streamed from the descriptor store during the fit");

        clock.Restart();
        var fit = kind.Fit(new ModelFitContext
        {
            Descriptor = descriptor, Spec = spec, Elements = elements, Structures = mine, Set = set, Store = store,
            Loss = config.Loss, Seed = config.Seed, Threads = config.Threads,
            Output = config.Output, Resume = resume, Log = log, Progress = progress, Source = config.SourcePath,
            Communicator = comm,
        }, settings);
        var model = fit.Model;
        var fitInfo = fit.Info;
        var pace = fit.Potential; // a fitted nonlinear ACE, as a PACE potential
        var fitTime = clock.Elapsed;
        set = null; // the derivative blocks are no longer needed
        if (store is not null)
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"descriptor store: {store.DiskBytes() / 1e6:F1} MB on disk in {store.Directory}; peak memory so far {FitEstimate.PeakResidentBytes() / 1e9:F2} GB"));

        var potential = pace ?? new Potential(descriptor, model ?? throw new MlipException($"model kind '{kind.Name}' returned no model"), spec);
        var phases = new PhaseTimes(comm, log);
        var trainErrors = Evaluation.Run(potential, train, config.Threads, communicator: comm);
        phases.Mark("evaluation of the training set");
        var testErrors = test.Count > 0 ? Evaluation.Run(potential, test, config.Threads, communicator: comm) : null;
        if (test.Count > 0) phases.Mark("evaluation of the test set");
        if (model is IUncertainModel)
        {
            log.WriteLine();
            UncertaintySummary.Write(log, "training set", trainErrors);
            if (testErrors is not null)
            {
                log.WriteLine();
                UncertaintySummary.Write(log, "test set", testErrors);
            }
        }

        // a nonlinear ACE is a PACE potential: its model file is model.yace
        string modelPath = Path.Combine(config.Output, pace is null ? "model.json" : "model.yace");
        if (!comm.IsRoot)
        {
            // rank 1 draws the parity plots (PNG bytes) while rank 0 writes the model and metrics; rank 0 writes them: every
            // file of the run comes from rank 0, so the output directory need not be shared between machines
            var plots = comm.Rank == 1 ? ParityPlots(trainErrors, testErrors) : default;
            comm.Barrier(); // rank 0 waits for the plots asleep (MPI_Recv would spin); the other ranks pass
            if (comm.Rank == 1) SendParityPlots(comm, plots.Energy, plots.Forces);
            phases.Mark(comm.Rank == 1 ? "parity plots (drawn for rank 0)" : "wait for rank 1's plots");
            phases.Note(string.Create(CultureInfo.InvariantCulture, $"the process so far: {PhaseTimes.Cpu().TotalSeconds:F2} s CPU"));
            return new TrainingOutcome(potential, trainErrors, testErrors, modelPath, descriptorTime, fitTime);
        }
        var training = new JsonObject
        {
            ["config"] = config.SourcePath,
            ["seed"] = config.Seed,
            ["loss"] = new JsonObject { ["energy"] = config.Loss.Energy, ["force"] = config.Loss.Force, ["stress"] = config.Loss.Stress },
            ["fit"] = fitInfo,
            ["train_errors"] = MetricsJson.Of(trainErrors.Overall),
            ["test_errors"] = testErrors is null ? null : MetricsJson.Of(testErrors.Overall),
        };
        ModelFile.Save(modelPath, potential, training);
        if (pace is not null)
        {
            AtomicFile.WriteJson(Path.Combine(config.Output, "training.json"), training);
            log.WriteLine($"wrote {modelPath} (pair_style pace; the model file of a nonlinear ACE) and training.json");
        }
        if (Mlip.Models.Ace.AceLinearExport.IsLinearAce(potential))
        {
            // the same potential in PACE's C-tilde form, for LAMMPS pair_style pace
            ModelFile.Save(Path.Combine(config.Output, "model.yace"), potential);
            log.WriteLine($"wrote {Path.Combine(config.Output, "model.yace")} (pair_style pace)");
        }
        WriteMetrics(Path.Combine(config.Output, "metrics.json"), trainErrors, testErrors, descriptorTime, fitTime);
        if (comm.Size == 1) WriteParityPlots(config.Output, trainErrors, testErrors);
        else ReceiveParityPlots(comm, config.Output);
        phases.Mark(comm.Size == 1 ? "writing the model, metrics and plots" : "writing the model, metrics and rank 1's plots");
        phases.Note(string.Create(CultureInfo.InvariantCulture, $"the process so far: {PhaseTimes.Cpu().TotalSeconds:F2} s CPU"));
        return new TrainingOutcome(potential, trainErrors, testErrors, modelPath, descriptorTime, fitTime);
    }

    /// <summary>
    /// Item 6 of docs/scale.md: the estimated peak memory and time of a least-squares fit (linear, quadratic, linear ACE),
    /// logged before it starts, and a clear error when it exceeds the memory available.
    /// </summary>
    /// <summary>The PINN's peak memory, streamed from a store or with its training set in memory.</summary>
    private static FitEstimate PinnEstimate(PinnSettings pinn, IDescriptor descriptor, IReadOnlyList<Structure> train, bool derivatives, int chunkAtoms, bool streamed)
    {
        var (pairs, triplets) = FitEstimate.PinnGeometryPerAtom(train, descriptor.Cutoff, pinn.BopCutoff(descriptor).Rc);
        return FitEstimate.Pinn(descriptor.FeatureCount, train.Sum(s => (long)s.Count), derivatives ? pairs : 0, triplets, chunkAtoms, streamed, FitEstimate.StructureBytes(train));
    }

    private static void EstimateMemory(TrainConfig config, ModelKind kind, object settings, IDescriptor descriptor, IReadOnlyList<Structure> train, bool derivatives, DescriptorStore? store, TextWriter log,
        bool partner)
    {
        if (train.Count == 0) return;
        long atomsAll = train.Sum(s => (long)s.Count);
        string adviceStore = store is null
            ? "stream the fit from a descriptor store (the config key store: DIR; docs/scale.md), use fewer structures or features"
            : "lower store_chunk_atoms, use fewer features, or split the structures over MPI ranks (docs/scale.md)";
        if (settings is PinnSettings pinn)
        {
            PinnEstimate(pinn, descriptor, train, derivatives, config.StoreChunkAtoms, store is not null).Check(log, adviceStore);
            return;
        }
        int order = kind.Name switch { "linear" or "ace" => 1, "quadratic" => 2, _ => 0 };
        if (order == 0 || train.Count == 0) return;
        int k = descriptor.FeatureCount;
        int columns = train.SelectMany(s => s.AtomicNumbers).Distinct().Count() * Models.PolynomialModel.CoefficientsPerElement(order, k);
        long rows = FitEstimate.RowsOf(train, config.Loss);
        double pairsPerAtom = derivatives ? FitEstimate.PairsPerAtom(descriptor, train) : 0;
        long structureBytes = FitEstimate.StructureBytes(train);
        int largest = train.Max(s => s.Count);
        long perStructureDerivatives = (long)(pairsPerAtom * largest * k * 3 * 8);
        FitEstimate estimate;
        string advice;
        if (store is not null)
        {
            long chunkRows = 0;
            for (int c = 0; c < store.ChunkCount; c++)
            {
                var (start, end) = store.Chunk(c);
                var chunk = new List<Structure>(end - start);
                for (int s = start; s < end; s++) chunk.Add(store.Structures[s]); // every structure (under MPI train is this rank's share)
                chunkRows = Math.Max(chunkRows, FitEstimate.RowsOf(chunk, config.Loss));
            }
            estimate = FitEstimate.Streamed(columns, LinearFactorization.ClassesFor(config.Loss).Length, rows, chunkRows, perStructureDerivatives, config.Threads, structureBytes,
                partner && new StreamingOptions().HandOverRows);
            advice = "lower store_chunk_atoms, use fewer features, or split the structures over MPI ranks (docs/scale.md)";
        }
        else
        {
            long allDerivatives = kind.NeedsTrainingSet ? (long)(pairsPerAtom * train.Sum(s => (long)s.Count) * k * 3 * 8) : config.Threads * perStructureDerivatives;
            estimate = FitEstimate.InMemory(columns, rows, allDerivatives, config.Threads, structureBytes);
            advice = "stream the fit from a descriptor store (the config key store: DIR; docs/scale.md), use fewer structures or features";
        }
        estimate.Check(log, advice);
        if (settings is AceSettings { Embedding: "fs" } ace && derivatives)
        {
            // the embedding fit after the linear one: E0 and K coefficients per density per element
            int densities = Math.Max(1, ace.FsParameters.Length / 2);
            int elementCount = train.SelectMany(s => s.AtomicNumbers).Distinct().Count();
            FitEstimate.FsEmbedding(elementCount * (1 + k * densities), k, densities, atomsAll, (long)(pairsPerAtom * atomsAll), (long)(pairsPerAtom * largest),
                new AceEmbeddingFitOptions().ChunkDoubles, store is not null, config.Threads, structureBytes).Check(log, adviceStore);
        }
    }

    internal static void WriteLearningCurve(string dir, IReadOnlyList<LearningPoint> curve)
    {
        AtomicFile.WriteText(Path.Combine(dir, "learning_curve.csv"), w =>
        {
            w.WriteLine("epoch,loss,validation_energy_mae_mev_per_atom,validation_force_mae_ev_per_a,seconds");
            foreach (var p in curve)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Epoch},{p.Loss:R},{p.ValidationEnergyMae:R},{p.ValidationForceMae:R},{p.Seconds:F2}"));
        });
        var x = curve.Select(p => (double)p.Epoch).ToArray();
        var series = new List<(string, double[], double[])> { ("training loss", x, curve.Select(p => p.Loss).ToArray()) };
        var ve = curve.Where(p => p.ValidationEnergyMae is not null).ToList();
        if (ve.Count > 0)
        {
            series.Add(("validation E MAE (meV/atom)", ve.Select(p => (double)p.Epoch).ToArray(), ve.Select(p => p.ValidationEnergyMae!.Value).ToArray()));
            series.Add(("validation F MAE (eV/Å)", ve.Select(p => (double)p.Epoch).ToArray(), ve.Select(p => p.ValidationForceMae ?? double.NaN).ToArray()));
        }
        Plots.LearningCurve(Path.Combine(dir, "learning_curve.png"), "Learning curve", series);
    }

    /// <summary>Default `fs_ridge` of `model: {kind: ace, embedding: fs}`, centred on the linear fit: best of 0 ... 1e-7 on mlearn Si (docs/ace.md).</summary>
    public const double DefaultFsRidge = 1e-7;

    /// <summary>The config's descriptor for the elements of the training structures (sorted by atomic number), logged.</summary>
    internal static (List<string> Elements, DescriptorSpec Spec, IDescriptor Descriptor) CreateDescriptor(TrainConfig config, IReadOnlyList<Structure> train, TextWriter log)
    {
        var elements = train.SelectMany(s => s.AtomicNumbers).Distinct().Order().Select(Elements.Symbol).ToList();
        var spec = new DescriptorSpec(config.DescriptorType, config.DescriptorParameters);
        var descriptor = spec.Create(elements);
        log.WriteLine($"descriptor: {descriptor.Name}, {descriptor.FeatureCount} features, cutoff {descriptor.Cutoff.ToString("G4", CultureInfo.InvariantCulture)} Å");
        return (elements, spec, descriptor);
    }

    private static void WriteMetrics(string path, Evaluation train, Evaluation? test, TimeSpan descriptors, TimeSpan fit)
    {
        var root = new JsonObject
        {
            ["train"] = MetricsJson.Report(train),
            ["test"] = test is null ? null : MetricsJson.Report(test),
            ["descriptor_seconds"] = descriptors.TotalSeconds,
            ["fit_seconds"] = fit.TotalSeconds,
        };
        if (UncertaintySummary.ByGroup(train).Count > 0)
            root["uncertainty"] = new JsonObject
            {
                ["train"] = UncertaintySummary.Json(train),
                ["test"] = test is null ? null : UncertaintySummary.Json(test),
            };
        AtomicFile.WriteJson(path, root);
    }

    internal static void WriteParityPlots(string dir, Evaluation train, Evaluation? test)
    {
        var (energy, forces) = ParityPlots(train, test);
        WriteParityPlots(dir, energy, forces);
    }

    private static void WriteParityPlots(string dir, byte[] energy, byte[] forces)
    {
        AtomicFile.Write(Path.Combine(dir, "parity_energy.png"), s => s.Write(energy));
        AtomicFile.Write(Path.Combine(dir, "parity_forces.png"), s => s.Write(forces));
    }

    /// <summary>Rank 1 of an MPI run: the parity plots of the gathered evaluation (every rank holds all of it), drawn by <see cref="ParityPlots"/>, sent to rank 0.</summary>
    private static void SendParityPlots(ICommunicator comm, byte[] energy, byte[] forces)
    {
        var message = new byte[8 + energy.Length + forces.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(message, energy.Length);
        energy.CopyTo(message, 8);
        forces.CopyTo(message, 8 + energy.Length);
        comm.Send(message, 0);
    }

    /// <summary>Rank 0 of an MPI run: writes the parity plots that rank 1 drew (<see cref="SendParityPlots"/>).</summary>
    private static void ReceiveParityPlots(ICommunicator comm, string dir)
    {
        comm.Barrier();
        var message = comm.Receive(1);
        int energy = (int)System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(message);
        WriteParityPlots(dir, message.AsSpan(8, energy).ToArray(), message.AsSpan(8 + energy).ToArray());
    }

    /// <summary>The PNG bytes of the energy and force parity plots.</summary>
    private static (byte[] Energy, byte[] Forces) ParityPlots(Evaluation train, Evaluation? test)
    {
        (string, double[], double[]) Energies(string label, Evaluation e)
        {
            var c = e.Comparisons.Where(x => x.Structure.Energy is not null && x.Structure.Count > 0).ToList();
            return (label, c.Select(x => x.Structure.Energy!.Value / x.Structure.Count).ToArray(), c.Select(x => x.Predicted.Energy / x.Structure.Count).ToArray());
        }
        (string, double[], double[]) Forces(string label, Evaluation e)
        {
            var r = new List<double>(); var p = new List<double>();
            foreach (var c in e.Comparisons)
                if (c.Structure.Forces is { } f && c.Predicted.Forces is { } pf)
                    for (int i = 0; i < f.Length; i++)
                        for (int k = 0; k < 3; k++) { r.Add(f[i][k]); p.Add(pf[i][k]); }
            return (label, r.ToArray(), p.ToArray());
        }
        var es = new List<(string, double[], double[])> { Energies("train", train) };
        var fs = new List<(string, double[], double[])> { Forces("train", train) };
        if (test is not null) { es.Add(Energies("test", test)); fs.Add(Forces("test", test)); }
        return (Plots.ParityPng("Energy per atom", "E/N (eV/atom)", es), Plots.ParityPng("Force components", "F (eV/Å)", fs));
    }
}

/// <summary>The JSON keys of error reports (mlip test --json, metrics.json).</summary>
public static class MetricsJson
{
    public static JsonObject Of(ErrorMetrics m) => new()
    {
        ["structures"] = m.Structures,
        ["atoms"] = m.Atoms,
        ["energy_mae_mev_per_atom"] = m.EnergyMaeMevPerAtom,
        ["energy_rmse_mev_per_atom"] = m.EnergyRmseMevPerAtom,
        ["force_mae_ev_per_a"] = m.ForceMaeEvPerA,
        ["force_rmse_ev_per_a"] = m.ForceRmseEvPerA,
        ["stress_mae_gpa"] = m.StressMaeGpa,
        ["stress_rmse_gpa"] = m.StressRmseGpa,
    };

    public static JsonObject Report(Evaluation e)
    {
        var o = Of(e.Overall);
        var groups = new JsonObject();
        foreach (var (g, m) in e.Groups) groups[g] = Of(m);
        o["groups"] = groups;
        return o;
    }
}
