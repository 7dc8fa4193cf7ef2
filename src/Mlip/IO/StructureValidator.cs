using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>What <see cref="StructureValidator"/> checks.</summary>
public sealed record ValidationOptions
{
    /// <summary>Atoms closer than this (Å) are reported as overlapping; 0 switches the check off.</summary>
    public double MinDistance { get; init; } = 0.5;

    public bool RequireEnergy { get; init; }
    public bool RequireForces { get; init; }
    public bool RequireStress { get; init; }

    /// <summary>Per-atom arrays that every structure must carry.</summary>
    public IReadOnlyList<string> RequiredAtomArrays { get; init; } = [];

    /// <summary>Finite values, consistent shapes, no overlapping atoms; labels optional.</summary>
    public static ValidationOptions Default { get; } = new();

    /// <summary>Only the checks that cost nothing (no overlap search).</summary>
    public static ValidationOptions Minimal { get; } = new() { MinDistance = 0 };

    /// <summary>For fitting: energy and forces required.</summary>
    public static ValidationOptions Training { get; } = new() { RequireEnergy = true, RequireForces = true };
}

/// <summary>
/// Checks a structure before anything computes with it and throws a typed
/// <see cref="MlipInputException"/> naming the file and structure when something is wrong.
/// </summary>
public static class StructureValidator
{
    public static void ValidateAll(IReadOnlyList<Structure> structures, ValidationOptions options)
    {
        for (int i = 0; i < structures.Count; i++) Validate(structures[i], options, i);
    }

    public static void Validate(Structure s, ValidationOptions options, int index = -1)
    {
        var where = s.Source ?? (index >= 0 ? new InputLocation(StructureIndex: index) : InputLocation.Unknown);

        if (s.Count == 0) throw new MlipInputException(where, "the structure has no atoms");
        if (!s.Cell.IsFinite) throw new NonFiniteValueException(where, "the cell");
        for (int i = 0; i < s.Count; i++)
            if (!s.Positions[i].IsFinite) throw new NonFiniteValueException(where.WithAtom(i), "the position");

        CheckCell(s, where);

        if (s.Energy is double e && !double.IsFinite(e)) throw new NonFiniteValueException(where, "the energy");
        if (s.Forces is { } f)
        {
            if (f.Length != s.Count) throw new LabelShapeException(where, "forces", s.Count, f.Length);
            for (int i = 0; i < f.Length; i++)
            {
                if (!f[i].IsFinite) throw new NonFiniteValueException(where.WithAtom(i), "the force");
                if (!double.IsFinite(f[i].NormSquared))
                    throw new MlipInputException(where.WithAtom(i), Invariant(
                        $"the force ({f[i].X:G4}, {f[i].Y:G4}, {f[i].Z:G4}) eV/Å is too large: its norm squared overflows (not a finite number)"));
            }
        }
        if (s.Stress is { } st)
        {
            if (!st.IsFinite) throw new NonFiniteValueException(where, "the stress");
            if (!double.IsFinite(st.Pressure))
                throw new MlipInputException(where, "the stress is too large: its pressure overflows (not a finite number)");
        }
        if (!double.IsFinite(s.Weight) || s.Weight < 0)
            throw new MlipInputException(where, $"weight {s.Weight} must be a finite number >= 0");

        foreach (var (name, arr) in s.AtomArrays)
        {
            if (arr.Atoms != s.Count || arr.Values.Length != s.Count * arr.Components)
                throw new LabelShapeException(where, name, s.Count, arr.Values.Length / arr.Components);
            foreach (double v in arr.Values)
                if (!double.IsFinite(v)) throw new NonFiniteValueException(where, $"per-atom array '{name}'");
        }

        if (options.RequireEnergy && s.Energy is null) throw new MissingLabelException(where, "energy");
        if (options.RequireForces && s.Forces is null) throw new MissingLabelException(where, "forces");
        if (options.RequireStress && s.Stress is null) throw new MissingLabelException(where, "stress");
        foreach (var name in options.RequiredAtomArrays)
            if (!s.AtomArrays.ContainsKey(name)) throw new MissingLabelException(where, name);

        if (options.MinDistance > 0) CheckOverlaps(s, options.MinDistance, where);
    }

    private static void CheckCell(Structure s, InputLocation where)
    {
        if (!s.Pbc.Any) return;
        double vol = s.Volume;
        var a = s.Cell.Row(0); var b = s.Cell.Row(1); var c = s.Cell.Row(2);
        double scale = Math.Max(a.Norm, Math.Max(b.Norm, c.Norm));
        if (vol <= 1e-12 * scale * scale * scale || scale == 0)
            throw new InvalidCellException(where, $"periodic structure ({s.Pbc}) has a cell of zero volume");
        if (!double.IsFinite(vol))
            throw new InvalidCellException(where, Invariant($"periodic structure ({s.Pbc}) has a cell too large for its volume to be a finite number (longest vector {scale:G3} Å)"));

        // Periodic images are counted in integers: a position millions of cell vectors away (wrong
        // units, or a cell far too small) is refused here, before any neighbour search sizes arrays from it.
        var inv = CellGeometry.BinningCell(s.Cell, s.Pbc, where).Inverse();
        for (int i = 0; i < s.Count; i++)
        {
            var f = s.Positions[i] * inv;
            for (int k = 0; k < 3; k++)
            {
                if (!s.Pbc[k]) continue;
                if (!double.IsFinite(f[k]))
                    throw new InvalidCellException(where.WithAtom(i), "the fractional coordinates of the atom are not finite numbers: the cell is degenerate or far too small");
                if (Math.Abs(f[k]) > CellGrid.MaxWrap)
                    throw new MlipInputException(where.WithAtom(i), Invariant(
                        $"the atom lies {f[k]:G3} cell vectors along {"abc"[k]} from the cell (more than {CellGrid.MaxWrap:G3}): a position far outside the periodic cell, or a cell far too small for the positions (check the units)"));
            }
        }
    }

    private static string Invariant(FormattableString s) => FormattableString.Invariant(s);

    private static void CheckOverlaps(Structure s, double minDistance, InputLocation where)
    {
        if (s.Count < 2 && !s.Pbc.Any) return;
        var nl = NeighborList.Build(s, minDistance);
        var neighbors = nl.Neighbors;
        var distances = nl.Distances;
        for (int i = 0; i < s.Count; i++)
            foreach (int p in nl.PairRange(i))
            {
                // each pair is listed from both ends: report it once; j == i is an atom meeting its
                // own periodic image, i.e. a cell shorter than the threshold
                int j = neighbors[p];
                if (j >= i) throw new OverlappingAtomsException(where, i, j, distances[p], minDistance);
            }
    }
}
