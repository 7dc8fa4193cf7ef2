namespace Mlip.Tests;

/// <summary>Where test inputs live: small project-made fixtures in Data/, real data sets in ../shared/data.</summary>
public static class TestPaths
{
    /// <summary>A fixture copied next to the test assembly (tests/Mlip.Tests/Data/NAME).</summary>
    public static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "Data", name);

    /// <summary>The repository root (the folder holding Mlip.slnx).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlip.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    /// <summary>../shared/data beside the checkout (real DFT data sets).</summary>
    public static string Shared(params string[] parts) =>
        Path.Combine([Path.GetDirectoryName(RepoRoot)!, "shared", "data", .. parts]);

    /// <summary>A fresh temporary directory for one test.</summary>
    public static string TempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "mlip-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
