using System.Reflection;
using System.Runtime.InteropServices;
using Mlip.Validation;
using TorchSharp;

namespace Mlip.Training;

/// <summary>
/// Loads libtorch (TorchSharp, CPU) once per process with a clear error when it cannot, and sets the
/// number of threads libtorch uses.
/// </summary>
/// <remarks>
/// On Linux the native library libLibTorchSharp.so is loaded here before TorchSharp touches it, so that a
/// failure reports the loader's own reason (for example "version `GLIBCXX_3.4.32' not found") instead of
/// TorchSharp's "doesn't contain a reference to libtorch-cpu-linux-x64" and its fallback, which copies
/// 500 MB of binaries into the output folder and fails again. The GLIBCXX requirement is made weak at
/// build time by build/WeakenVerneed.targets (imported from Directory.Build.targets).
/// </remarks>
public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static bool _loaded;
    private static string? _failure;

    /// <summary>True when libtorch can be loaded (loads it on the first call).</summary>
    public static bool IsAvailable
    {
        get
        {
            try
            {
                EnsureLoaded();
                return true;
            }
            catch (TorchUnavailableException)
            {
                return false;
            }
        }
    }

    /// <summary>Loads libtorch, or throws <see cref="TorchUnavailableException"/> saying why not.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            if (_failure is not null) throw new TorchUnavailableException(_failure);
            try
            {
                PreloadNative();
                // The first use runs TorchSharp's static initialiser, which loads the native backend.
                using var probe = torch.ones(1, dtype: torch.ScalarType.Float64);
                if (probe.item<double>() != 1.0)
                    throw new TorchUnavailableException("libtorch loaded but computed a wrong value");
                _loaded = true;
            }
            catch (TorchUnavailableException e)
            {
                _failure = e.Message;
                throw;
            }
            catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or EntryPointNotFoundException)
            {
                Exception inner = e is TypeInitializationException { InnerException: { } i } ? i : e;
                string first = inner.Message.Split('\n', 2)[0].Trim();
                _failure = $"libtorch (TorchSharp) could not be loaded: {first}";
                throw new TorchUnavailableException(_failure, e);
            }
        }
    }

    /// <summary>
    /// Makes libtorch use <paramref name="threads"/> threads (≤ 0: all cores) for the operations that the
    /// calling thread starts. libtorch keeps this setting per OS thread (OpenMP), so solvers call it on the
    /// thread that runs the work, just before it.
    /// </summary>
    public static void SetThreads(int threads)
    {
        EnsureLoaded();
        int want = LeastSquaresCore.ResolveThreads(threads);
        if (torch.get_num_threads() != want)
            torch.set_num_threads(want);
    }

    /// <summary>The number of threads libtorch uses for work started on the calling thread.</summary>
    public static int Threads
    {
        get
        {
            EnsureLoaded();
            return torch.get_num_threads();
        }
    }

    private static void PreloadNative()
    {
        if (!OperatingSystem.IsLinux()) return;
        PassiveOpenMpWaits();
        string? path = FindNative();
        if (path is null) return; // not where NuGet puts it: let TorchSharp search
        try
        {
            NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            // .NET's message is advice, then the loader's own reason (dlerror) on its last line: keep that one.
            string reason = e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
            string hint = reason.Contains("GLIBCXX_", StringComparison.Ordinal)
                ? " The system libstdc++ is older than the one TorchSharp was built with; the build marks that requirement weak"
                  + " (build/WeakenVerneed.targets, imported by Directory.Build.targets): rebuild through the repository's projects,"
                  + " or do not pass -p:MlipWeakenVerneed=false."
                : "";
            throw new TorchUnavailableException($"libtorch (TorchSharp) could not be loaded: {reason}.{hint}", e);
        }
    }

    /// <summary>
    /// Sets OMP_WAIT_POLICY=PASSIVE in the native environment (unless the user set it) before libtorch's
    /// OpenMP runtime (libgomp) reads it. With the default policy, idle OpenMP threads spin and compete with
    /// .NET's own threads: on a 2-vCPU machine, a 40000 × 500 QR took 9.7 s on 2 libtorch threads instead of
    /// 1.0 s on one, and an M × M Cholesky 40 ms instead of 2 ms; with passive waits 2 threads take 1.3 s.
    /// (.NET's Environment.SetEnvironmentVariable does not reach the native environment, hence setenv.)
    /// </summary>
    private static void PassiveOpenMpWaits()
    {
        try
        {
            setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // not glibc: leave the policy to the user
        }
    }

    /// <summary>
    /// Makes glibc's malloc keep freed memory for reuse (no mmap for large blocks, no trimming of the heap), for trainers
    /// that allocate and free the same large tensors at every loss evaluation. By default glibc serves blocks above its
    /// mmap threshold (at most 32 MB) with fresh mmap'd pages that are returned at free, so every evaluation faults its
    /// pages in again: in the PINN's full-batch training on mlearn Si about 40 % of the process CPU time was system time
    /// (page faults). The process keeps its peak memory instead. No effect off glibc; applies to the whole process.
    /// </summary>
    public static void ReuseFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            const int TrimThreshold = -1, MmapMax = -4;
            mallopt(MmapMax, 0);
            mallopt(TrimThreshold, int.MaxValue);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // not glibc: its allocator keeps its own policy
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int setenv(string name, string value, int overwrite);

    /// <summary>The folder of libtorch's native libraries where NuGet put them (null when not found there).</summary>
    internal static string? NativeFolder => FindNative() is { } path ? Path.GetDirectoryName(path) : null;

    private static string? FindNative()
    {
        string rid = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "linux-x64",
            Architecture.Arm64 => "linux-arm64",
            _ => "",
        };
        var folders = new List<string> { AppContext.BaseDirectory };
        string? assemblyFolder = Path.GetDirectoryName(typeof(torch).GetTypeInfo().Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyFolder)) folders.Add(assemblyFolder);
        foreach (string folder in folders)
        {
            foreach (string candidate in new[]
            {
                Path.Combine(folder, "runtimes", rid, "native", "libLibTorchSharp.so"),
                Path.Combine(folder, "libLibTorchSharp.so"),
            })
            {
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}

/// <summary>libtorch could not be loaded (missing native files, an incompatible system library ...).</summary>
public sealed class TorchUnavailableException(string message, Exception? inner = null) : MlipException(message, inner)
{
}
