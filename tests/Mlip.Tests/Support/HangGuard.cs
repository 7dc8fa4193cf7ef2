namespace Mlip.Tests.Support;

/// <summary>
/// Time limits for tests that wait on another thread, process or socket. They only stop a hung test: a healthy run never
/// comes near them, even on a loaded machine (the suite runs under <c>stress -c 2</c> on 2 cores), so none of them decides
/// the outcome of a healthy run. Tests wait for events (a line on stdout, a file, a task) and never for a fixed time.
/// </summary>
public static class HangGuard
{
    /// <summary>How long a test waits for something that should take seconds (a client, a process that is ending).</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromMinutes(5);

    /// <summary><see cref="Wait"/> in whole seconds, for limits given to servers, clients and configs in seconds.</summary>
    public static int WaitSeconds => (int)Wait.TotalSeconds;

    /// <summary><see cref="Wait"/> in milliseconds, for <see cref="System.Diagnostics.Process.WaitForExit(int)"/>.</summary>
    public static int WaitMilliseconds => (int)Wait.TotalMilliseconds;

    /// <summary>How long a test waits for a whole run of the CLI (training, an active-learning loop).</summary>
    public static readonly TimeSpan Run = TimeSpan.FromMinutes(15);
}
