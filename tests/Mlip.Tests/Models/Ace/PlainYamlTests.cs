using System.Text;
using Mlip.Models.Ace;
using Mlip.Validation;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// The plain-YAML reader of .yace files (<see cref="PlainYaml"/>): where it reads a text, the tree (values, kinds, order and
/// lines) is the one YamlDotNet builds; where the text leaves the subset it gives up and YamlDotNet reads it, so a model
/// loads the same either way. Checked on the files Mlip writes, on hand-written subset and non-subset texts, and on seeded
/// mutants of a .yace (a differential fuzz: every mutant the reader accepts, YamlDotNet must accept with the same tree).
/// </summary>
public class PlainYamlTests
{
    private static string Dump(YaceNode n) => n switch
    {
        YaceScalar s => $"S{s.Line}({s.Value})",
        YaceSequence q => $"Q{q.Line}[{string.Join(",", q.Items.Select(Dump))}]",
        YaceMapping m => $"M{m.Line}{{{string.Join(",", m.Entries.Select(e => Dump(e.Key) + "=" + Dump(e.Value)))}}}",
        _ => throw new InvalidOperationException(),
    };

    private static string? YamlDotNetDump(string text)
    {
        var yaml = new YamlStream();
        try { yaml.Load(new StringReader(text)); }
        catch (Exception) { return null; }
        return yaml.Documents.Count == 0 ? null : Dump(YaceNode.FromYamlDotNet(yaml.Documents[0].RootNode));
    }

    [Fact]
    public void AWrittenYaceIsReadByThePlainReaderWithYamlDotNetsTree()
    {
        string text = YaceFile.Format(Mlip.Tests.Fuzz.ModelFuzzTargets.SmallAce());
        var tree = PlainYaml.TryRead(text);
        Assert.NotNull(tree);
        Assert.Equal(YamlDotNetDump(text), Dump(tree));
        Assert.Equal(text, YaceFile.Format(YaceFile.Parse(text)));
    }

    [Theory]
    [InlineData("a: 1\nb: [1, 2, [3, 4]]\nc: {x: 1, y: [2]}\n")]
    [InlineData("a:\n  b: 1\n  c:\n    - {k: 1}\n    - [1, 2]\n    - 3\nd: x y\n")]
    [InlineData("a:\n- 1\n- 2\nb: []\nc: {}\n")]
    [InlineData("[0, 1]: {n: 2}\n[1, 0]: {n: 3}\n")]
    [InlineData("elements: [Si]\nE0: [-1.5E-06]\n\n\nfunctions:\n  0:\n    - {mu0: 0, ctildes: [1, -2.5]}\n")]
    public void SubsetTextsGiveYamlDotNetsTree(string text)
    {
        var tree = PlainYaml.TryRead(text);
        Assert.NotNull(tree);
        Assert.Equal(YamlDotNetDump(text), Dump(tree));
    }

    [Theory]
    [InlineData("a: 1 # comment\n")]
    [InlineData("a: '1'\n")]
    [InlineData("a: \"x\"\n")]
    [InlineData("a: &x 1\nb: *x\n")]
    [InlineData("a: !!str 1\n")]
    [InlineData("a: |\n  text\n")]
    [InlineData("---\na: 1\n")]
    [InlineData("a: [1,\n  2]\n")]
    [InlineData("a: 1\na: 2\n")]
    [InlineData("a: {x: 1, x: 2}\n")]
    [InlineData("a:\n\tb: 1\n")]
    [InlineData("a: 1\r\nb: 2\r\n")]
    [InlineData("a: 1\n  b: 2\n")]
    [InlineData("a:\n  - b: 1\n")]
    [InlineData("a: [1, 2\n")]
    [InlineData("a: [- 1]\n")]
    [InlineData("a: b: c\n")]
    [InlineData("? a\n: 1\n")]
    [InlineData("a:\n")]
    [InlineData("")]
    public void TextsOutsideTheSubsetAreLeftToYamlDotNet(string text) => Assert.Null(PlainYaml.TryRead(text));

    [Fact]
    public void AYaceOutsideTheSubsetLoadsTheSameThroughYamlDotNet()
    {
        string text = YaceFile.Format(Mlip.Tests.Fuzz.ModelFuzzTargets.SmallAce());
        string commented = "# written by a test\n" + text.Replace("\nbonds:\n", "\nbonds: # the pairs\n");
        Assert.Null(PlainYaml.TryRead(commented));
        Assert.Equal(text, YaceFile.Format(YaceFile.Parse(commented)));
    }

    [Fact]
    public void ErrorsNameTheSameLineOnEitherPath()
    {
        string text = YaceFile.Format(Mlip.Tests.Fuzz.ModelFuzzTargets.SmallAce());
        string bad = text.Replace("rcut: 4", "rcut: four");
        Assert.NotEqual(text, bad);
        var plain = Assert.Throws<FileFormatException>(() => YaceFile.Parse(bad, "m.yace"));
        var viaYamlDotNet = Assert.Throws<FileFormatException>(() => YaceFile.Parse("# c\n" + bad, "m.yace"));
        int line = bad[..bad.IndexOf("four", StringComparison.Ordinal)].Count(c => c == '\n') + 1;
        Assert.Contains($"m.yace:{line}", plain.Message);
        Assert.Contains($"m.yace:{line + 1}", viaYamlDotNet.Message);
    }

    [Fact]
    public void EveryMutantThePlainReaderAcceptsYamlDotNetReadsAlike()
    {
        string text = YaceFile.Format(Mlip.Tests.Fuzz.ModelFuzzTargets.SmallAce());
        const string alphabet = ",[]{}: -\n0a.#'\"&*!|>\t";
        var rng = new Random(7171);
        int accepted = 0;
        for (int c = 0; c < 2000; c++)
        {
            var sb = new StringBuilder(text);
            for (int e = 0, edits = 1 + rng.Next(3); e < edits; e++)
            {
                int at = rng.Next(sb.Length);
                switch (rng.Next(3))
                {
                    case 0: sb.Remove(at, 1); break;
                    case 1: sb.Insert(at, alphabet[rng.Next(alphabet.Length)]); break;
                    default: sb[at] = alphabet[rng.Next(alphabet.Length)]; break;
                }
            }
            string mutant = sb.ToString();
            var tree = PlainYaml.TryRead(mutant);
            if (tree is null) continue;
            accepted++;
            Assert.True(YamlDotNetDump(mutant) == Dump(tree), $"mutant {c} (seed 7171): the plain reader's tree differs from YamlDotNet's");
        }
        Assert.True(accepted > 200, $"only {accepted} of 2000 mutants stayed in the subset: the differential check saw too few");
    }
}
