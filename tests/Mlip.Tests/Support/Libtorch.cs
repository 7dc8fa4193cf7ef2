using System.Reflection;
using Mlip.Training;
using TorchSharp;
using Xunit.Sdk;

namespace Mlip.Tests.Support;

/// <summary>
/// The test classes that run libtorch (TorchSharp) in the test process: directly, through a trainer (networks, PINN, ACE
/// embedding, Gaussian process), or through the default least-squares solver (libtorch QR). They run one at a time and
/// alone (not beside other tests), and every test starts and ends with <see cref="LibtorchThreads.Count"/> libtorch threads.
/// </summary>
/// <remarks>
/// libtorch's thread count is per OS thread (OpenMP, MKL), but a thread that has not used libtorch yet takes the count
/// last set by any thread, and code that does not set it (a test calling <c>Loss</c> or <c>Jacobian</c> directly) uses
/// whatever its thread had: results compared bit for bit could then depend on which test ran before on which thread.
/// The trainers set the count from their options before they work, so a run with the same options is reproduced exactly.
/// Mark a class with <c>[Collection(LibtorchCollection.Name), LibtorchThreads]</c>.
/// </remarks>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LibtorchCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "libtorch";
}

/// <summary>
/// Sets libtorch's thread count to <see cref="Count"/> before and after each test of the class it marks (on the thread that
/// runs the test, and as the count that threads new to libtorch start with), so that tests that change it leave it as found.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
public sealed class LibtorchThreadsAttribute : BeforeAfterTestAttribute
{
    /// <summary>The thread count the tests of the libtorch collection start with: serial, so the order of libtorch's sums is fixed.</summary>
    public const int Count = 1;

    /// <inheritdoc/>
    public override void Before(MethodInfo methodUnderTest) => Reset();

    /// <inheritdoc/>
    public override void After(MethodInfo methodUnderTest) => Reset();

    /// <summary>Sets the count (when libtorch loads; tests that need it report its absence themselves).</summary>
    public static void Reset()
    {
        if (!TorchRuntime.IsAvailable) return;
        torch.set_num_threads(Count); // unconditionally: this also sets the count that threads new to libtorch take
    }
}
