using System.Globalization;
using Mlip.Configuration;
using Mlip.Training;
using Mlip.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlip.ActiveLearning;

/// <summary>MD exploration: Langevin runs with the current model, optionally with a Berendsen barostat at each pressure.</summary>
public sealed record MdExploration(IReadOnlyList<double> Temperatures, IReadOnlyList<double?> Pressures, int Steps, int Snapshots, int Cells, double TimeStep);

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
    public string DescriptorType { get; init; } = "so4";
    public IReadOnlyDictionary<string, string> DescriptorParameters { get; init; } = new Dictionary<string, string> { ["twojmax"] = "6", ["rcutfac"] = "4.9" };
    public string ModelKind { get; init; } = "linear";
    /// <summary>
    /// The model's settings: an instance of the kind's settings record (<see cref="ModelKind.SettingsType"/>), with the
    /// same defaults as in <c>mlip train</c>.
    /// </summary>
    public object ModelSettings { get; init; } = new PolynomialSettings();
    /// <summary>What the loop's uncertainty score is, for reports.</summary>
    public string UncertaintyName => ModelKinds.Get(ModelKind).UncertaintyName;
    public LossWeights Loss { get; init; } = new() { Energy = 1, Force = 0.01 };
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Initial { get; init; } = 20;
    public int Budget { get; init; } = 200;
    public int Batch { get; init; } = 20;
    public MdExploration? Md { get; init; } = new([300, 1000, 2000], [null], 200, 4, 2, 1.0);
    public int RandomCrystals { get; init; } = 20;
    public string? RandomComposition { get; init; }
    public double RandomVolumeFactor { get; init; } = 3.0;
    public int Rattles { get; init; } = 20;
    public double RattleAmplitude { get; init; } = 0.2;
    public int Strains { get; init; } = 20;
    public double MaxStrain { get; init; } = 0.08;
    /// <summary>Two picks of a batch must be at least this far apart (RMS of standardised mean descriptors).</summary>
    public double MinDistance { get; init; } = 0.05;
    /// <summary>Linear models: greedy D-optimal batches (active sets updated after each pick) instead of the distance rule.</summary>
    public bool DOptimalBatch { get; init; } = true;
    /// <summary>Candidates scored above this are set aside (too far out to teach the model about the region of interest yet); used only when too few remain.</summary>
    public double MaxScore { get; init; } = double.PositiveInfinity;
    public string? ValidationFile { get; init; }
    public IReadOnlyList<double> ValidationTemperatures { get; init; } = [300, 1000, 2500];
    public int ValidationSnapshots { get; init; } = 6;
    public int Patience { get; init; } = 3;
    public double Tolerance { get; init; } = 0.01;
    public bool CompareRandom { get; init; } = true;
    public string Output { get; init; } = "learn";
    public string SourcePath { get; init; } = "";

    private static readonly LearnConfig D = new();

    /// <summary>The keys of a learn config outside the model's settings and the descriptor's parameters (those come from their records).</summary>
    public static readonly IReadOnlyList<ConfigKeyDoc> Keys =
    [
        new("element", "text", D.Element, "the element (the initial set is strained and rattled diamond cells of it)"),
        new("lattice_constant", "number", F(D.LatticeConstant), "diamond lattice constant of the initial set (Å)"),
        new("reference", "text | mapping", D.ReferencePotential!, "the labelling method: a classical potential's name, or the mapping below"),
        new("reference.potential", "text", D.ReferencePotential!, "a classical potential (sw, tersoff, ...)"),
        new("reference.command", "text", "none", "a command run in a directory holding the structure (input) that writes the labels (output)"),
        new("reference.input", "text", D.CommandInput, "command: the structure file it reads"),
        new("reference.output", "text", D.CommandOutput, "command: the file it writes (OUTCAR, extxyz ...)"),
        new("reference.timeout", "number", F(D.CommandTimeoutSeconds), "seconds one reference calculation may take"),
        new("reference.ipi", "text", "none", "i-PI: Mlip listens on this address (unix:NAME or HOST:PORT) for a DFT code in driver mode"),
        new("reference.reconnect", "bool", F(D.IpiReconnect), "i-PI: release the client and wait for a new one when the atom count or species change"),
        new("reference.stress", "bool", F(D.IpiStress), "i-PI: turn the virial into a stress label"),
        new("descriptor.type", "text", D.DescriptorType, "descriptor type (see Descriptors below)"),
        new("descriptor.parameters", "mapping", string.Join(", ", D.DescriptorParameters.Select(kv => $"{kv.Key}: {kv.Value}")), "the descriptor's parameters (see Descriptors below)"),
        new("model.kind", "text", D.ModelKind, "a kind refitted at every iteration: " + string.Join(", ", ModelKinds.All.Where(k => k.Refittable).Select(k => k.Name)) + "; the other keys of model are the kind's settings (as in train)"),
        new("loss.energy", "number", F(D.Loss.Energy), "weight of the energy per atom residuals"),
        new("loss.force", "number", F(D.Loss.Force), "weight of the force component residuals"),
        new("loss.stress", "number", F(D.Loss.Stress), "weight of the stress component residuals"),
        new("seed", "integer", F(D.Seed), "seed of every random choice"),
        new("threads", "integer", "all cores", "threads used"),
        new("initial", "integer", F(D.Initial), "structures in the initial set"),
        new("budget", "integer", F(D.Budget), "labelled structures in all, the initial ones included"),
        new("batch", "integer", F(D.Batch), "structures labelled per iteration"),
        new("explore", "mapping", "md, random, rattle, strain", "how candidates are made; giving explore turns off the generators not listed"),
        new("explore.md.temperatures", "number list", F(D.Md!.Temperatures.ToArray()), "Langevin MD temperatures (K)"),
        new("explore.md.pressures", "number list", "none", "Berendsen barostat pressures (GPa); none: constant volume"),
        new("explore.md.steps", "integer", F(D.Md.Steps), "MD steps per run"),
        new("explore.md.snapshots", "integer", F(D.Md.Snapshots), "candidates taken from each run"),
        new("explore.md.cells", "integer", F(D.Md.Cells), "supercell repeats of the 8-atom cell"),
        new("explore.md.timestep", "number", F(D.Md.TimeStep), "MD time step (fs)"),
        new("explore.random.count", "integer", F(D.RandomCrystals), "random crystals (space-group generator) per iteration"),
        new("explore.random.composition", "text", "the element", "composition of the random crystals"),
        new("explore.random.volume_factor", "number", F(D.RandomVolumeFactor), "volume of a random crystal over the covalent volume"),
        new("explore.rattle.count", "integer", F(D.Rattles), "rattled labelled structures per iteration"),
        new("explore.rattle.amplitude", "number", F(D.RattleAmplitude), "rattle amplitude (Å)"),
        new("explore.strain.count", "integer", F(D.Strains), "strained labelled structures per iteration"),
        new("explore.strain.max", "number", F(D.MaxStrain), "largest strain component"),
        new("select.min_distance", "number", F(D.MinDistance), "two picks of a batch at least this far apart (RMS of standardised mean descriptors)"),
        new("select.d_optimal", "bool", F(D.DOptimalBatch), "greedy D-optimal batches (active sets updated after each pick)"),
        new("select.max_score", "number", F(D.MaxScore), "candidates scored above this wait unless too few remain"),
        new("validation", "path | mapping", "made once by MD", "a labelled validation file, or the mapping below"),
        new("validation.file", "path", "none", "a labelled validation file"),
        new("validation.temperatures", "number list", F(D.ValidationTemperatures.ToArray()), "MD temperatures of the generated validation set (K)"),
        new("validation.snapshots", "integer", F(D.ValidationSnapshots), "snapshots per temperature"),
        new("stop.patience", "integer", F(D.Patience), "stop when this many iterations bring no gain; 0: run the whole budget"),
        new("stop.tolerance", "number", F(D.Tolerance), "relative gain that counts"),
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
                var m = Map(reference, "reference", "potential", "command", "input", "output", "timeout", "ipi", "reconnect", "stress");
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
            if (kind is not { Refittable: true })
                throw new FileFormatException(new InputLocation(path, k?.Line ?? section.Line), $"model.kind '{name}': the loop fits {string.Join(", ", ModelKinds.All.Where(x => x.Refittable).Select(x => x.Name))} models (fast refits); for neural networks use a committee with mlip predict --uncertainty");
            if (kind.Descriptor is { } needed && c.DescriptorType != needed) // the descriptor block is read above
                throw new FileFormatException(new InputLocation(path, k?.Line ?? section.Line), $"model.kind '{name}' needs descriptor type '{needed}', not '{c.DescriptorType}' (descriptor: {{type: {needed}, parameters: {{...}}}})");
            var settings = kind.BindSettings(section.Without("kind"));
            if (settings is AceSettings { Embedding: not "linear" } && section.Find("embedding") is { } emb)
                throw new FileFormatException(new InputLocation(path, emb.Line), "model.embedding: the loop refits a linear ACE (embedding: linear)");
            c = c with { ModelKind = kind.Name, ModelSettings = settings };
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
        if (Get(root, "initial") is { } init) c = c with { Initial = Int(init, "initial") };
        if (Get(root, "budget") is { } b) c = c with { Budget = Int(b, "budget") };
        if (Get(root, "batch") is { } bt) c = c with { Batch = Int(bt, "batch") };
        if (Get(root, "explore") is { } ex)
        {
            var m = Map(ex, "explore", "md", "random", "rattle", "strain");
            c = c with { Md = null, RandomCrystals = 0, Rattles = 0, Strains = 0 };
            if (Get(m, "md") is { } md)
            {
                var mm = Map(md, "explore.md", "temperatures", "pressures", "steps", "snapshots", "cells", "timestep");
                var md0 = new MdExploration([300], [null], 200, 4, 2, 1.0);
                if (Get(mm, "temperatures") is { } t) md0 = md0 with { Temperatures = Nums(t, "explore.md.temperatures") };
                if (Get(mm, "pressures") is { } p) md0 = md0 with { Pressures = Nums(p, "explore.md.pressures").Select(v => (double?)v).ToList() };
                if (Get(mm, "steps") is { } st) md0 = md0 with { Steps = Int(st, "explore.md.steps") };
                if (Get(mm, "snapshots") is { } sn) md0 = md0 with { Snapshots = Int(sn, "explore.md.snapshots") };
                if (Get(mm, "cells") is { } ce) md0 = md0 with { Cells = Int(ce, "explore.md.cells") };
                if (Get(mm, "timestep") is { } ts) md0 = md0 with { TimeStep = Num(ts, "explore.md.timestep") };
                c = c with { Md = md0 };
            }
            if (Get(m, "random") is { } rnd)
            {
                var mm = Map(rnd, "explore.random", "count", "composition", "volume_factor");
                if (Get(mm, "count") is { } n) c = c with { RandomCrystals = Int(n, "explore.random.count") };
                if (Get(mm, "composition") is { } comp) c = c with { RandomComposition = Scalar(comp, "explore.random.composition") };
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
        }
        if (Get(root, "select") is { } sel)
        {
            var m = Map(sel, "select", "min_distance", "d_optimal", "max_score");
            if (Get(m, "max_score") is { } ms) c = c with { MaxScore = Num(ms, "select.max_score") };
            if (Get(m, "min_distance") is { } md) c = c with { MinDistance = Num(md, "select.min_distance") };
            if (Get(m, "d_optimal") is { } dop) c = c with { DOptimalBatch = Bool(dop, "select.d_optimal") };
        }
        if (Get(root, "validation") is { } val)
        {
            if (val is YamlScalarNode) c = c with { ValidationFile = Resolve(Scalar(val, "validation")) };
            else
            {
                var m = Map(val, "validation", "file", "temperatures", "snapshots");
                if (Get(m, "file") is { } f) c = c with { ValidationFile = Resolve(Scalar(f, "validation.file")) };
                if (Get(m, "temperatures") is { } t) c = c with { ValidationTemperatures = Nums(t, "validation.temperatures") };
                if (Get(m, "snapshots") is { } s) c = c with { ValidationSnapshots = Int(s, "validation.snapshots") };
            }
        }
        if (Get(root, "stop") is { } stop)
        {
            var m = Map(stop, "stop", "patience", "tolerance");
            if (Get(m, "patience") is { } p) c = c with { Patience = Int(p, "stop.patience") };
            if (Get(m, "tolerance") is { } t) c = c with { Tolerance = Num(t, "stop.tolerance") };
        }
        if (Get(root, "compare_random") is { } cr) c = c with { CompareRandom = Bool(cr, "compare_random") };
        if (Get(root, "output") is { } o) c = c with { Output = Resolve(Scalar(o, "output")) };
        else c = c with { Output = Resolve(Path.GetFileNameWithoutExtension(path)) };
        if (c.Initial < 1 || c.Batch < 1 || c.Budget < c.Initial)
            throw new FileFormatException(new InputLocation(path), $"need initial >= 1, batch >= 1 and budget >= initial (got {c.Initial}, {c.Batch}, {c.Budget})");
        return c;
    }
}
