using System.Runtime.InteropServices;

namespace Mlip.Bench;

/// <summary>
/// User + system CPU seconds of this process's waited-for child processes (getrusage RUSAGE_CHILDREN): the difference
/// around one child is that child's CPU time, which a loaded machine inflates far less than its wall time.
/// </summary>
internal static class ChildCpu
{
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss;
        public long Ixrss, Idrss, Isrss, Minflt, Majflt, Nswap, Inblock, Oublock, Msgsnd, Msgrcv, Nsignals, Nvcsw, Nivcsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);

    /// <summary>CPU seconds of every child waited for so far (0 where getrusage is not available).</summary>
    public static double Seconds() =>
        getrusage(-1, out var u) == 0 ? u.UtimeSec + u.UtimeUsec / 1e6 + u.StimeSec + u.StimeUsec / 1e6 : 0;
}
