using Mlip.Structures;

namespace Mlip.Neighbors;

/// <summary>
/// The rows of a full neighbour list for potentials that work on the rows themselves (EAM: densities over each atom's row,
/// pair terms from one end, a gather). Either a built list at the cut-off (<see cref="Of"/>: its stored vectors) or the wide
/// rows of a <see cref="VerletList"/> at cut-off + skin (<see cref="VerletList.Rows(Structure)"/>), whose pair vectors are
/// formed from the positions and each pair's image translation by <see cref="Vector"/>, with the same expression as the
/// filtered list's, so the same bits; the caller then skips the pairs beyond its cut-off.
/// </summary>
public readonly struct PairRows
{
    private readonly Vec3[]? _translations, _positions;

    internal PairRows(NeighborList list, Vec3[]? translations, Vec3[]? positions)
    {
        List = list;
        _translations = translations;
        _positions = positions;
    }

    /// <summary>The rows of a built list (vectors stored).</summary>
    public static PairRows Of(NeighborList list) => new(list, null, null);

    /// <summary>The list whose rows these are (for a Verlet list: the wide list, at cut-off + skin).</summary>
    public NeighborList List { get; }

    public int AtomCount => List.AtomCount;

    /// <summary>Whether the rows hold pairs beyond the cut-off (the wide rows of a Verlet list).</summary>
    public bool Wide => _translations is not null;

    /// <summary>
    /// The vector from atom <paramref name="i"/> to the neighbour of pair <paramref name="p"/> (a pair of row i), at the
    /// current positions.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public Vec3 Vector(int i, int p, int j, ReadOnlySpan<Vec3> stored)
    {
        if (_translations is null) return stored[p];
        Vec3 ri = _positions![i], rj = _positions[j], t = _translations[p];
        return new Vec3(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z);
    }

    /// <summary>Positions the vectors of wide rows are formed from (empty for a built list).</summary>
    public ReadOnlySpan<Vec3> Positions => _positions;

    /// <summary>Image translation S·Cell of each pair of wide rows (empty for a built list).</summary>
    public ReadOnlySpan<Vec3> Translations => _translations;

    /// <summary>The stored vectors of a built list (empty for wide rows): pass to <see cref="Vector"/>.</summary>
    public ReadOnlySpan<Vec3> StoredVectors => _translations is null ? List.Vectors : default;
}
