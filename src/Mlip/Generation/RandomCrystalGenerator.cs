using System.Globalization;
using System.Text.RegularExpressions;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Generation;

/// <summary>A chemical composition of one cell: element symbols with atom counts.</summary>
public sealed record Composition(IReadOnlyList<(string Element, int Count)> Species)
{
    public int AtomCount => Species.Sum(s => s.Count);

    /// <summary>Parses "Si8", "Ga12As12" or "Si:8,O:16".</summary>
    public static Composition Parse(string text)
    {
        var list = new List<(string, int)>();
        string t = text.Replace(" ", "", StringComparison.Ordinal);
        if (t.Contains(':', StringComparison.Ordinal))
        {
            foreach (var part in t.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = part.Split(':');
                if (kv.Length != 2 || !int.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 1)
                    throw new MlipException($"composition '{text}': expected ELEMENT:COUNT pairs, got '{part}'");
                list.Add((kv[0], n));
            }
        }
        else
        {
            var matches = Regex.Matches(t, "([A-Z][a-z]?)([0-9]*)");
            if (matches.Sum(m => m.Length) != t.Length || matches.Count == 0)
                throw new MlipException($"composition '{text}': expected a formula like Si8 or Ga12As12");
            foreach (Match m in matches)
                list.Add((m.Groups[1].Value, m.Groups[2].Length == 0 ? 1 : int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)));
        }
        foreach (var (e, n) in list)
        {
            if (!Elements.TryNumber(e, out _)) throw new UnknownElementException(InputLocation.Unknown, e);
            if (n < 1) throw new MlipException($"composition '{text}': {e} needs at least one atom");
        }
        if (list.Select(x => x.Item1).Distinct(StringComparer.Ordinal).Count() != list.Count)
            throw new MlipException($"composition '{text}': an element appears twice");
        return new Composition(list);
    }

    public override string ToString() => string.Concat(Species.Select(s => s.Element + s.Count.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>Settings of <see cref="RandomCrystalGenerator"/>.</summary>
public sealed record RandomCrystalOptions
{
    /// <summary>Target cell volume = factor × Σ 4/3 π r_cov³ over the atoms.</summary>
    public double VolumeFactor { get; init; } = 3.0;
    /// <summary>Atoms i, j closer than this fraction of r_cov(i) + r_cov(j) are rejected.</summary>
    public double DistanceFraction { get; init; } = 0.75;
    /// <summary>Whole attempts (new lattice and site choice) before giving up.</summary>
    public int MaxAttempts { get; init; } = 60;
    /// <summary>Tries to place one Wyckoff orbit before the attempt is abandoned.</summary>
    public int SiteAttempts { get; init; } = 12;
    /// <summary>Distance tolerance (Å) of spglib's check of the generated structure; 0 skips the check.</summary>
    public double SymmetryTolerance { get; init; } = 1e-3;
}

/// <summary>One generated crystal with the symmetry it was built with and the one spglib finds.</summary>
public sealed record GeneratedCrystal(Structure Structure, SpaceGroup Requested, int DetectedNumber, string DetectedSymbol,
    IReadOnlyList<(string Element, WyckoffPosition Site)> Sites, int Attempts)
{
    /// <summary>True when the atoms landed in an arrangement of higher symmetry than requested (a supergroup).</summary>
    public bool IsSupergroup => DetectedNumber != Requested.Number;
}

/// <summary>The composition cannot be split into Wyckoff orbits of the group (or no placement kept the atoms apart).</summary>
public sealed class CompositionDoesNotFitException(string composition, int spaceGroup, string detail)
    : MlipException($"composition {composition} cannot be built in space group {spaceGroup}: {detail}")
{
    public string Composition { get; } = composition;
    public int SpaceGroup { get; } = spaceGroup;
}

/// <summary>
/// Random crystals of a given symmetry (as PyXtal does): a lattice of the group's crystal system at a target
/// volume, atoms on randomly chosen Wyckoff positions with random free parameters, rejected when two atoms
/// come closer than a fraction of the sum of their covalent radii; bounded retries.
/// </summary>
public sealed class RandomCrystalGenerator(RandomCrystalOptions? options = null)
{
    private const int SearchNodeLimit = 20000;

    public RandomCrystalOptions Options { get; } = options ?? new RandomCrystalOptions();

    /// <summary>True when the counts can be written as sums of Wyckoff multiplicities (zero-freedom positions used once).</summary>
    public static bool Fits(Composition composition, SpaceGroup group) =>
        Assign(composition, group, null) is not null;

    /// <summary>A crystal of the composition in the given group (1-230).</summary>
    public GeneratedCrystal Generate(Composition composition, int spaceGroup, Random rng)
    {
        var group = SpaceGroup.Get(spaceGroup);
        if (Assign(composition, group, null) is null)
            throw new CompositionDoesNotFitException(composition.ToString(), spaceGroup,
                $"the counts are not sums of its Wyckoff multiplicities ({string.Join(", ", group.WyckoffPositions.Select(w => w.ToString()))})");
        for (int attempt = 1; attempt <= Options.MaxAttempts; attempt++)
        {
            var sites = Assign(composition, group, rng)!;
            var crystal = TryPlace(composition, group, sites, rng, attempt);
            if (crystal is not null) return crystal;
        }
        throw new CompositionDoesNotFitException(composition.ToString(), spaceGroup,
            string.Create(CultureInfo.InvariantCulture, $"no placement kept atoms {Options.DistanceFraction} × (sum of covalent radii) apart in {Options.MaxAttempts} attempts (raise the volume factor)"));
    }

    /// <summary>A crystal in a random group the composition fits (uniform over the groups 1-230 that fit).</summary>
    public GeneratedCrystal GenerateAnyGroup(Composition composition, Random rng, int maxGroupTries = 500)
    {
        for (int i = 0; i < maxGroupTries; i++)
        {
            int number = rng.Next(1, 231);
            if (!Fits(composition, SpaceGroup.Get(number))) continue;
            try { return Generate(composition, number, rng); }
            catch (CompositionDoesNotFitException) { }
        }
        throw new CompositionDoesNotFitException(composition.ToString(), 0, $"no group worked in {maxGroupTries} random tries");
    }

    private GeneratedCrystal? TryPlace(Composition composition, SpaceGroup group, List<(int Species, WyckoffPosition Site)> sites, Random rng, int attempt)
    {
        double volume = 0;
        var numbers = composition.Species.Select(s => Elements.Number(s.Element)).ToArray();
        for (int s = 0; s < numbers.Length; s++) volume += composition.Species[s].Count * CovalentRadii.AtomicVolume(numbers[s]);
        volume *= Options.VolumeFactor;
        var cell = LatticeFor(group, volume, rng);
        double maxRadius = numbers.Max(CovalentRadii.Of);
        var images = ImageTranslations(cell, 2 * maxRadius * Options.DistanceFraction);

        var frac = new List<Vec3>();
        var cart = new List<Vec3>();
        var z = new List<int>();
        Span<double> u = stackalloc double[3];
        var orbit = new List<Vec3>(192);
        foreach (var (species, site) in sites)
        {
            int zi = numbers[species];
            bool placed = false;
            for (int tryIndex = 0; tryIndex < (site.Dof == 0 ? 1 : Options.SiteAttempts) && !placed; tryIndex++)
            {
                for (int k = 0; k < site.Dof; k++) u[k] = rng.NextDouble();
                var x = site.Point(u[..site.Dof]);
                Orbit(group, x, orbit);
                if (orbit.Count != site.Multiplicity) continue; // landed on a point of higher site symmetry
                if (!Clear(orbit, zi, cell, images, cart, z)) continue;
                foreach (var p in orbit) { frac.Add(p); cart.Add(p * cell); z.Add(zi); }
                placed = true;
            }
            if (!placed) return null;
        }
        // order atoms by species as in the composition
        var order = Enumerable.Range(0, z.Count).OrderBy(i => Array.IndexOf(numbers, z[i])).ToArray();
        var structure = new Structure(cell, order.Select(i => cart[i]).ToArray(), order.Select(i => z[i]).ToArray(), PeriodicFlags.All)
        {
            Group = "random_" + group.Number.ToString(CultureInfo.InvariantCulture),
        };
        int detected = group.Number;
        string symbol = group.Symbol;
        if (Options.SymmetryTolerance > 0)
            (detected, symbol) = Spglib.DetectSpaceGroup(structure, Options.SymmetryTolerance);
        structure.Info["spacegroup_requested"] = (long)group.Number;
        structure.Info["spacegroup_detected"] = (long)detected;
        structure.Info["wyckoff"] = string.Join(" ", sites.Select(s => composition.Species[s.Species].Element + ":" + s.Site.Multiplicity.ToString(CultureInfo.InvariantCulture) + s.Site.Letter));
        return new GeneratedCrystal(structure, group, detected, symbol,
            sites.Select(s => (composition.Species[s.Species].Element, s.Site)).ToList(), attempt);
    }

    /// <summary>Distinct images of x under the group (fractional, wrapped).</summary>
    public static void Orbit(SpaceGroup group, Vec3 x, List<Vec3> orbit)
    {
        orbit.Clear();
        foreach (var op in group.Operations)
        {
            var y = FractionalMath.Wrap(op.Apply(x));
            bool seen = false;
            foreach (var o in orbit)
                if (FractionalMath.IsLatticeVector(y - o, 1e-7)) { seen = true; break; }
            if (!seen) orbit.Add(y);
        }
    }

    private bool Clear(List<Vec3> orbit, int zi, Matrix3 cell, Vec3[] images, List<Vec3> placed, List<int> placedZ)
    {
        double ri = CovalentRadii.Of(zi);
        double f = Options.DistanceFraction;
        for (int a = 0; a < orbit.Count; a++)
        {
            var pa = orbit[a] * cell;
            double dSame = f * 2 * ri;
            for (int b = a; b < orbit.Count; b++)
                if (MinDistanceSquared(pa, orbit[b] * cell, images, a == b) < dSame * dSame) return false;
            for (int j = 0; j < placed.Count; j++)
            {
                double d = f * (ri + CovalentRadii.Of(placedZ[j]));
                if (MinDistanceSquared(pa, placed[j], images, false) < d * d) return false;
            }
        }
        return true;
    }

    private static double MinDistanceSquared(Vec3 a, Vec3 b, Vec3[] images, bool same)
    {
        var d = b - a;
        double best = double.MaxValue;
        foreach (var t in images)
        {
            if (same && t.NormSquared == 0) continue;
            double r2 = (d + t).NormSquared;
            if (r2 < best) best = r2;
        }
        return best;
    }

    /// <summary>Lattice translations that can bring two atoms of the cell within <paramref name="range"/> Å.</summary>
    public static Vec3[] ImageTranslations(Matrix3 cell, double range)
    {
        var a = cell.Row(0); var b = cell.Row(1); var c = cell.Row(2);
        double volume = Math.Abs(Vec3.Dot(a, Vec3.Cross(b, c)));
        int na = (int)Math.Ceiling(range * Vec3.Cross(b, c).Norm / volume) + 1;
        int nb = (int)Math.Ceiling(range * Vec3.Cross(c, a).Norm / volume) + 1;
        int nc = (int)Math.Ceiling(range * Vec3.Cross(a, b).Norm / volume) + 1;
        var list = new List<Vec3>();
        for (int i = -na; i <= na; i++)
            for (int j = -nb; j <= nb; j++)
                for (int k = -nc; k <= nc; k++)
                    list.Add(i * a + j * b + k * c);
        return [.. list];
    }

    /// <summary>A random cell of the group's crystal system with the given volume (Å³); rows are a, b, c.</summary>
    public static Matrix3 LatticeFor(SpaceGroup group, double volume, Random rng)
    {
        double R(double lo, double hi) => lo + (hi - lo) * rng.NextDouble();
        double deg = Math.PI / 180;
        double a = 1, b = 1, c = 1, alpha = 90 * deg, beta = 90 * deg, gamma = 90 * deg;
        switch (group.System)
        {
            case CrystalSystem.Triclinic:
                a = R(0.7, 1.4); b = R(0.7, 1.4); c = R(0.7, 1.4);
                do { alpha = R(70, 110) * deg; beta = R(70, 110) * deg; gamma = R(70, 110) * deg; }
                while (VolumeFactorOf(alpha, beta, gamma) < 0.75);
                break;
            case CrystalSystem.Monoclinic:
            {
                a = R(0.7, 1.4); b = R(0.7, 1.4); c = R(0.7, 1.4);
                double angle = R(75, 105) * deg;
                switch (UniqueAxis(group))
                {
                    case 0: alpha = angle; break;
                    case 2: gamma = angle; break;
                    default: beta = angle; break;
                }
                break;
            }
            case CrystalSystem.Orthorhombic:
                a = R(0.7, 1.4); b = R(0.7, 1.4); c = R(0.7, 1.4);
                break;
            case CrystalSystem.Tetragonal:
                c = R(0.6, 1.6);
                break;
            case CrystalSystem.Trigonal or CrystalSystem.Hexagonal when group.RhombohedralAxes:
                alpha = beta = gamma = R(60, 100) * deg;
                break;
            case CrystalSystem.Trigonal or CrystalSystem.Hexagonal:
                c = R(0.6, 1.8);
                gamma = 120 * deg;
                break;
        }
        var m = FromParameters(a, b, c, alpha, beta, gamma);
        double scale = Math.Cbrt(volume / Math.Abs(m.Determinant));
        return scale * m;
    }

    private static double VolumeFactorOf(double al, double be, double ga)
    {
        double ca = Math.Cos(al), cb = Math.Cos(be), cg = Math.Cos(ga);
        double v = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
        return v > 0 ? Math.Sqrt(v) : 0;
    }

    public static Matrix3 FromParameters(double a, double b, double c, double alpha, double beta, double gamma)
    {
        double ca = Math.Cos(alpha), cb = Math.Cos(beta), cg = Math.Cos(gamma), sg = Math.Sin(gamma);
        double cy = (ca - cb * cg) / sg;
        double cz = Math.Sqrt(Math.Max(0, 1 - cb * cb - cy * cy));
        return Matrix3.FromRows(new Vec3(a, 0, 0), new Vec3(b * cg, b * sg, 0), new Vec3(c * cb, c * cy, c * cz));
    }

    /// <summary>The unique axis of a monoclinic group: the diagonal entry of a 2-fold rotation or mirror whose sign differs from the other two.</summary>
    private static int UniqueAxis(SpaceGroup group)
    {
        foreach (var op in group.Operations)
        {
            int d0 = op.R(0, 0), d1 = op.R(1, 1), d2 = op.R(2, 2);
            if (d0 == d1 && d1 == d2) continue; // identity or inversion
            if (d1 == d2) return 0;
            if (d0 == d2) return 1;
            return 2;
        }
        return 1;
    }

    /// <summary>
    /// A split of every species' count into Wyckoff orbits; positions without freedom are used at most once.
    /// Depth-first search, in random order when <paramref name="rng"/> is given; null when none exists.
    /// </summary>
    private static List<(int Species, WyckoffPosition Site)>? Assign(Composition composition, SpaceGroup group, Random? rng)
    {
        var positions = group.WyckoffPositions;
        var used = new bool[positions.Count];
        var chosen = new List<(int, WyckoffPosition)>();
        int nodes = 0;
        var order = Enumerable.Range(0, composition.Species.Count).OrderByDescending(s => composition.Species[s].Count).ToArray();

        bool Fill(int speciesIndex, int remaining, int minIndex)
        {
            if (++nodes > SearchNodeLimit) return false;
            if (remaining == 0)
                return speciesIndex + 1 == order.Length || Fill(speciesIndex + 1, composition.Species[order[speciesIndex + 1]].Count, 0);
            // candidates: index >= minIndex keeps the search over multisets (no permutations); random order when sampling
            var candidates = new List<int>();
            for (int w = minIndex; w < positions.Count; w++)
                if (positions[w].Multiplicity <= remaining && !used[w]) candidates.Add(w);
            if (rng is not null)
            {
                // weighted random order (Efraimidis-Spirakis keys): orbits with more atoms and more freedom first,
                // so few atoms crowd onto special lines and planes
                var keys = new double[candidates.Count];
                for (int i = 0; i < keys.Length; i++)
                {
                    var w = positions[candidates[i]];
                    keys[i] = -Math.Log(1 - rng.NextDouble()) / (w.Multiplicity * (1.0 + w.Dof));
                }
                var sorted = candidates.ToArray();
                Array.Sort(keys, sorted);
                candidates = [.. sorted];
            }
            foreach (int w in candidates)
            {
                var site = positions[w];
                if (site.Dof == 0) used[w] = true;
                chosen.Add((order[speciesIndex], site));
                if (Fill(speciesIndex, remaining - site.Multiplicity, rng is null ? w : 0)) return true;
                chosen.RemoveAt(chosen.Count - 1);
                if (site.Dof == 0) used[w] = false;
            }
            return false;
        }

        return Fill(0, composition.Species[order[0]].Count, 0) ? chosen : null;
    }
}
