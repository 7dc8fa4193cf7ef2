using System.Runtime.InteropServices;

namespace Mlip.Training;

/// <summary>
/// LAPACK routines that libtorch_cpu.so exports (its MKL), called directly on caller-owned memory: no tensor is made, so
/// a factorisation works in place in a buffer the caller keeps between calls (libtorch's own <c>geqrf</c> allocates a
/// column-major copy of its input and its output afresh each time). Only what libtorch exports is available
/// (<c>nm -D libtorch_cpu.so</c>: dgeqrf_, dormqr_, dorgqr_, dpotrf_, dtrsm_, dgemm_, ... but not dgelqf_ or dtpqrt_).
/// </summary>
public static unsafe class TorchLapack
{
    private static readonly Lock Gate = new();
    private static delegate* unmanaged<int*, int*, double*, int*, double*, double*, int*, int*, void> _dgeqrf;

    /// <summary>True when libtorch is loaded and exports dgeqrf_ (loads libtorch on the first call).</summary>
    public static bool IsAvailable
    {
        get
        {
            try
            {
                Load();
                return true;
            }
            catch (TorchUnavailableException)
            {
                return false;
            }
        }
    }

    private static void Load()
    {
        lock (Gate)
        {
            if (_dgeqrf != null) return;
            TorchRuntime.EnsureLoaded(); // libtorch_cpu.so is loaded as a dependency of TorchSharp's native library
            if (!NativeLibrary.TryLoad("libtorch_cpu.so", out var lib)
                && !(TorchRuntime.NativeFolder is { } folder && NativeLibrary.TryLoad(Path.Combine(folder, "libtorch_cpu.so"), out lib)))
                throw new TorchUnavailableException("libtorch_cpu.so is loaded by TorchSharp but could not be opened for its LAPACK routines");
            if (!NativeLibrary.TryGetExport(lib, "dgeqrf_", out var f))
                throw new TorchUnavailableException("libtorch_cpu.so does not export dgeqrf_");
            _dgeqrf = (delegate* unmanaged<int*, int*, double*, int*, double*, double*, int*, int*, void>)f;
        }
    }

    /// <summary>
    /// The optimal workspace length (doubles) of <see cref="Geqrf"/> for an <paramref name="m"/> × <paramref name="n"/> matrix
    /// with leading dimension <paramref name="lda"/> (LAPACK's workspace query).
    /// </summary>
    public static int GeqrfWorkspace(int m, int n, int lda)
    {
        Load();
        double query = 0, tau = 0, a = 0;
        int lwork = -1, info = 0;
        _dgeqrf(&m, &n, &a, &lda, &tau, &query, &lwork, &info);
        if (info != 0) throw new InvalidOperationException($"dgeqrf workspace query failed (info {info})");
        return Math.Max(1, (int)query);
    }

    /// <summary>
    /// LAPACK dgeqrf in place: the column-major <paramref name="m"/> × <paramref name="n"/> matrix in <paramref name="a"/>
    /// (leading dimension <paramref name="lda"/>) is replaced by R (upper triangle) and the Householder vectors (below it);
    /// <paramref name="tau"/> gets min(m, n) scalars. <paramref name="work"/>: at least <see cref="GeqrfWorkspace"/> doubles.
    /// Threads: libtorch's (<see cref="TorchRuntime.SetThreads"/> on the calling thread).
    /// </summary>
    public static void Geqrf(int m, int n, Span<double> a, int lda, Span<double> tau, Span<double> work)
    {
        Load();
        if (m < 0 || n < 0 || lda < Math.Max(1, m)) throw new ArgumentException($"dgeqrf of {m} x {n} with leading dimension {lda}");
        if (n > 0 && (long)lda * (n - 1) + m > a.Length) throw new ArgumentException($"a {m} x {n} matrix (leading dimension {lda}) does not fit in {a.Length} values", nameof(a));
        if (tau.Length < Math.Min(m, n)) throw new ArgumentException($"tau holds {tau.Length} values, dgeqrf needs {Math.Min(m, n)}", nameof(tau));
        if (work.IsEmpty) throw new ArgumentException("no workspace", nameof(work));
        int lwork = work.Length, info = 0;
        fixed (double* pa = a, pt = tau, pw = work)
            _dgeqrf(&m, &n, pa, &lda, pt, pw, &lwork, &info);
        if (info != 0) throw new InvalidOperationException($"dgeqrf failed (info {info})");
    }
}
