using Mlip.Structures;

namespace Mlip.Neighbors;

/// <summary>
/// A Verlet list kept across the calls of one calculator (MD, relaxation): with a positive <see cref="Skin"/> the list is
/// built at the calculator's cut-off + skin and rebuilt only when an atom has moved more than skin/2 (or the cell,
/// periodicity or atom count changed); with 0 (the default) the calculator builds a fresh list every call. Results agree
/// with a fresh build to round-off (the order of an atom's pairs can differ). The calls that use the list are serialised
/// on <see cref="Gate"/>.
/// </summary>
public sealed class ReusedNeighborList
{
    private double _skin;
    private VerletList? _list;

    /// <summary>The lock a caller holds while it gets and uses the list.</summary>
    public Lock Gate { get; } = new();

    /// <summary>Verlet skin (Å), finite and ≥ 0; setting it drops the current list.</summary>
    public double Skin
    {
        get => _skin;
        set
        {
            if (!(value >= 0) || !double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), "skin must be a finite number ≥ 0");
            lock (Gate) { _skin = value; _list = null; }
        }
    }

    /// <summary>Number of neighbour-list builds done so far (0 without a skin).</summary>
    public int Builds { get { lock (Gate) return _list?.Builds ?? 0; } }

    /// <summary>The list of <paramref name="structure"/> at <paramref name="cutoff"/> + skin; call it holding <see cref="Gate"/>, with a positive skin.</summary>
    public NeighborList Get(Structure structure, double cutoff)
    {
        _list ??= new VerletList(cutoff, _skin);
        return _list.Get(structure);
    }

    /// <summary>The Verlet list itself (cut-off + skin), for a pass that tests the displacements per block (<see cref="VerletList.RowsTestedByCaller"/>); call it holding <see cref="Gate"/>, with a positive skin.</summary>
    internal VerletList List(double cutoff) => _list ??= new VerletList(cutoff, _skin);
}
