using System.Collections.Concurrent;

namespace Mlip.Generation;

public enum CrystalSystem { Triclinic, Monoclinic, Orthorhombic, Tetragonal, Trigonal, Hexagonal, Cubic }

/// <summary>
/// One of the 230 space groups in its standard setting (spglib's first Hall setting for the number:
/// unique axis b for monoclinic groups, hexagonal axes for rhombohedral ones, origin choice 1), with
/// its operations in the fractional basis of the conventional cell (centring translations included)
/// and the Wyckoff positions derived from them (<see cref="WyckoffDerivation"/>).
/// </summary>
public sealed class SpaceGroup
{
    private static readonly ConcurrentDictionary<int, SpaceGroup> Cache = new();
    private static readonly Lazy<int[]> StandardHall = new(BuildHallTable);
    private readonly Lazy<IReadOnlyList<WyckoffPosition>> _wyckoff;

    private SpaceGroup(int number, int hall, string symbol, string choice, SymmetryOperation[] ops)
    {
        Number = number;
        HallNumber = hall;
        Symbol = symbol;
        Choice = choice;
        Operations = ops;
        System = SystemOf(number);
        _wyckoff = new Lazy<IReadOnlyList<WyckoffPosition>>(() => WyckoffDerivation.Derive(this));
    }

    public int Number { get; }
    public int HallNumber { get; }
    /// <summary>Short international (Hermann-Mauguin) symbol, e.g. "Fd-3m".</summary>
    public string Symbol { get; }
    /// <summary>Setting choice of spglib ("1", "2", "H", "R", "b" ... or empty).</summary>
    public string Choice { get; }
    public SymmetryOperation[] Operations { get; }
    public CrystalSystem System { get; }
    /// <summary>True for rhombohedral axes (a = b = c, α = β = γ); the standard setting uses hexagonal axes.</summary>
    public bool RhombohedralAxes => Choice == "R";

    /// <summary>Wyckoff positions, general position first, then by decreasing multiplicity.</summary>
    public IReadOnlyList<WyckoffPosition> WyckoffPositions => _wyckoff.Value;

    /// <summary>The group of number 1-230 (cached).</summary>
    public static SpaceGroup Get(int number)
    {
        if (number < 1 || number > 230) throw new ArgumentOutOfRangeException(nameof(number), $"space-group numbers run from 1 to 230, not {number}");
        return Cache.GetOrAdd(number, n =>
        {
            int hall = StandardHall.Value[n];
            var (num, symbol, choice) = Spglib.SpacegroupType(hall);
            if (num != n) throw new InvalidOperationException($"spglib Hall setting {hall} is group {num}, expected {n}");
            return new SpaceGroup(n, hall, symbol, choice, Spglib.OperationsFromDatabase(hall));
        });
    }

    public static CrystalSystem SystemOf(int number) => number switch
    {
        <= 2 => CrystalSystem.Triclinic,
        <= 15 => CrystalSystem.Monoclinic,
        <= 74 => CrystalSystem.Orthorhombic,
        <= 142 => CrystalSystem.Tetragonal,
        <= 167 => CrystalSystem.Trigonal,
        <= 194 => CrystalSystem.Hexagonal,
        _ => CrystalSystem.Cubic,
    };

    /// <summary>Number of lattice points in the conventional cell (1 for P, 2 for C/I, 3 for R in hexagonal axes, 4 for F).</summary>
    public int CentringCount
    {
        get
        {
            int n = 0;
            foreach (var op in Operations) if (op.IsIdentityRotation) n++;
            return n;
        }
    }

    public override string ToString() => $"{Symbol} (No. {Number})";

    private static int[] BuildHallTable()
    {
        var table = new int[231];
        for (int hall = 530; hall >= 1; hall--) table[Spglib.SpacegroupType(hall).Number] = hall; // keeps the lowest Hall number
        return table;
    }
}
