using Mlip.Configuration;

namespace Mlip.Descriptors;

/// <summary>One descriptor type: its name (and aliases), a one-line doc and its parameters with defaults and docs.</summary>
public sealed record DescriptorType(string Name, string[] Aliases, string Doc, IReadOnlyList<ConfigKeyDoc> Parameters)
{
    /// <summary>
    /// Builds a descriptor of a type registered from outside (<see cref="DescriptorTypes.Register{TSettings}"/>): the
    /// parameters as written and the data's elements. Null for the built-in types, which <see cref="DescriptorFactory"/> builds.
    /// </summary>
    public Func<IReadOnlyDictionary<string, string>, IReadOnlyList<string>, IDescriptor>? Create { get; init; }
}

/// <summary>
/// The table of descriptor types (<see cref="DescriptorFactory"/> builds them; the schema, <c>mlip config --schema</c>
/// and docs/config-reference.md list them from here). The defaults are read from the parameter records, and a test
/// checks that the factory falls back to exactly these values. Adding a descriptor from outside the library is one
/// class plus one line, <see cref="Register{TSettings}"/> (docs/extending.md).
/// </summary>
public static class DescriptorTypes
{
    private const string DataElements = "the data's elements";
    private static string F(object? v) => SettingsBinder.Format(v switch
    {
        IReadOnlyList<double> d => d.ToArray(),
        IReadOnlyList<int> i => i.ToArray(),
        _ => v,
    });

    private static readonly AcsfParameters Acsf = new();
    private static readonly So4Parameters So4 = new();
    private static readonly So3Parameters So3 = new();
    private static readonly EadParameters EadP = new();
    private static readonly PinnFeatureParameters Pinn = new();
    private static readonly Ace.AceBasisSpec AceP = new() { Elements = [] };

    private static IReadOnlyList<ConfigKeyDoc> AcsfKeys =>
    [
        new("rc", "number", "5", "cut-off radius (Å)"),
        new("cutoff_function", "cosine | tanh | exponential | poly1 ... poly4", "cosine", "cut-off function"),
        new("elements", "text list", DataElements, "elements resolved by the functions"),
        new("g2_centred", "integer", "6", "radial G2 functions centred at 0 (widths spread over the cut-off)"),
        new("g2_shifted", "integer", "0", "radial G2 functions with shifted centres"),
        new("g4_eta", "number list", "[0.005, 0.05]", "widths of the angular G4 functions (Å^-2)"),
        new("g4_zeta", "number list", "[1, 4]", "angular exponents of G4"),
        new("g4_lambda", "number list", "[1, -1]", "signs of the cosine term of G4"),
        new("g5_eta", "number list", "[]", "widths of the angular G5 functions (none by default)"),
        new("g5_zeta", "number list", "[1]", "angular exponents of G5"),
        new("g5_lambda", "number list", "[1, -1]", "signs of the cosine term of G5"),
    ];

    private static readonly List<DescriptorType> Table =
    [
        new("acsf", [], "Behler-Parrinello atom-centred symmetry functions (G2, G4, G5), element-resolved", AcsfKeys),
        new("wacsf", [], "weighted ACSF: the same functions weighted by atomic number (size independent of the element count)", AcsfKeys),
        new("so4", ["snap", "bispectrum"], "SNAP bispectrum components (LAMMPS compute sna/atom conventions)",
        [
            new("rcutfac", "number", F(So4.RcutFac), "cut-off scale: R_cut = rcutfac (radelem_i + radelem_j)"),
            new("rfac0", "number", F(So4.Rfac0), "angle mapping parameter of the 4D sphere"),
            new("twojmax", "integer", F(So4.TwoJMax), "2 J_max: the band limit"),
            new("rmin0", "number", F(So4.Rmin0), "inner radius of the mapping (Å)"),
            new("switchflag", "0 | 1", "1", "smooth switching function at the cut-off"),
            new("bzeroflag", "0 | 1", "1", "subtract the bispectrum of an isolated atom"),
            new("quadraticflag", "0 | 1", "0", "append the products of pairs of components"),
            new("wself", "number", F(So4.WSelf), "weight of the central atom's own density"),
            new("elements", "text list", DataElements, "elements"),
            new("radelem", "number list", "0.5 per element", "element radii (cut-off of a pair: rcutfac (radelem_i + radelem_j))"),
            new("wj", "number list", "1 per element", "element weights of the neighbour density"),
        ]),
        new("so3", ["soap"], "smooth SO(3) power spectrum (SOAP-like, LAMMPS ML-MLIAP so3 conventions)",
        [
            new("rcutfac", "number", F(So3.Rcutfac), "cut-off radius (Å)"),
            new("nmax", "integer", F(So3.Nmax), "radial basis functions"),
            new("lmax", "integer", F(So3.Lmax), "largest angular momentum"),
            new("alpha", "number", F(So3.Alpha), "Gaussian width parameter of the neighbour density (Å^-2)"),
            new("elements", "text list", DataElements, "elements (elems is the same key)"),
            new("elems", "text list", DataElements, "elements, as ML-MLIAP names them"),
            new("radelems", "number list", "none", "element radii (one per element)"),
            new("welems", "number list", "none", "element weights (one per element)"),
        ]),
        new("ead", [], "embedded atom density: Gaussian radial shells times angular moments (PyXtal_FF's EAD)",
        [
            new("rc", "number", F(EadP.Cutoff), "cut-off radius (Å)"),
            new("cutoff_function", "cosine | tanh | exponential | poly1 ... poly4", "cosine", "cut-off function"),
            new("lmax", "integer", F(EadP.Lmax), "largest angular moment"),
            new("eta", "number list", F(EadP.Eta), "Gaussian widths (Å^-2)"),
            new("rs", "number list", F(EadP.Rs), "shell centres (Å)"),
            new("elements", "text list", DataElements, "elements"),
            new("weights", "number list", "none", "element weights (one per element); none: element-resolved"),
            new("convention", "pyxtal_ff | paper", "pyxtal_ff", "normalisation convention"),
        ]),
        new("multi", [], "several blocks of one base descriptor at different cut-offs, concatenated (multi-range)",
        [
            new("base", "text", "so4", "the base descriptor type (so4, so3, acsf, wacsf, ead)"),
            new("cutoffs", "number list", "(required)", "one block per value: rcutfac for so4 and so3, rc for acsf and ead"),
            new("normalize", "size | none | unit", "size", "scaling of each block"),
            new("average", "0 | 1", "0", "append the structure-wide mean of the features"),
            new("(any)", "", "", "every other parameter goes to each block (a parameter of the base type)"),
        ]),
        new("pinn", [], "the PINN network's inputs: Gaussian-shell local structural parameters (features of model kinds pinn and nn; a pinn model also reads so4, so3, ace, acsf)",
        [
            new("rc", "number", F(Pinn.Cutoff), "cut-off radius (Å), also the BOP's"),
            new("dc", "number", F(Pinn.CutoffRange), "cut-off range of the smooth cut-off (Å), also the BOP's"),
            new("width", "number", F(Pinn.Width), "Gaussian width σ (Å)"),
            new("centres", "number list", F(Pinn.Centres), "Gaussian centres (Å)"),
            new("orders", "integer list", F(Pinn.Orders), "Legendre orders"),
            new("shift", "number", F(Pinn.Shift), "shift added before asinh"),
            new("asinh", "0 | 1", "1", "compress the features by asinh"),
            new("elements", "text list", DataElements, "elements"),
        ]),
        new("ace", [], "atomic cluster expansion basis (product basis of radial functions and spherical harmonics; model kind ace, or the features of a pinn network)",
        [
            new("rc", "number", F(AceP.Cutoff), "cut-off radius (Å)"),
            new("radial", "text", F(AceP.RadialBasis), "radial basis (SBessel, ChebExpCos, ...)"),
            new("lambda", "number", F(AceP.Lambda), "scaled-distance parameter λ of the radial basis"),
            new("dcut", "number", F(AceP.DCut), "width of the core repulsion cut-off (Å)"),
            new("order", "integer", F(AceP.MaxRank), "largest body order (rank) of the basis"),
            new("nmax", "integer list", F(AceP.NMax), "largest radial index per rank"),
            new("lmax", "integer list", F(AceP.LMax), "largest angular index per rank"),
            new("degree", "number", F(AceP.TotalDegree), "total degree limit Σ(n + wl·l); 0: none"),
            new("wl", "number", F(AceP.LWeight), "weight of l in the degree"),
            new("elements", "text list", DataElements, "elements"),
        ]),
    ];

    /// <summary>Every type, in the order the docs list them (the built-in ones, then those registered).</summary>
    public static IReadOnlyList<DescriptorType> All
    {
        get { lock (Table) return [.. Table]; }
    }

    /// <summary>The type called <paramref name="name"/> or one of its aliases (case-insensitive), or null.</summary>
    public static DescriptorType? Find(string name)
    {
        lock (Table) return Table.FirstOrDefault(t => Named(t, name));
    }

    private static bool Named(DescriptorType t, string name) =>
        t.Name.Equals(name, StringComparison.OrdinalIgnoreCase) || t.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Adds (or replaces) a descriptor type built by <paramref name="create"/> from a settings record: the record's
    /// <see cref="SettingAttribute"/> properties are the type's parameters (defaults, ranges and docs, as for a model
    /// kind's settings), bound from <c>descriptor.parameters</c> with unknown keys refused. <paramref name="create"/>
    /// gets the settings and the data's elements (a model file's elements when the model is loaded).
    /// </summary>
    public static void Register<TSettings>(string name, string doc, Func<TSettings, IReadOnlyList<string>, IDescriptor> create, params string[] aliases)
        where TSettings : class, new()
    {
        ArgumentNullException.ThrowIfNull(create);
        var parameters = SettingsBinder.Describe(typeof(TSettings)).Select(s => new ConfigKeyDoc(s.Key, s.Type, s.Default, s.Doc)).ToList();
        Register(new DescriptorType(name, aliases, doc, parameters)
        {
            Create = (values, elements) =>
                create(SettingsBinder.Bind<TSettings>(ConfigSection.FromDictionary("descriptor.parameters", values), $"descriptor '{name}'"), elements),
        });
    }

    /// <summary>Adds (or replaces) a descriptor type that has its own <see cref="DescriptorType.Create"/>.</summary>
    public static void Register(DescriptorType type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type.Create is null) throw new ArgumentException($"descriptor type '{type.Name}' has no Create", nameof(type));
        lock (Table)
        {
            Table.RemoveAll(t => Named(t, type.Name) || type.Aliases.Any(a => Named(t, a)));
            Table.Add(type);
        }
    }

    /// <summary>Removes a registered type (a test's clean-up); the built-in types stay. True when one was removed.</summary>
    public static bool Unregister(string name)
    {
        lock (Table) return Table.RemoveAll(t => t.Create is not null && t.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) > 0;
    }
}
