using Mlip.Distributed;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// Runs a verb and turns user mistakes into one line on stderr and a non-zero exit code; a stack
/// trace only for real bugs, and only with MLIP_DEBUG=1.
/// </summary>
public static class CliRunner
{
    public const int InputError = 1;
    public const int InternalError = 70;

    public static int Run(TextWriter stderr, Func<int> action)
    {
        // under MPI the ranks other than 0 write to TextWriter.Null; their errors still go to the real stderr, named by rank
        if (Communicator.Launched && !Communicator.World.IsRoot)
        {
            int rc = Guarded(Console.Error, action, $" (rank {Communicator.World.Rank} of {Communicator.World.Size})");
            Console.Error.Flush();
            return rc;
        }
        return Guarded(stderr, action, "");
    }

    private static int Guarded(TextWriter stderr, Func<int> action, string rank)
    {
        try
        {
            return action();
        }
        catch (MlipException e)
        {
            stderr.WriteLine($"mlip: error{rank}: {OneLine(e.Message)}");
            return InputError;
        }
        catch (AggregateException e) when (MlipParallel.UserError(e) is { } user)
        {
            // a parallel loop outside MlipParallel: still the user's mistake, not a bug
            stderr.WriteLine($"mlip: error{rank}: {OneLine(user.Message)}");
            return InputError;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"mlip: error{rank}: {OneLine(e.Message)}");
            return InputError;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("MLIP_DEBUG") != "1")
        {
            stderr.WriteLine($"mlip: internal error{rank} ({e.GetType().Name}): {OneLine(e.Message)} (set MLIP_DEBUG=1 for details; please report it)");
            return InternalError;
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
