using System.Runtime.InteropServices;

namespace Mlip.Validation;

/// <summary>
/// CPU clocks of Linux (clock_gettime): the calling thread's and the whole process's CPU time in nanoseconds, which a
/// loaded machine does not inflate as it does wall time. 0 where the call is not available.
/// </summary>
public static partial class CpuClock
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    private const int ProcessClock = 2, ThreadClock = 3;
    private static readonly bool Available = OperatingSystem.IsLinux();

    /// <summary>CPU time of the whole process (all threads), ns.</summary>
    public static long Process() => Read(ProcessClock);

    /// <summary>CPU time of the calling thread, ns.</summary>
    public static long Thread() => Read(ThreadClock);

    private static long Read(int clock) => Available && ClockGetTime(clock, out var t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;
}
