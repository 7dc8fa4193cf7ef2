using System.Text.Json.Nodes;

namespace Mlip.Tests.Cli;

public class NebCliTests
{
    [Fact]
    public void NebVerbWritesThePathThePlotAndJson()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mlip-neb-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            const string head = "2\nLattice=\"10 0 0 0 10 0 0 0 10\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n";
            File.WriteAllText(Path.Combine(dir, "a.xyz"), head + "Ar 0.2 5 5\nAr 3.9 5 5\n");
            File.WriteAllText(Path.Combine(dir, "b.xyz"), head + "Ar 9.8 5 5\nAr 3.9 5 5\n");
            var stdout = new StringWriter(); var stderr = new StringWriter();
            int rc = Mlip.Cli.Program.Run(["neb", Path.Combine(dir, "a.xyz"), Path.Combine(dir, "b.xyz"), "--potential", "lj:0.0104,3.4,4.9",
                "--images", "3", "--climb", "--plot", Path.Combine(dir, "neb.png"), "-o", Path.Combine(dir, "path.xyz"), "--json"], stdout, stderr);
            Assert.True(rc == 0, stderr.ToString());
            var json = JsonNode.Parse(stdout.ToString())!;
            Assert.Equal(5, json["energies_ev"]!.AsArray().Count);
            Assert.Equal(0.4, (double)json["reaction_coordinate_a"]!.AsArray()[4]!, 1e-9); // minimum image: 0.2 -> -0.2
            Assert.True(File.Exists(Path.Combine(dir, "neb.png")));
            Assert.Equal(5, Mlip.IO.StructureIO.Read(Path.Combine(dir, "path.xyz")).Count);
            int bad = Mlip.Cli.Program.Run(["neb", Path.Combine(dir, "a.xyz"), Path.Combine(dir, "b.xyz"), "--potential", "lj:0.0104,3.4,4.9", "--interpolation", "spline"], new StringWriter(), stderr);
            Assert.NotEqual(0, bad);
        }
        finally { Directory.Delete(dir, true); }
    }
}
