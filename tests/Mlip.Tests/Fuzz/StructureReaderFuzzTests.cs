using Xunit.Abstractions;

namespace Mlip.Tests.Fuzz;

/// <summary>
/// Seeded mutants of real files through every structure reader and what a command does next: only
/// typed <see cref="Mlip.Validation.MlipException"/>s or sane results, no other exception, no hang.
/// The same 300 mutants per format every run; a failure names the case id and seed
/// (<see cref="Mutator.Mutant(string, int, int, bool)"/> rebuilds the text).
/// </summary>
public class StructureReaderFuzzTests(ITestOutputHelper output)
{
    public const int Count = 300;
    public const int Seed = 22;
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Formats() => ["extxyz", "poscar", "outcar", "ase-json", "ase-db", "mlearn"];

    [Theory]
    [MemberData(nameof(Formats))]
    public void MutantsGiveTypedErrorsOrSaneResults(string format)
    {
        var target = StructureFuzzTargets.All(TestPaths.Data(""), TestPaths.Shared("mlearn", "Si", "test.json")).Single(t => t.Format == format);
        var report = target.Run(Count, Seed, HangGuard);
        output.WriteLine(report.ToString());
        Assert.Equal(Count, report.Cases);
        Assert.True(report.Untyped == 0 && report.Hangs == 0, report.ToString());
        // the mutants reach past the first line: some are accepted and some refused
        Assert.True(report.TypedErrors > 0, report.ToString());
    }

    [Fact]
    public void MutantsAreDeterministic()
    {
        string text = "3\nPbc=\"T T T\" Lattice=\"5 0 0 0 5 0 0 0 5\"\nSi 0 0 0\nSi 1.3 1.3 1.3\nSi 2.6 2.6 0\n";
        var a = Mutator.Mutants(text, 50, 7, json: false).ToList();
        var b = Mutator.Mutants(text, 50, 7, json: false).ToList();
        Assert.Equal(a, b);
        Assert.Contains(a, m => m.text != text);
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        Assert.Equal(Mutator.Mutants(bytes, 20, 3).Select(m => Convert.ToBase64String(m.data)),
                     Mutator.Mutants(bytes, 20, 3).Select(m => Convert.ToBase64String(m.data)));
    }
}
