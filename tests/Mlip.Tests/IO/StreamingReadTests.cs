using System.Text;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.IO;

/// <summary>
/// Large extended XYZ and ASE .db files are read structure by structure (<see cref="StructureIO.Enumerate"/>): the same
/// structures as the whole-file reader, and a step reads one structure, not the file.
/// </summary>
public class StreamingReadTests
{
    private static List<Structure> Frames(int count, int atoms)
    {
        var rng = new Random(5);
        var list = new List<Structure>();
        for (int f = 0; f < count; f++)
        {
            var pos = new Vec3[atoms];
            var forces = new Vec3[atoms];
            for (int i = 0; i < atoms; i++)
            {
                pos[i] = new Vec3(2.7 * (i % 4) + 0.1 * rng.NextDouble(), 2.7 * (i / 4 % 4) + 0.1 * rng.NextDouble(), 2.7 * (i / 16) + 0.1 * rng.NextDouble());
                forces[i] = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5);
            }
            var cell = Matrix3.Diagonal(10.8, 10.8, 2.7 * Math.Max(1, (atoms + 15) / 16));
            list.Add(new Structure(cell, pos, Enumerable.Repeat(14, atoms).ToArray(), PeriodicFlags.All) { Energy = -4.3 * atoms + rng.NextDouble(), Forces = forces, Group = f % 2 == 0 ? "a" : "b" });
        }
        return list;
    }

    [Theory]
    [InlineData("frames.xyz")]
    [InlineData("frames.db")]
    public void Enumerate_gives_the_structures_of_the_whole_file_reader(string name)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        StructureIO.Write(path, Frames(37, 8));
        var whole = StructureIO.Read(path);
        var streamed = StructureIO.Enumerate(path).ToList();
        Assert.Equal(whole.Count, streamed.Count);
        for (int s = 0; s < whole.Count; s++)
        {
            Assert.Equal(whole[s].Positions, streamed[s].Positions);
            Assert.Equal(whole[s].AtomicNumbers, streamed[s].AtomicNumbers);
            Assert.Equal(whole[s].Energy, streamed[s].Energy);
            Assert.Equal(whole[s].Forces, streamed[s].Forces);
            Assert.Equal(whole[s].Group, streamed[s].Group);
            Assert.Equal(whole[s].Cell, streamed[s].Cell);
        }
    }

    [Theory]
    [InlineData("big.xyz")]
    [InlineData("big.db")]
    public void A_step_reads_one_structure_not_the_file(string name)
    {
        // 4000 frames of 64 atoms (a few MB): the first three structures allocate a small fraction of the file's size
        string path = Path.Combine(TestPaths.TempDir(), name);
        StructureIO.Write(path, Frames(4000, 64));
        long fileBytes = new FileInfo(path).Length;
        Assert.True(fileBytes > 4_000_000, $"{fileBytes} bytes");
        StructureIO.Enumerate(path).Take(1).ToList(); // JIT, SQLite start-up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var first = StructureIO.Enumerate(path).Take(3).ToList();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(3, first.Count);
        Assert.True(allocated < fileBytes / 20, $"reading 3 of 4000 structures allocated {allocated} bytes; the file has {fileBytes}");
        // and the whole file streams through: count without keeping them
        Assert.Equal(4000, StructureIO.Enumerate(path).Count());
    }

    [Fact]
    public void The_structures_before_a_broken_frame_come_before_its_error()
    {
        string path = Path.Combine(TestPaths.TempDir(), "broken.xyz");
        StructureIO.Write(path, Frames(5, 4));
        File.AppendAllText(path, "4\nProperties=species:S:1:pos:R:3\nSi 0 0 0\nSi 1 1 oops\n", Encoding.UTF8);
        using var e = StructureIO.Enumerate(path).GetEnumerator();
        for (int s = 0; s < 5; s++) Assert.True(e.MoveNext());
        var error = Assert.Throws<FileFormatException>(() => e.MoveNext());
        Assert.Contains("broken.xyz", error.Message);
        Assert.Throws<FileFormatException>(() => StructureIO.Read(path)); // the whole-file reader refuses the same file
    }

    [Fact]
    public void An_empty_file_is_the_same_error_as_for_the_whole_file_reader()
    {
        string path = Path.Combine(TestPaths.TempDir(), "empty.xyz");
        File.WriteAllText(path, "\n");
        var whole = Assert.Throws<MlipInputException>(() => StructureIO.Read(path));
        var streamed = Assert.Throws<MlipInputException>(() => StructureIO.Enumerate(path).ToList());
        Assert.Equal(whole.Message, streamed.Message);
    }
}
