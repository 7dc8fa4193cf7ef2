using System.Runtime.Intrinsics;
using Mlip.Descriptors;
using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>
/// <see cref="JitWarmUp"/>: a type's kernels compiled on a background thread when a second core is there, once per type, never
/// on one core; a name that is not a method of the type is refused by <see cref="JitWarmUp.Resolve"/>, and the SO(4) kernel names resolve.
/// </summary>
public sealed class JitWarmUpTests
{
    private static class OneCoreProbe
    {
        public static double Sum(double[] x) { double s = 0; foreach (double v in x) s += v; return s; }
    }

    private static class TwoCoreProbe
    {
        public static double Sum(double[] x) { double s = 0; foreach (double v in x) s += v; return s; }
        private static double Dot(double[] x, double[] y) { double s = 0; for (int i = 0; i < x.Length; i++) s += x[i] * y[i]; return s; }
        public static double Both(double[] x) => Sum(x) + Dot(x, x);
    }

    private static class NamedProbe
    {
        public static int Twice(int x) => 2 * x;
    }

    [Fact]
    public void OneCoreStartsNothing()
    {
        using var one = MlipParallel.LimitThreads(1);
        Assert.Null(JitWarmUp.Start(typeof(OneCoreProbe), nameof(OneCoreProbe.Sum)));
        Assert.False(JitWarmUp.HasStarted(typeof(OneCoreProbe)));
    }

    [Fact]
    public void TwoCoresCompileOnABackgroundThreadOncePerType()
    {
        using var two = MlipParallel.LimitThreads(2);
        var thread = JitWarmUp.Start(typeof(TwoCoreProbe), "Dot", nameof(TwoCoreProbe.Sum), nameof(TwoCoreProbe.Both));
        Assert.NotNull(thread);
        Assert.True(thread.Join(TimeSpan.FromMinutes(5)), "the warm-up thread did not end"); // a bound against a hang, not a timing
        Assert.True(JitWarmUp.LastRanInBackground); // asked by the thread itself: a thread that has ended cannot be asked
        Assert.True(JitWarmUp.HasStarted(typeof(TwoCoreProbe)));
        Assert.Null(JitWarmUp.Failure);
        Assert.Null(JitWarmUp.Start(typeof(TwoCoreProbe), nameof(TwoCoreProbe.Sum)));
        Assert.Equal(4.0, TwoCoreProbe.Both([1.0, 1.0])); // the compiled methods run as before
    }

    [Fact]
    public void AMethodThatIsNotThereIsRefusedByNameAndLeavesTheWarmUpToTheFirstCall()
    {
        var e = Assert.Throws<ArgumentException>(() => JitWarmUp.Resolve(typeof(NamedProbe), nameof(NamedProbe.Twice), "Thrice"));
        Assert.Contains("Thrice", e.Message);
        Assert.Single(JitWarmUp.Resolve(typeof(NamedProbe), nameof(NamedProbe.Twice)));
    }

    [Fact]
    public void TheSo4KernelNamesAreItsMethods()
    {
        var kernels = JitWarmUp.Resolve(typeof(BispectrumSo4), BispectrumSo4.WarmedKernels);
        Assert.Equal(7, kernels.Length);
        Assert.All(kernels, k => Assert.Equal(typeof(BispectrumSo4), k.DeclaringType));
    }

    [Fact]
    public void TheSo4VectorKernelsAreWarmedForAPotentialWithASpareCore()
    {
        using var two = MlipParallel.LimitThreads(2);
        var so4 = new BispectrumSo4(new So4Parameters());
        so4.WarmUpForces();
        Assert.Equal(Vector256.IsHardwareAccelerated, JitWarmUp.HasStarted(typeof(BispectrumSo4)));
        Assert.True(so4.FeatureCount > 0);
    }
}
