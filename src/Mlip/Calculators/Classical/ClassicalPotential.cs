using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Calculators;

/// <summary>
/// Sums of pair-vector gradients: for g = ∂E/∂r_ij (r_ij = r_j − r_i), F_i += g, F_j −= g and the
/// strain derivative gains g ⊗ r_ij, so σ = (1/V) Σ g ⊗ r_ij (tension positive), as
/// <see cref="Models.ForceContraction"/> does for the machine-learned models.
/// </summary>
public sealed class ForceSum
{
    private readonly double[] fx, fy, fz;
    private double wxx, wyy, wzz, wyz, wzy, wxz, wzx, wxy, wyx;

    public ForceSum(int atoms)
    {
        fx = new double[atoms]; fy = new double[atoms]; fz = new double[atoms];
        AtomEnergies = new double[atoms];
    }

    /// <summary>Energy of each atom (eV), filled by the potential.</summary>
    public double[] AtomEnergies { get; }

    /// <summary>Adds the gradient <paramref name="g"/> of the energy with respect to the pair vector <paramref name="r"/> from atom i to atom j.</summary>
    public void Add(int i, int j, Vec3 r, Vec3 g)
    {
        fx[i] += g.X; fy[i] += g.Y; fz[i] += g.Z;
        fx[j] -= g.X; fy[j] -= g.Y; fz[j] -= g.Z;
        wxx += g.X * r.X; wyy += g.Y * r.Y; wzz += g.Z * r.Z;
        wyz += g.Y * r.Z; wzy += g.Z * r.Y;
        wxz += g.X * r.Z; wzx += g.Z * r.X;
        wxy += g.X * r.Y; wyx += g.Y * r.X;
    }

    /// <summary>Adds the forces, virial and atom energies of <paramref name="other"/> (a partial sum over other centres) to this sum.</summary>
    public void Add(ForceSum other)
    {
        if (other.fx.Length != fx.Length) throw new ArgumentException("the sums have different atom counts", nameof(other));
        for (int i = 0; i < fx.Length; i++)
        {
            fx[i] += other.fx[i]; fy[i] += other.fy[i]; fz[i] += other.fz[i];
            AtomEnergies[i] += other.AtomEnergies[i];
        }
        wxx += other.wxx; wyy += other.wyy; wzz += other.wzz;
        wyz += other.wyz; wzy += other.wzy; wxz += other.wxz; wzx += other.wzx; wxy += other.wxy; wyx += other.wyx;
    }

    public Vec3[] Forces()
    {
        var f = new Vec3[fx.Length];
        for (int i = 0; i < f.Length; i++) f[i] = new Vec3(fx[i], fy[i], fz[i]);
        return f;
    }

    /// <summary>Stress (GPa, tension positive) for a cell of this volume; null without a cell.</summary>
    public Stress? Stress(double volume)
    {
        if (!(volume > 0)) return null;
        double s = Structures.Stress.EvPerCubicAngstromInGpa / volume;
        return new Stress(s * wxx, s * wyy, s * wzz, s * 0.5 * (wyz + wzy), s * 0.5 * (wxz + wzx), s * 0.5 * (wxy + wyx));
    }
}

/// <summary>
/// Base of the classical potentials: maps atomic numbers to the potential's species, builds the full
/// neighbour list at <see cref="Cutoff"/> and lets the potential add energies and pair-vector
/// gradients to a <see cref="ForceSum"/>.
/// </summary>
public abstract class ClassicalPotential : ICalculator
{
    private readonly int[] typeOf = new int[Structures.Elements.MaxAtomicNumber + 1];

    /// <param name="elements">The species, in the order of the potential's parameter tables; empty for a potential that treats every element alike (then every atom has species 0).</param>
    protected ClassicalPotential(IReadOnlyList<int> elements)
    {
        Elements = elements.ToArray();
        Array.Fill(typeOf, Elements.Count == 0 ? 0 : -1);
        for (int t = 0; t < Elements.Count; t++) typeOf[Elements[t]] = t;
    }

    public abstract string Name { get; }

    /// <summary>The elements of the parameter tables; empty when the potential takes any element.</summary>
    public IReadOnlyList<int> Elements { get; }

    /// <summary>Largest interaction distance (Å).</summary>
    public abstract double Cutoff { get; }

    /// <summary>Number of species in the parameter tables (1 for an element-blind potential).</summary>
    protected int SpeciesCount => Math.Max(1, Elements.Count);

    private double _skin;
    private VerletList? _verlet;
    private readonly object _verletLock = new();

    /// <summary>
    /// Verlet skin (Å) for reusing the neighbour list across calls (MD, relaxation): 0 (default)
    /// builds a fresh list every call; a positive value keeps a list at <see cref="Cutoff"/> + skin,
    /// rebuilt only when an atom has moved more than skin/2 (or the cell, periodicity or atom count
    /// changed). Results agree with a fresh build to round-off (the order of summation can differ).
    /// Calls are then serialised on this calculator.
    /// </summary>
    public double NeighborSkin
    {
        get => _skin;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), "skin must be a finite number ≥ 0");
            lock (_verletLock) { _skin = value; _verlet = null; }
        }
    }

    /// <summary>Number of neighbour-list builds done by the reused list (0 without a skin).</summary>
    public int NeighborListBuilds { get { lock (_verletLock) return _verlet?.Builds ?? 0; } }

    public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
    {
        var types = new int[structure.Count];
        for (int i = 0; i < types.Length; i++)
        {
            int z = structure.AtomicNumbers[i];
            int t = z >= 0 && z < typeOf.Length ? typeOf[z] : -1;
            if (t < 0)
                throw new MlipInputException(structure.Source ?? InputLocation.Unknown, $"{Name} has parameters for {string.Join(" ", Elements.Select(Structures.Elements.Symbol))} only, not {Structures.Elements.Symbol(z)}");
            types[i] = t;
        }
        ForceSum sum;
        if (_skin > 0)
        {
            lock (_verletLock)
            {
                _verlet ??= new VerletList(Cutoff, _skin);
                sum = Sum(_verlet.Get(structure), types);
            }
        }
        else sum = Sum(NeighborList.Build(structure, Cutoff), types);
        double e = 0;
        foreach (double ei in sum.AtomEnergies) e += ei;
        return new CalculatorResult(e, forces ? sum.Forces() : null, stress ? sum.Stress(structure.Volume) : null, sum.AtomEnergies);
    }

    /// <summary>Centres per block of the parallel sum: fewer atoms than this are one block.</summary>
    private const int BlockAtoms = 256;

    /// <summary>At most this many blocks (each holds a partial sum over all atoms).</summary>
    private const int MaxBlocks = 16;

    /// <summary>
    /// The energies and pair-vector gradients of all centres, parallel over blocks of centres: each block adds into its
    /// own partial <see cref="ForceSum"/>, and the partial sums are added in block order. The blocks depend only on the
    /// atom count, so the result is the same bits on any number of threads (and, for fewer than
    /// <see cref="BlockAtoms"/> atoms, the bits of one serial pass).
    /// </summary>
    private ForceSum Sum(NeighborList nl, int[] types)
    {
        int n = nl.AtomCount;
        var prepared = Prepare(nl, types);
        int blocks = ParallelOverCentres ? Math.Clamp((n + BlockAtoms - 1) / BlockAtoms, 1, MaxBlocks) : 1;
        var parts = new ForceSum[blocks];
        MlipParallel.ForChunks(blocks, 1, () => 0, (b, _, _) =>
        {
            var part = new ForceSum(n);
            Compute(nl, types, part, (int)((long)n * b / blocks), (int)((long)n * (b + 1) / blocks), prepared);
            parts[b] = part;
        });
        for (int b = 1; b < blocks; b++) parts[0].Add(parts[b]);
        return parts[0];
    }

    /// <summary>Whether <see cref="Compute"/> may run on several blocks of centres at once (false: one block, serial).</summary>
    protected virtual bool ParallelOverCentres => true;

    /// <summary>Per-atom quantities every centre needs before the pass (EAM: the embedding derivative of each atom); null when none.</summary>
    protected virtual object? Prepare(NeighborList nl, int[] types) => null;

    /// <summary>
    /// Adds the energy of the centres <paramref name="first"/>..<paramref name="end"/> − 1 and the pair-vector gradients
    /// of their pairs (the neighbour list is full: every pair appears from both ends). Called concurrently on disjoint
    /// blocks, each with its own <paramref name="sum"/>.
    /// </summary>
    protected abstract void Compute(NeighborList nl, int[] types, ForceSum sum, int first, int end, object? prepared);

    /// <summary>The species of a potential file's element names, in order.</summary>
    protected static int[] Numbers(IEnumerable<string> symbols) => symbols.Select(s => Structures.Elements.Number(s)).ToArray();
}
