using System.Globalization;
using Mlip.Structures;

namespace Mlip.Tests.Support;

/// <summary>
/// LAMMPS's frozen force-style references (unittest/force-styles/tests/*.yaml in the LAMMPS source, copied by
/// scripts/build-lammps.sh): the 64-atom data.manybody structure and a yaml's init energy, virial and forces.
/// </summary>
public static class ManybodyReference
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Directory
    {
        get
        {
            var dir = Lammps.ReferenceDirectory is { } r ? Path.Combine(r, "force-styles") : null;
            Assert.True(dir is not null && File.Exists(Path.Combine(dir, "data.manybody")), Lammps.BuildHint);
            return dir!;
        }
    }

    public static string Potential(string name)
    {
        var path = Path.Combine(Lammps.ReferenceDirectory ?? "", "potentials", name);
        Assert.True(File.Exists(path), $"{path} missing. {Lammps.BuildHint}");
        return path;
    }

    /// <summary>data.manybody (orthogonal box, atomic style, 8 types) with every atom of element <paramref name="z"/>.</summary>
    public static Structure Structure(int z)
    {
        var lines = File.ReadAllLines(Path.Combine(Directory, "data.manybody"));
        double[] lo = new double[3], hi = new double[3];
        var pos = new List<Vec3>();
        bool atoms = false;
        foreach (var raw in lines)
        {
            var w = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (w.Length == 4 && w[2].EndsWith("lo") && w[3].EndsWith("hi"))
            {
                int d = w[2][0] - 'x';
                lo[d] = double.Parse(w[0], Inv); hi[d] = double.Parse(w[1], Inv);
                continue;
            }
            if (raw.StartsWith("Atoms")) { atoms = true; continue; }
            if (atoms && w.Length > 0 && char.IsLetter(w[0][0])) break;
            if (atoms && w.Length >= 5) pos.Add(new Vec3(double.Parse(w[2], Inv) - lo[0], double.Parse(w[3], Inv) - lo[1], double.Parse(w[4], Inv) - lo[2]));
        }
        var cell = Matrix3.Diagonal(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
        return new Structure(cell, [.. pos], [.. Enumerable.Repeat(z, pos.Count)], PeriodicFlags.All);
    }

    /// <summary>init_vdwl, init_stress (the pair virial W in eV: xx yy zz xy xz yz) and init_forces of a yaml.</summary>
    public static (double Energy, double[] Virial, Vec3[] Forces) Read(string yamlName)
    {
        var yaml = File.ReadAllLines(Path.Combine(Directory, yamlName));
        double energy = double.Parse(yaml.First(l => l.StartsWith("init_vdwl:")).Split(':')[1], Inv);
        int si = Array.FindIndex(yaml, l => l.StartsWith("init_stress:"));
        var virial = yaml[si + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => double.Parse(v, Inv)).ToArray();
        int natoms = int.Parse(yaml.First(l => l.StartsWith("natoms:")).Split(':')[1], Inv);
        int fi = Array.FindIndex(yaml, l => l.StartsWith("init_forces:"));
        var forces = new Vec3[natoms];
        for (int i = 0; i < natoms; i++)
        {
            var w = yaml[fi + 1 + i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            forces[int.Parse(w[0], Inv) - 1] = new Vec3(double.Parse(w[1], Inv), double.Parse(w[2], Inv), double.Parse(w[3], Inv));
        }
        return (energy, virial, forces);
    }
}
