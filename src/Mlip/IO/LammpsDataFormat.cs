using System.Globalization;
using System.Text;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// LAMMPS data file, atomic style, always triclinic-ready (write only). Atom types follow
/// <see cref="SpeciesOrder"/> if given, otherwise increasing atomic number; the header comment and the
/// Masses section name the element of each type, so <c>pair_coeff * * file.snapcoeff Si O</c> can be
/// written from it. Coordinates are rotated into LAMMPS's lower-triangular frame (see
/// <see cref="LammpsBox"/>), wrapped into the box, and image flags keep the unwrapped positions.
/// </summary>
public sealed class LammpsDataFormat : TextStructureFormat
{
    public override string Name => "lammps-data";
    public override string Description => "LAMMPS data file (atomic style, triclinic), write only";
    public override bool CanRead => false;

    public override bool MatchesFileName(string fileName) =>
        fileName.EndsWith(".data", StringComparison.OrdinalIgnoreCase) ||
        fileName.EndsWith(".lmp", StringComparison.OrdinalIgnoreCase) ||
        fileName.StartsWith("data.", StringComparison.OrdinalIgnoreCase);

    /// <summary>Element symbols in type order (type 1 first); null for increasing atomic number.</summary>
    public IReadOnlyList<string>? SpeciesOrder { get; init; }

    public override IReadOnlyList<Structure> Read(TextReader reader, string sourceName) =>
        throw new NotSupportedException("LAMMPS data files are written, not read");

    /// <summary>Element symbol of each LAMMPS type for this structure.</summary>
    public IReadOnlyList<int> TypeOrder(Structure s)
    {
        if (SpeciesOrder is null) return s.DistinctAtomicNumbers();
        var order = new List<int>();
        foreach (var sym in SpeciesOrder) order.Add(Elements.Number(sym));
        foreach (int z in s.DistinctAtomicNumbers())
            if (!order.Contains(z))
                throw new MlipInputException(s.Source ?? InputLocation.Unknown, $"element {Elements.Symbol(z)} is not in the species order {string.Join(' ', SpeciesOrder)}");
        return order;
    }

    public override void Write(TextWriter w, IReadOnlyList<Structure> structures)
    {
        if (structures.Count != 1)
            throw new MlipException($"a LAMMPS data file holds one structure; {structures.Count} were given (write them one by one)");
        var s = structures[0];
        var types = TypeOrder(s);
        var box = LammpsBox.For(s);
        var inv = box.Cell.Inverse();
        var ci = CultureInfo.InvariantCulture;

        var sb = new StringBuilder();
        sb.Append("# ").Append(s.Formula()).Append(" written by Mlip; types:");
        foreach (int z in types) sb.Append(' ').Append(Elements.Symbol(z));
        sb.Append("\n\n");
        sb.Append(s.Count.ToString(ci)).Append(" atoms\n");
        sb.Append(types.Count.ToString(ci)).Append(" atom types\n\n");
        var o = box.Origin;
        sb.Append(F(o.X)).Append(' ').Append(F(o.X + box.Lx)).Append(" xlo xhi\n");
        sb.Append(F(o.Y)).Append(' ').Append(F(o.Y + box.Ly)).Append(" ylo yhi\n");
        sb.Append(F(o.Z)).Append(' ').Append(F(o.Z + box.Lz)).Append(" zlo zhi\n");
        sb.Append(F(box.Xy)).Append(' ').Append(F(box.Xz)).Append(' ').Append(F(box.Yz)).Append(" xy xz yz\n\n");
        sb.Append("Masses\n\n");
        for (int t = 0; t < types.Count; t++)
            sb.Append((t + 1).ToString(ci)).Append(' ').Append(F(Elements.Mass(types[t]))).Append(" # ").Append(Elements.Symbol(types[t])).Append('\n');
        sb.Append("\nAtoms # atomic\n\n");
        w.Write(sb.ToString());

        for (int i = 0; i < s.Count; i++)
        {
            var r = box.ToLammps(s.Positions[i]) - o;
            var f = r * inv;
            int ix = 0, iy = 0, iz = 0;
            if (s.Pbc.A) { ix = (int)Math.Floor(f.X); }
            if (s.Pbc.B) { iy = (int)Math.Floor(f.Y); }
            if (s.Pbc.C) { iz = (int)Math.Floor(f.Z); }
            var wrapped = new Vec3(f.X - ix, f.Y - iy, f.Z - iz) * box.Cell + o;
            int type = types is List<int> list ? list.IndexOf(s.AtomicNumbers[i]) + 1 : IndexOf(types, s.AtomicNumbers[i]) + 1;
            sb.Clear();
            sb.Append((i + 1).ToString(ci)).Append(' ').Append(type.ToString(ci)).Append(' ')
              .Append(F(wrapped.X)).Append(' ').Append(F(wrapped.Y)).Append(' ').Append(F(wrapped.Z)).Append(' ')
              .Append(ix.ToString(ci)).Append(' ').Append(iy.ToString(ci)).Append(' ').Append(iz.ToString(ci)).Append('\n');
            w.Write(sb.ToString());
        }
    }

    private static int IndexOf(IReadOnlyList<int> list, int z)
    {
        for (int k = 0; k < list.Count; k++) if (list[k] == z) return k;
        return -1;
    }

    private static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
