using System.Diagnostics;
using System.Text;
using Mlip.Validation;

namespace Mlip.Tests.Fuzz;

/// <summary>How one fuzz case ended.</summary>
public enum FuzzOutcome { Accepted, TypedError, Untyped, Hang }

/// <summary>A case that ended in an untyped exception or a hang: enough to reproduce it.</summary>
public sealed record FuzzFailure(string Format, int Id, int Seed, FuzzOutcome Outcome, string ExceptionType, string Message, string StackTop)
{
    public override string ToString() =>
        $"{Format} case {Id} (seed {Seed}): {Outcome} {ExceptionType}: {Message} @ {StackTop}";
}

/// <summary>Counts per outcome for one format.</summary>
public sealed class FuzzReport(string format, int seed)
{
    public string Format { get; } = format;
    public int Seed { get; } = seed;
    public int Cases { get; internal set; }
    public int Accepted { get; internal set; }
    public int TypedErrors { get; internal set; }
    public int Untyped { get; internal set; }
    public int Hangs { get; internal set; }

    /// <summary>The largest number of bytes one case allocated on its thread.</summary>
    public long MaxAllocatedBytes { get; internal set; }

    /// <summary>The slowest case (wall clock).</summary>
    public TimeSpan MaxCaseTime { get; internal set; }

    /// <summary>Typed errors by exception type name.</summary>
    public SortedDictionary<string, int> TypedByType { get; } = new(StringComparer.Ordinal);

    /// <summary>Untyped exceptions and hangs, each with its case id and seed.</summary>
    public List<FuzzFailure> Failures { get; } = [];

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"{Format,-10} mutants {Cases,6}  accepted {Accepted,6}  typed errors {TypedErrors,6}  untyped {Untyped}  hangs {Hangs}");
        sb.Append($"  max alloc {MaxAllocatedBytes / (1024.0 * 1024.0):F1} MiB  slowest {MaxCaseTime.TotalMilliseconds:F0} ms");
        if (TypedByType.Count > 0) sb.Append("  [" + string.Join(", ", TypedByType.Select(kv => $"{kv.Key} {kv.Value}")) + "]");
        foreach (var f in Failures.Take(20)) sb.Append('\n').Append("  ").Append(f);
        if (Failures.Count > 20) sb.Append($"\n  ... {Failures.Count - 20} more");
        return sb.ToString();
    }
}

/// <summary>
/// Runs fuzz cases: writes each mutant to a file named <c>fileName</c> in a fresh temporary folder and
/// calls <c>readAndUse(path)</c> on its own thread. A case is accepted when it returns, a typed error
/// when it throws an <see cref="MlipException"/>, untyped for any other exception (a bug), and a hang
/// when it has not finished within <c>hangGuard</c> (then the run stops, the thread is left behind).
/// A case that allocates more than <see cref="MaxBytesPerCase"/> on its thread counts as untyped.
/// </summary>
public static class FuzzRunner
{
    /// <summary>Allocation bound per case (bytes allocated on the case's thread).</summary>
    public static long MaxBytesPerCase { get; set; } = 1L << 30;

    /// <summary>Stack size of the case threads (deep recursion would otherwise take the process down).</summary>
    public const int StackBytes = 16 << 20;

    public static FuzzReport Run(string format, string fileName, IEnumerable<(int id, string text)> cases,
        Action<string> readAndUse, TimeSpan hangGuard, int seed = 0) =>
        RunCore(format, fileName, cases.Select(c => (c.id, (Action<string>)(p => File.WriteAllText(p, c.text)))), readAndUse, hangGuard, seed);

    public static FuzzReport Run(string format, string fileName, IEnumerable<(int id, byte[] data)> cases,
        Action<string> readAndUse, TimeSpan hangGuard, int seed = 0) =>
        RunCore(format, fileName, cases.Select(c => (c.id, (Action<string>)(p => File.WriteAllBytes(p, c.data)))), readAndUse, hangGuard, seed);

    private static FuzzReport RunCore(string format, string fileName, IEnumerable<(int id, Action<string> write)> cases,
        Action<string> readAndUse, TimeSpan hangGuard, int seed)
    {
        var report = new FuzzReport(format, seed);
        string root = Path.Combine(Path.GetTempPath(), "mlip-fuzz", $"{format}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            foreach (var (id, write) in cases)
            {
                string dir = Path.Combine(root, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Directory.CreateDirectory(dir);
                string path = Path.Combine(dir, fileName);
                write(path);
                report.Cases++;
                var (outcome, error, allocated, time) = RunOne(path, readAndUse, hangGuard);
                report.MaxAllocatedBytes = Math.Max(report.MaxAllocatedBytes, allocated);
                if (time > report.MaxCaseTime) report.MaxCaseTime = time;
                if (outcome == FuzzOutcome.Accepted && allocated > MaxBytesPerCase)
                {
                    outcome = FuzzOutcome.Untyped;
                    error = new InsufficientMemoryException($"case allocated {allocated} bytes (bound {MaxBytesPerCase})");
                }
                switch (outcome)
                {
                    case FuzzOutcome.Accepted: report.Accepted++; break;
                    case FuzzOutcome.TypedError:
                        report.TypedErrors++;
                        string name = error!.GetType().Name;
                        report.TypedByType[name] = report.TypedByType.GetValueOrDefault(name) + 1;
                        break;
                    case FuzzOutcome.Untyped:
                        report.Untyped++;
                        report.Failures.Add(new FuzzFailure(format, id, seed, outcome, error!.GetType().FullName!, error.Message, StackTop(error)));
                        break;
                    case FuzzOutcome.Hang:
                        report.Hangs++;
                        report.Failures.Add(new FuzzFailure(format, id, seed, outcome, "", $"no result after {hangGuard.TotalSeconds:F0} s", ""));
                        return report; // the thread is still running; do not pile up more
                }
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return report;
    }

    /// <summary>Runs one case on its own thread with the hang guard.</summary>
    public static (FuzzOutcome outcome, Exception? error, long allocatedBytes, TimeSpan time) RunOne(string path, Action<string> readAndUse, TimeSpan hangGuard)
    {
        Exception? error = null;
        long allocated = 0;
        var sw = Stopwatch.StartNew();
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { readAndUse(path); }
            catch (Exception e) { error = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, StackBytes) { IsBackground = true, Name = "fuzz case" };
        thread.Start();
        if (!thread.Join(hangGuard)) return (FuzzOutcome.Hang, null, 0, sw.Elapsed);
        var time = sw.Elapsed;
        if (error is null) return (FuzzOutcome.Accepted, null, allocated, time);
        return (error is MlipException ? FuzzOutcome.TypedError : FuzzOutcome.Untyped, error, allocated, time);
    }

    private static string StackTop(Exception e)
    {
        var lines = (e.StackTrace ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" <- ", lines.Take(4));
    }
}
