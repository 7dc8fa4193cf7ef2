using System.Globalization;
using Mlip.Configuration;
using Mlip.Training;
using Mlip.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlip.ActiveLearning;

/// <summary>MD exploration: Langevin runs with the current model, optionally with a Berendsen barostat at each pressure.</summary>
/// <summary>
/// MD exploration settings. <paramref name="StopScore"/>: the run stops at the first snapshot whose uncertainty under the
/// current model exceeds it (that snapshot is kept: pacemaker's and MLIP's γ_break), so MD candidates lie at the edge of
/// the trained region instead of where the model has already broken down; infinity: only a breakdown stops it.
/// </summary>
public sealed record MdExploration(IReadOnlyList<double> Temperatures, IReadOnlyList<double?> Pressures, int Steps, int Snapshots, int Cells, double TimeStep,
    double StopScore = double.PositiveInfinity);

/// <summary>
/// The settings of <c>mlip learn CONFIG.yaml</c> (docs/active-learning.md). Budget counts every labelled
/// structure, the initial ones included.
/// </summary>
public sealed record LearnConfig
{
    public string Element { get; init; } = "Si";
    public double LatticeConstant { get; init; } = 5.43;
    /// <summary>A classical potential (sw, tersoff, ...) or null when <see cref="Command"/> is used.</summary>
    public string? ReferencePotential { get; init; } = "sw";
    public string? Command { get; init; }
    public string CommandInput { get; init; } = "POSCAR";
    public string CommandOutput { get; init; } = "OUTCAR";
    /// <summary>Timeout of one reference calculation in seconds (command run; i-PI: waiting for a client or an answer).</summary>
    public double CommandTimeoutSeconds { get; init; } = 3600;
    /// <summary>i-PI reference: Mlip listens on this address (unix:NAME or HOST:PORT) for a DFT code in driver mode.</summary>
    public string? IpiAddress { get; init; }
    /// <summary>i-PI reference: release the client (EXIT) and wait for a new one when the atom count or species change.</summary>
    public bool IpiReconnect { get; init; } = true;
    /// <summary>i-PI reference: turn the virial into a stress label.</summary>
    public bool IpiStress { get; init; } = true;
    /// <summary>Command reference: labelling jobs run at once, each in its own folder.</summary>
    public int ReferenceJobs { get; init; } = 1;
    /// <summary>Extra attempts at a structure whose labelling failed before it is recorded as failed and skipped.</summary>
    public int ReferenceRetries { get; init; } = 1;
    /// <summary>Command reference: the command submits a job and returns at once; the job's end is detected by <see cref="ReferenceDone"/>.</summary>
    public bool ReferenceSubmit { get; init; }
    /// <summary>Submitted jobs: the file whose appearance means the job ended (default: the output file).</summary>
    public string? ReferenceDone { get; init; }
    /// <summary>Submitted jobs: seconds between looks for the done file.</summary>
    public double ReferencePoll { get; init; } = 10;
    /// <summary>A file of starting structures (any elements; labelled ones are kept, the others labelled); null: generated diamond cells.</summary>
    public string? InitialFile { get; init; }
    /// <summary>The elements of the system (sorted by atomic number): those of the given files, else <see cref="Element"/>.</summary>
    public IReadOnlyList<string> Elements { get; init; } = ["Si"];
    public string DescriptorType { get; init; } = "so4";
    public IReadOnlyDictionary<string, string> DescriptorParameters { get; init; } = new Dictionary<string, string> { ["twojmax"] = "6", ["rcutfac"] = "4.9" };
    public string ModelKind { get; init; } = "linear";
    /// <summary>
    /// The model's settings: an instance of the kind's settings record (<see cref="ModelKind.SettingsType"/>), with the
    /// same defaults as in <c>mlip train</c>.
    /// </summary>
    public object ModelSettings { get; init; } = new PolynomialSettings();
    /// <summary>
    /// Members of a committee (<c>model.committee</c>): with 2 or more, the kind is fitted that many times with different
    /// seeds; the loop's model is the members' mean and its uncertainty their spread (max atomic force std). Neural
    /// networks enter the loop this way. 1: one model, the kind's own uncertainty.
    /// </summary>
    public int Committee { get; init; } = 1;
    /// <summary>What the loop's uncertainty score is, for reports.</summary>
    public string UncertaintyName => Committee >= 2 ? $"committee of {Committee}: max atomic force std (eV/Å)" : ModelKinds.Get(ModelKind).UncertaintyName;
    public LossWeights Loss { get; init; } = new() { Energy = 1, Force = 0.01 };
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Initial { get; init; } = 20;
    public int Budget { get; init; } = 200;
    public int Batch { get; init; } = 20;
    public MdExploration? Md { get; init; } = new([300, 1000, 2000], [null], 200, 4, 2, 1.0);
    /// <summary>A file of the cells MD explores from (each at every temperature and pressure); null: diamond supercells of <see cref="Element"/>.</summary>
    public string? MdCellsFile { get; init; }
    public int RandomCrystals { get; init; } = 20;
    /// <summary>Compositions of the random crystals (cycled); empty: those of the given structures, or Element8.</summary>
    public IReadOnlyList<string> RandomCompositions { get; init; } = [];
    public double RandomVolumeFactor { get; init; } = 3.0;
    public int Rattles { get; init; } = 20;
    public double RattleAmplitude { get; init; } = 0.2;
    public int Strains { get; init; } = 20;
    public double MaxStrain { get; init; } = 0.08;
    public int VacancyCells { get; init; }
    public int VacanciesPerCell { get; init; } = 1;
    /// <summary>A structure is repeated to at least this many atoms before atoms are removed.</summary>
    public int VacancyMinAtoms { get; init; } = 16;
    public int SwapCells { get; init; }
    public int SwapsPerCell { get; init; } = 1;
    public int SurfaceSlabs { get; init; }
    public IReadOnlyList<int[]> SurfaceMiller { get; init; } = [[1, 0, 0], [1, 1, 0], [1, 1, 1]];
    public int SurfaceLayers { get; init; } = 2;
    public double SurfaceVacuum { get; init; } = 8;
    /// <summary>Two picks of a batch must be at least this far apart (RMS of standardised mean descriptors).</summary>
    public double MinDistance { get; init; } = 0.05;
    /// <summary>Linear models: greedy D-optimal batches (active sets updated after each pick) instead of the distance rule.</summary>
    public bool DOptimalBatch { get; init; } = true;
    /// <summary>
    /// <c>select.i_optimal</c>: greedy I-optimal batches instead (<see cref="PoolVariance"/>): each pick most reduces the summed
    /// predictive variance of the per-atom linear model over the whole candidate pool. Needs a model with active sets
    /// (linear, quadratic, ACE); otherwise the picks are by score.
    /// </summary>
    public bool IOptimalBatch { get; init; }
    /// <summary>
    /// <c>select.grade</c> of an FS-ACE: <c>linear</c> (null, the default) grades on the B-projections of its basis functions
    /// (pacemaker's default linear grade), <c>full</c> on its FS projections F'(ρ_p) B_f of every density.
    /// </summary>
    public Models.Ace.AceGradeKind? AceGrade { get; init; }
    /// <summary>Candidates scored above this are set aside (too far out to teach the model about the region of interest yet); used only when too few remain.</summary>
    public double MaxScore { get; init; } = double.PositiveInfinity;
    /// <summary>
    /// The batch is chosen among the candidates scored at or below <see cref="MaxScore"/>, but never among fewer than this
    /// fraction of all candidates (the lowest scores; <see cref="BatchSelector.Pool"/>) nor fewer than a batch. 0 (the
    /// default): the threshold, filled up to a batch with the least extrapolating candidates.
    /// </summary>
    public double PoolFraction { get; init; }
    /// <summary>
    /// <c>explore.from: given</c>: rattles, strains, vacancies and swaps are made from the given crystals (the initial
    /// and MD-cell files, or the diamond cell) instead of from any labelled structure, so that far-out picks do not seed
    /// ever further-out candidates.
    /// </summary>
    public bool ExploreFromGiven { get; init; }
    /// <summary>
    /// <c>select.strata</c>: the active batch is shared among the kinds of candidates (MD at each temperature, rattles,
    /// strains, vacancies, swaps, each surface, random crystals) in proportion to their counts weighted by their mean
    /// uncertainty rank (<see cref="BatchSelector.Strata"/>); within a kind the picks are D-optimal (or by score).
    /// </summary>
    public bool Strata { get; init; }
    /// <summary><c>select.within: random</c>: with strata, the picks within each kind are drawn uniformly (the uncertainty only shares the batch among the kinds); <c>informed</c> (default): D-optimal or by score.</summary>
    public bool WithinStrataAtRandom { get; init; }
    /// <summary><c>select.random_share</c>: this fraction of each active batch is drawn uniformly from the candidates left after the informed picks.</summary>
    public double RandomShare { get; init; }
    /// <summary>
    /// <c>explore.min_pair_ratio</c>: candidates with two atoms closer than this fraction of the shortest interatomic
    /// distance in the given structures are dropped before selection, in both modes (frames of an MD run whose model let
    /// atoms collide). 0: off.
    /// </summary>
    public double MinPairRatio { get; init; }
    /// <summary>A labelled candidate with a force component above this (eV/Å) is set aside: counted in the budget, kept out of the fit.</summary>
    public double MaxLabelForce { get; init; } = double.PositiveInfinity;
    public string? ValidationFile { get; init; }
    public IReadOnlyList<double> ValidationTemperatures { get; init; } = [300, 1000, 2500];
    public int ValidationSnapshots { get; init; } = 6;
    /// <summary>Static structures (strains, rattles, vacancies, swaps, surfaces) of the validation set generated from the given structures.</summary>
    public int ValidationStructures { get; init; } = 30;
    public int Patience { get; init; } = 3;
    public double Tolerance { get; init; } = 0.01;
    /// <summary>The candidate uncertainty watched by the stop rule: max (over each fresh exploration) or mean.</summary>
    public string StopUncertainty { get; init; } = "max";
    public bool CompareRandom { get; init; } = true;
    public string Output { get; init; } = "learn";
    public string SourcePath { get; init; } = "";

    private static readonly LearnConfig D = new();

    /// <summary>The keys of a learn config outside the model's settings and the descriptor's parameters (those come from their records).</summary>
    public static readonly IReadOnlyList<ConfigKeyDoc> Keys =
    [
        new("element", "text", D.Element, "without structure files: the element (the initial set is strained and rattled diamond cells of it)"),
        new("lattice_constant", "number", F(D.LatticeConstant), "diamond lattice constant of the initial set (Å)"),
        new("reference", "text | mapping", D.ReferencePotential!, "the labelling method: a classical potential's name, or the mapping below"),
        new("reference.potential", "text", D.ReferencePotential!, "a classical potential (sw, tersoff, ...)"),
        new("reference.command", "text", "none", "a command run in a directory holding the structure (input) that writes the labels (output)"),
        new("reference.input", "text", D.CommandInput, "command: the structure file it reads"),
        new("reference.output", "text", D.CommandOutput, "command: the file it writes (OUTCAR, extxyz ...)"),
        new("reference.timeout", "number", F(D.CommandTimeoutSeconds), "seconds one reference calculation may take"),
        new("reference.parallel", "integer", F(D.ReferenceJobs), "command: labelling jobs run at once, each in its own folder"),
        new("reference.retries", "integer", F(D.ReferenceRetries), "extra attempts at a failed structure before it is recorded and skipped"),
        new("reference.submit", "text", "none", "instead of command: a command that submits a job (sbatch, qsub) and returns; the job's end is detected by reference.done"),
        new("reference.done", "text", "the output file", "submit: the file whose appearance means the job ended"),
        new("reference.poll", "number", F(D.ReferencePoll), "submit: seconds between looks for the done file"),
        new("reference.ipi", "text", "none", "i-PI: Mlip listens on this address (unix:NAME or HOST:PORT) for a DFT code in driver mode"),
        new("reference.reconnect", "bool", F(D.IpiReconnect), "i-PI: release the client and wait for a new one when the atom count or species change"),
        new("reference.stress", "bool", F(D.IpiStress), "i-PI: turn the virial into a stress label"),
        new("model.committee", "integer", F(D.Committee), "2 or more: a committee of that many fits with different seeds (any kind, nn included); the loop's model is their mean, the uncertainty their spread (max atomic force std)"),
        new("descriptor.type", "text", D.DescriptorType, "descriptor type (see Descriptors below)"),
        new("descriptor.parameters", "mapping", string.Join(", ", D.DescriptorParameters.Select(kv => $"{kv.Key}: {kv.Value}")), "the descriptor's parameters (see Descriptors below)"),
        new("model.kind", "text", D.ModelKind, "a kind refitted at every iteration: " + string.Join(", ", ModelKinds.All.Where(k => k.Refittable).Select(k => k.Name)) + "; the other keys of model are the kind's settings (as in train)"),
        new("loss.energy", "number", F(D.Loss.Energy), "weight of the energy per atom residuals"),
        new("loss.force", "number", F(D.Loss.Force), "weight of the force component residuals"),
        new("loss.stress", "number", F(D.Loss.Stress), "weight of the stress component residuals"),
        new("seed", "integer", F(D.Seed), "seed of every random choice"),
        new("threads", "integer", "all cores", "threads used"),
        new("initial", "integer | path", F(D.Initial), "structures in the generated initial set, or a file of starting structures (any elements; labelled ones are kept)"),
        new("budget", "integer", F(D.Budget), "labelled structures in all, the initial ones included"),
        new("batch", "integer", F(D.Batch), "structures labelled per iteration"),
        new("explore", "mapping", "md, random, rattle, strain", "how candidates are made (also vacancy, swap, surface); giving explore turns off the generators not listed"),
        new("explore.md.temperatures", "number list", F(D.Md!.Temperatures.ToArray()), "Langevin MD temperatures (K)"),
        new("explore.md.pressures", "number list", "none", "Berendsen barostat pressures (GPa); none: constant volume"),
        new("explore.md.steps", "integer", F(D.Md.Steps), "MD steps per run"),
        new("explore.md.snapshots", "integer", F(D.Md.Snapshots), "candidates taken from each run"),
        new("explore.md.cells", "integer | path", F(D.Md.Cells), "supercell repeats of the 8-atom diamond cell, or a file of the cells MD starts from (each at every temperature and pressure)"),
        new("explore.md.timestep", "number", F(D.Md.TimeStep), "MD time step (fs)"),
        new("explore.from", "text", "labelled", "what rattles, strains, vacancies and swaps start from: labelled (any labelled structure) or given (the given crystals only)"),
        new("explore.min_pair_ratio", "number", F(D.MinPairRatio), "candidates with two atoms closer than this fraction of the shortest interatomic distance in the given structures are dropped before selection, in both modes (snapshots of MD whose model let atoms collide); 0: off"),
        new("explore.md.stop_score", "number", "infinity", "MD with the current model stops at the first snapshot whose uncertainty exceeds this (kept as a candidate): candidates at the edge of the trained region, not past a breakdown"),
        new("explore.random.count", "integer", F(D.RandomCrystals), "random crystals (space-group generator) per iteration"),
        new("explore.random.composition", "text | text list", "the given structures' formulas", "compositions of the random crystals (cycled), e.g. [Si4C4, Si2C2]"),
        new("explore.random.volume_factor", "number", F(D.RandomVolumeFactor), "volume of a random crystal over the covalent volume"),
        new("explore.rattle.count", "integer", F(D.Rattles), "rattled labelled structures per iteration"),
        new("explore.rattle.amplitude", "number", F(D.RattleAmplitude), "rattle amplitude (Å)"),
        new("explore.strain.count", "integer", F(D.Strains), "strained labelled structures per iteration"),
        new("explore.strain.max", "number", F(D.MaxStrain), "largest strain component"),
        new("explore.vacancy.count", "integer", F(D.VacancyCells), "labelled structures per iteration with vacancies"),
        new("explore.vacancy.vacancies", "integer", F(D.VacanciesPerCell), "atoms removed from each"),
        new("explore.vacancy.min_atoms", "integer", F(D.VacancyMinAtoms), "a structure is repeated to at least this many atoms first"),
        new("explore.swap.count", "integer", F(D.SwapCells), "labelled multi-element structures per iteration with swapped species (antisites)"),
        new("explore.swap.swaps", "integer", F(D.SwapsPerCell), "pairs swapped in each"),
        new("explore.surface.count", "integer", F(D.SurfaceSlabs), "slabs per iteration cut from the given crystals"),
        new("explore.surface.miller", "index list", "[[1,0,0], [1,1,0], [1,1,1]]", "Miller indices of the planes (of each crystal's cell)"),
        new("explore.surface.layers", "integer", F(D.SurfaceLayers), "repeats of the cell normal to the plane"),
        new("explore.surface.vacuum", "number", F(D.SurfaceVacuum), "vacuum between the slab's images (Å)"),
        new("select.min_distance", "number", F(D.MinDistance), "two picks of a batch at least this far apart (RMS of standardised mean descriptors)"),
        new("select.d_optimal", "bool", F(D.DOptimalBatch), "greedy D-optimal batches (active sets updated after each pick)"),
        new("select.i_optimal", "bool", F(D.IOptimalBatch), "greedy I-optimal batches: each pick most reduces the summed per-atom predictive variance over the candidate pool (linear, quadratic, ACE; replaces d_optimal)"),
        new("select.grade", "text", "linear", "ACE models: the extrapolation grade on the linear B-projections (linear, pacemaker's default) or, for an FS-ACE, on the FS projections of every density (full)"),
        new("select.max_score", "number", F(D.MaxScore), "candidates scored above this wait unless too few remain"),
        new("select.pool_fraction", "number", F(D.PoolFraction), "the batch is chosen among the candidates scored at or below max_score, but never among fewer than this fraction of the candidates (those with the lowest scores) nor fewer than a batch"),
        new("select.strata", "bool", F(D.Strata), "the active batch is shared among the kinds of candidates (MD per temperature, rattle, strain, vacancy, swap, each surface, random) in proportion to count x (1/2 + mean uncertainty rank); within a kind D-optimal or by score"),
        new("select.within", "text", "informed", "with select.strata: how the picks within a kind are made: informed (D-optimal or by score) or random (uniform; the uncertainty only shares the batch among the kinds)"),
        new("select.random_share", "number", F(D.RandomShare), "this fraction of each active batch (rounded) is drawn uniformly from the candidates left after the informed picks"),
        new("select.max_force", "number", F(D.MaxLabelForce), "a labelled candidate with a force component above this (eV/Å) is set aside: counted in the budget, kept out of the fit"),
        new("validation", "path | mapping", "made once by MD", "a labelled validation file, or the mapping below"),
        new("validation.file", "path", "none", "a labelled validation file"),
        new("validation.temperatures", "number list", F(D.ValidationTemperatures.ToArray()), "MD temperatures of the generated validation set (K)"),
        new("validation.snapshots", "integer", F(D.ValidationSnapshots), "snapshots per temperature (and per cell; MD needs a classical reference)"),
        new("validation.structures", "integer", F(D.ValidationStructures), "with given structures: strained, rattled, vacancy, swap and surface structures made from them"),
        new("stop.patience", "integer", F(D.Patience), "stop when this many iterations bring no gain; 0: run the whole budget"),
        new("stop.tolerance", "number", F(D.Tolerance), "relative gain that counts"),
        new("stop.uncertainty", "text", D.StopUncertainty, "the candidate uncertainty watched with the validation force error: max (over each fresh exploration) or mean"),
        new("compare_random", "bool", F(D.CompareRandom), "also run the random-selection baseline"),
        new("output", "path", "the config's name", "run directory"),
    ];

    private static string F(object v) => SettingsBinder.Format(v);

    private static readonly IReadOnlyList<string> TopKeys = ConfigKeyDoc.TopKeys(Keys);

    public static LearnConfig Load(string path)
    {
        var root = ConfigSection.LoadRoot(path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        InputLocation At(YamlNode n) => new(path, (int)n.Start.Line);
        YamlNode? Get(YamlMappingNode m, string key) => m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
        string Scalar(YamlNode n, string what) => n is YamlScalarNode s && s.Value is not null ? s.Value : throw new FileFormatException(At(n), $"'{what}' must be a single value");
        double Num(YamlNode n, string what) => double.TryParse(Scalar(n, what), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v : throw new FileFormatException(At(n), $"'{what}' must be a number, not '{Scalar(n, what)}'");
        int Int(YamlNode n, string what) => int.TryParse(Scalar(n, what), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v : throw new FileFormatException(At(n), $"'{what}' must be an integer, not '{Scalar(n, what)}'");
        bool Bool(YamlNode n, string what) => Scalar(n, what).ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true, "false" or "no" or "off" => false,
            var s => throw new FileFormatException(At(n), $"'{what}' must be true or false, not '{s}'"),
        };
        YamlMappingNode Map(YamlNode n, string what, params string[] keys)
        {
            if (n is not YamlMappingNode m) throw new FileFormatException(At(n), $"'{what}' must be a mapping");
            foreach (var (k, _) in m.Children)
                if (!keys.Contains(((YamlScalarNode)k).Value)) throw new FileFormatException(At(k), $"unknown key '{((YamlScalarNode)k).Value}' in '{what}' (known: {string.Join(", ", keys)})");
            return m;
        }
        List<double> Nums(YamlNode n, string what) => n is YamlSequenceNode seq ? seq.Children.Select(c => Num(c, what)).ToList() : [Num(n, what)];
        string Resolve(string p) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(dir, p));

        foreach (var (k, _) in root.Children)
            if (!TopKeys.Contains(((YamlScalarNode)k).Value!))
                throw new FileFormatException(At(k), $"unknown key '{((YamlScalarNode)k).Value}' (known: {string.Join(", ", TopKeys)})");
        var c = new LearnConfig { SourcePath = path };
        if (Get(root, "element") is { } el) c = c with { Element = Scalar(el, "element") };
        if (Get(root, "lattice_constant") is { } lc) c = c with { LatticeConstant = Num(lc, "lattice_constant") };
        if (Get(root, "reference") is { } reference)
        {
            if (reference is YamlScalarNode) c = c with { ReferencePotential = Scalar(reference, "reference") };
            else
            {
                var m = Map(reference, "reference", "potential", "command", "submit", "input", "output", "timeout", "ipi", "reconnect", "stress", "parallel", "retries", "done", "poll");
                if (Get(m, "potential") is { } p) c = c with { ReferencePotential = Scalar(p, "reference.potential") };
                if (Get(m, "ipi") is { } ipi)
                {
                    if (Get(m, "command") is not null || Get(m, "potential") is not null)
                        throw new FileFormatException(At(ipi), "'reference' takes one of 'potential', 'command' and 'ipi'");
                    c = c with { IpiAddress = Scalar(ipi, "reference.ipi"), ReferencePotential = null };
                }
                if (Get(m, "reconnect") is { } rc) c = c with { IpiReconnect = Bool(rc, "reference.reconnect") };
                if (Get(m, "stress") is { } st) c = c with { IpiStress = Bool(st, "reference.stress") };
                if (Get(m, "command") is { } cmd) c = c with { Command = Scalar(cmd, "reference.command"), ReferencePotential = null };
                if (Get(m, "submit") is { } sub)
                {
                    if (Get(m, "command") is not null) throw new FileFormatException(At(sub), "'reference' takes 'command' or 'submit', not both");
                    c = c with { Command = Scalar(sub, "reference.submit"), ReferenceSubmit = true, ReferencePotential = null };
                }
                if (Get(m, "parallel") is { } par) c = c with { ReferenceJobs = Int(par, "reference.parallel") };
                if (Get(m, "retries") is { } ret) c = c with { ReferenceRetries = Int(ret, "reference.retries") };
                if (Get(m, "done") is { } dn) c = c with { ReferenceDone = Scalar(dn, "reference.done") };
                if (Get(m, "poll") is { } pl) c = c with { ReferencePoll = Num(pl, "reference.poll") };
                if (c.ReferenceJobs < 1 || c.ReferenceRetries < 0 || !(c.ReferencePoll > 0))
                    throw new FileFormatException(At(m), $"need reference.parallel >= 1, retries >= 0 and poll > 0 (got {c.ReferenceJobs}, {c.ReferenceRetries}, {c.ReferencePoll})");
                if (Get(m, "input") is { } inp) c = c with { CommandInput = Scalar(inp, "reference.input") };
                if (Get(m, "output") is { } outp) c = c with { CommandOutput = Scalar(outp, "reference.output") };
                if (Get(m, "timeout") is { } to) c = c with { CommandTimeoutSeconds = Num(to, "reference.timeout") };
                if (Get(m, "command") is not null && Get(m, "potential") is not null)
                    throw new FileFormatException(At(m), "'reference' takes one of 'potential', 'command' and 'ipi'");
                if (c.ReferencePotential is null && c.Command is null && c.IpiAddress is null)
                    throw new FileFormatException(At(m), "'reference' needs 'potential', 'command' or 'ipi'");
            }
        }
        if (Get(root, "descriptor") is { } d)
        {
            var m = Map(d, "descriptor", "type", "parameters");
            if (Get(m, "type") is { } t) c = c with { DescriptorType = Scalar(t, "descriptor.type") };
            if (Get(m, "parameters") is YamlMappingNode pm)
                c = c with
                {
                    // a list (ACE's per-rank nmax/lmax) is passed on comma-separated, as in a train config
                    DescriptorParameters = pm.Children.ToDictionary(kv => Scalar(kv.Key, "parameter"), kv => kv.Value is YamlSequenceNode seq
                        ? string.Join(",", seq.Children.Select(v => Scalar(v, "parameter value"))) : Scalar(kv.Value, "parameter value")),
                };
        }
        if (Get(root, "model") is { } model)
        {
            var section = ConfigSection.FromYaml("model", model, path);
            var k = section.Find("kind");
            string name = k?.Value.Trim().ToLowerInvariant() ?? c.ModelKind;
            var kind = ModelKinds.Find(name);
            var cm = section.Find("committee");
            int committee = 1;
            if (cm is not null)
            {
                if (!int.TryParse(cm.Value.Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out committee) || committee < 1)
                    throw new FileFormatException(new InputLocation(path, cm.Line), $"model.committee must be a positive integer (got '{cm.Value.Trim()}')");
            }
            if (kind is null || !(kind.Refittable || committee >= 2 && kind.Name == "nn"))
                throw new FileFormatException(new InputLocation(path, k?.Line ?? section.Line), $"model.kind '{name}': the loop fits {string.Join(", ", ModelKinds.All.Where(x => x.Refittable).Select(x => x.Name))} models (fast refits), and nn as a committee (model: {{kind: nn, committee: 4, ...}})");
            if (kind.Descriptor is { } needed && c.DescriptorType != needed) // the descriptor block is read above
                throw new FileFormatException(new InputLocation(path, k?.Line ?? section.Line), $"model.kind '{name}' needs descriptor type '{needed}', not '{c.DescriptorType}' (descriptor: {{type: {needed}, parameters: {{...}}}})");
            var settings = kind.BindSettings(section.Without("kind", "committee"));
            c = c with { ModelKind = kind.Name, ModelSettings = settings, Committee = committee };
        }
        if (Get(root, "loss") is { } loss)
        {
            var m = Map(loss, "loss", "energy", "force", "stress");
            var w = c.Loss;
            if (Get(m, "energy") is { } e) w = w with { Energy = Num(e, "loss.energy") };
            if (Get(m, "force") is { } f) w = w with { Force = Num(f, "loss.force") };
            if (Get(m, "stress") is { } s) w = w with { Stress = Num(s, "loss.stress") };
            c = c with { Loss = w };
        }
        if (Get(root, "seed") is { } seed) c = c with { Seed = Int(seed, "seed") };
        if (Get(root, "threads") is { } th) c = c with { Threads = Math.Max(1, Int(th, "threads")) };
        if (Get(root, "initial") is { } init)
        {
            string v = Scalar(init, "initial");
            c = int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? c with { Initial = n } : c with { InitialFile = Resolve(v) };
        }
        if (Get(root, "budget") is { } b) c = c with { Budget = Int(b, "budget") };
        if (Get(root, "batch") is { } bt) c = c with { Batch = Int(bt, "batch") };
        if (Get(root, "explore") is { } ex)
        {
            var m = Map(ex, "explore", "md", "random", "rattle", "strain", "vacancy", "swap", "surface", "from", "min_pair_ratio");
            if (Get(m, "min_pair_ratio") is { } mpr)
            {
                double r = Num(mpr, "explore.min_pair_ratio");
                if (!(r >= 0 && r < 1)) throw new FileFormatException(At(mpr), $"explore.min_pair_ratio must lie in [0, 1) (got {r})");
                c = c with { MinPairRatio = r };
            }
            if (Get(m, "from") is { } from)
            {
                string v = Scalar(from, "explore.from").Trim().ToLowerInvariant();
                if (v is not ("given" or "labelled")) throw new FileFormatException(At(from), $"explore.from: 'labelled' or 'given' (got '{v}')");
                c = c with { ExploreFromGiven = v == "given" };
            }
            c = c with { Md = null, RandomCrystals = 0, Rattles = 0, Strains = 0 };
            if (Get(m, "md") is { } md)
            {
                var mm = Map(md, "explore.md", "temperatures", "pressures", "steps", "snapshots", "cells", "timestep", "stop_score");
                var md0 = new MdExploration([300], [null], 200, 4, 2, 1.0);
                if (Get(mm, "temperatures") is { } t) md0 = md0 with { Temperatures = Nums(t, "explore.md.temperatures") };
                if (Get(mm, "pressures") is { } p) md0 = md0 with { Pressures = Nums(p, "explore.md.pressures").Select(v => (double?)v).ToList() };
                if (Get(mm, "steps") is { } st) md0 = md0 with { Steps = Int(st, "explore.md.steps") };
                if (Get(mm, "snapshots") is { } sn) md0 = md0 with { Snapshots = Int(sn, "explore.md.snapshots") };
                if (Get(mm, "cells") is { } ce)
                {
                    string v = Scalar(ce, "explore.md.cells");
                    if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)) md0 = md0 with { Cells = n };
                    else c = c with { MdCellsFile = Resolve(v) };
                }
                if (Get(mm, "timestep") is { } ts) md0 = md0 with { TimeStep = Num(ts, "explore.md.timestep") };
                if (Get(mm, "stop_score") is { } ss)
                {
                    double v = Num(ss, "explore.md.stop_score");
                    if (!(v > 0)) throw new FileFormatException(At(ss), $"explore.md.stop_score must be positive (got {v})");
                    md0 = md0 with { StopScore = v };
                }
                c = c with { Md = md0 };
            }
            if (Get(m, "random") is { } rnd)
            {
                var mm = Map(rnd, "explore.random", "count", "composition", "volume_factor");
                if (Get(mm, "count") is { } n) c = c with { RandomCrystals = Int(n, "explore.random.count") };
                if (Get(mm, "composition") is { } comp)
                    c = c with { RandomCompositions = comp is YamlSequenceNode cs ? [.. cs.Children.Select(x => Scalar(x, "explore.random.composition"))] : [Scalar(comp, "explore.random.composition")] };
                if (Get(mm, "volume_factor") is { } vf) c = c with { RandomVolumeFactor = Num(vf, "explore.random.volume_factor") };
            }
            if (Get(m, "rattle") is { } ra)
            {
                var mm = Map(ra, "explore.rattle", "count", "amplitude");
                if (Get(mm, "count") is { } n) c = c with { Rattles = Int(n, "explore.rattle.count") };
                if (Get(mm, "amplitude") is { } a) c = c with { RattleAmplitude = Num(a, "explore.rattle.amplitude") };
            }
            if (Get(m, "strain") is { } sr)
            {
                var mm = Map(sr, "explore.strain", "count", "max");
                if (Get(mm, "count") is { } n) c = c with { Strains = Int(n, "explore.strain.count") };
                if (Get(mm, "max") is { } mx) c = c with { MaxStrain = Num(mx, "explore.strain.max") };
            }
            if (Get(m, "vacancy") is { } va)
            {
                var mm = Map(va, "explore.vacancy", "count", "vacancies", "min_atoms");
                if (Get(mm, "count") is { } n) c = c with { VacancyCells = Int(n, "explore.vacancy.count") };
                if (Get(mm, "vacancies") is { } v) c = c with { VacanciesPerCell = Math.Max(1, Int(v, "explore.vacancy.vacancies")) };
                if (Get(mm, "min_atoms") is { } a) c = c with { VacancyMinAtoms = Int(a, "explore.vacancy.min_atoms") };
            }
            if (Get(m, "swap") is { } sw)
            {
                var mm = Map(sw, "explore.swap", "count", "swaps");
                if (Get(mm, "count") is { } n) c = c with { SwapCells = Int(n, "explore.swap.count") };
                if (Get(mm, "swaps") is { } v) c = c with { SwapsPerCell = Math.Max(1, Int(v, "explore.swap.swaps")) };
            }
            if (Get(m, "surface") is { } su)
            {
                var mm = Map(su, "explore.surface", "count", "miller", "layers", "vacuum");
                if (Get(mm, "count") is { } n) c = c with { SurfaceSlabs = Int(n, "explore.surface.count") };
                if (Get(mm, "layers") is { } l) c = c with { SurfaceLayers = Math.Max(1, Int(l, "explore.surface.layers")) };
                if (Get(mm, "vacuum") is { } v) c = c with { SurfaceVacuum = Num(v, "explore.surface.vacuum") };
                if (Get(mm, "miller") is { } mi)
                {
                    int[] Index(YamlNode x)
                    {
                        var idx = x is YamlSequenceNode q ? q.Children.Select(v => Int(v, "explore.surface.miller")).ToArray() : [];
                        return idx.Length == 3 && idx.Any(v => v != 0) ? idx : throw new FileFormatException(At(x), "'explore.surface.miller' takes index triples, e.g. [[1, 0, 0], [1, 1, 1]]");
                    }
                    c = c with
                    {
                        SurfaceMiller = mi is YamlSequenceNode q && q.Children.Count > 0 && q.Children[0] is YamlSequenceNode
                            ? [.. q.Children.Select(Index)] : [Index(mi)],
                    };
                }
            }
        }
        if (Get(root, "select") is { } sel)
        {
            var m = Map(sel, "select", "min_distance", "d_optimal", "max_score", "max_force", "pool_fraction", "strata", "random_share", "within", "i_optimal", "grade");
            if (Get(m, "within") is { } wi)
            {
                string v = Scalar(wi, "select.within").Trim().ToLowerInvariant();
                if (v is not ("informed" or "random")) throw new FileFormatException(At(wi), $"select.within: 'informed' or 'random' (got '{v}')");
                c = c with { WithinStrataAtRandom = v == "random" };
            }
            if (Get(m, "random_share") is { } rs)
            {
                double f = Num(rs, "select.random_share");
                if (!(f >= 0 && f <= 1)) throw new FileFormatException(At(rs), $"select.random_share must lie in [0, 1] (got {f})");
                c = c with { RandomShare = f };
            }
            if (Get(m, "grade") is { } gr)
            {
                string v = Scalar(gr, "select.grade").Trim().ToLowerInvariant();
                if (v is not ("linear" or "full")) throw new FileFormatException(At(gr), $"select.grade: 'linear' or 'full' (got '{v}')");
                c = c with { AceGrade = v == "linear" ? Models.Ace.AceGradeKind.Linear : Models.Ace.AceGradeKind.Full };
            }
            if (Get(m, "i_optimal") is { } io) c = c with { IOptimalBatch = Bool(io, "select.i_optimal") };
            if (Get(m, "strata") is { } st) c = c with { Strata = Bool(st, "select.strata") };
            if (Get(m, "max_force") is { } mf) c = c with { MaxLabelForce = Num(mf, "select.max_force") };
            if (Get(m, "max_score") is { } ms) c = c with { MaxScore = Num(ms, "select.max_score") };
            if (Get(m, "pool_fraction") is { } pf)
            {
                double f = Num(pf, "select.pool_fraction");
                if (!(f >= 0 && f <= 1)) throw new FileFormatException(At(pf), $"select.pool_fraction must lie in [0, 1] (got {f})");
                c = c with { PoolFraction = f };
            }
            if (Get(m, "min_distance") is { } md) c = c with { MinDistance = Num(md, "select.min_distance") };
            if (Get(m, "d_optimal") is { } dop) c = c with { DOptimalBatch = Bool(dop, "select.d_optimal") };
        }
        if (Get(root, "validation") is { } val)
        {
            if (val is YamlScalarNode) c = c with { ValidationFile = Resolve(Scalar(val, "validation")) };
            else
            {
                var m = Map(val, "validation", "file", "temperatures", "snapshots", "structures");
                if (Get(m, "structures") is { } ns) c = c with { ValidationStructures = Int(ns, "validation.structures") };
                if (Get(m, "file") is { } f) c = c with { ValidationFile = Resolve(Scalar(f, "validation.file")) };
                if (Get(m, "temperatures") is { } t) c = c with { ValidationTemperatures = Nums(t, "validation.temperatures") };
                if (Get(m, "snapshots") is { } s) c = c with { ValidationSnapshots = Int(s, "validation.snapshots") };
            }
        }
        if (Get(root, "stop") is { } stop)
        {
            var m = Map(stop, "stop", "patience", "tolerance", "uncertainty");
            if (Get(m, "uncertainty") is { } su)
                c = c with { StopUncertainty = Scalar(su, "stop.uncertainty") is "max" or "mean" ? Scalar(su, "stop.uncertainty") : throw new FileFormatException(At(su), $"'stop.uncertainty' must be max or mean, not '{Scalar(su, "stop.uncertainty")}'") };
            if (Get(m, "patience") is { } p) c = c with { Patience = Int(p, "stop.patience") };
            if (Get(m, "tolerance") is { } t) c = c with { Tolerance = Num(t, "stop.tolerance") };
        }
        if (Get(root, "compare_random") is { } cr) c = c with { CompareRandom = Bool(cr, "compare_random") };
        if (Get(root, "output") is { } o) c = c with { Output = Resolve(Scalar(o, "output")) };
        else c = c with { Output = Resolve(Path.GetFileNameWithoutExtension(path)) };
        if (c.InitialFile is not null) c = c with { Initial = ReadStructures(c.InitialFile).Count };
        c = c with { Elements = SystemElements(c) };
        if (c.Initial < 1 || c.Batch < 1 || c.Budget < c.Initial)
            throw new FileFormatException(new InputLocation(path), $"need initial >= 1, batch >= 1 and budget >= initial (got {c.Initial}, {c.Batch}, {c.Budget})");
        return c;
    }

    /// <summary>The structures of a given file (initial, MD cells); a missing or empty file is a one-line error.</summary>
    public static IReadOnlyList<Mlip.Structures.Structure> ReadStructures(string file)
    {
        Mlip.IO.InputFile.EnsureExists(file);
        var list = Mlip.IO.StructureIO.Read(file);
        if (list.Count == 0) throw new MlipInputException(new InputLocation(file), "no structure in the file");
        return list;
    }

    /// <summary>The elements of the given structure files (initial, MD cells) and random compositions, sorted by atomic number; <see cref="Element"/> when no file is given.</summary>
    private static IReadOnlyList<string> SystemElements(LearnConfig c)
    {
        var z = new SortedSet<int>();
        foreach (var f in new[] { c.InitialFile, c.MdCellsFile })
            if (f is not null)
                foreach (var s in ReadStructures(f)) z.UnionWith(s.AtomicNumbers);
        foreach (var comp in c.RandomCompositions)
            foreach (var (symbol, _) in Mlip.Generation.Composition.Parse(comp).Species) z.Add(Mlip.Structures.Elements.Number(symbol));
        if (c.InitialFile is null && c.MdCellsFile is null) z.Add(Mlip.Structures.Elements.Number(c.Element));
        return [.. z.Select(Mlip.Structures.Elements.Symbol)];
    }

    /// <summary>Whether the run starts from the user's structures (initial or MD cells file) rather than generated diamond cells.</summary>
    public bool HasUserStructures => InitialFile is not null || MdCellsFile is not null;
}
