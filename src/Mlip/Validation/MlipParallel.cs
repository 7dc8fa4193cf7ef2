using System.Runtime.ExceptionServices;

namespace Mlip.Validation;

/// <summary>
/// Parallel loops over user structures that report a user mistake as the typed
/// <see cref="MlipException"/> it is, not wrapped in the <see cref="AggregateException"/> of
/// <see cref="Parallel"/>: the CLI then prints its one line ("…: the model was trained on Si and cannot
/// handle O") instead of an internal error.
/// </summary>
public static class MlipParallel
{
    /// <summary><see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/>, rethrowing a user error unwrapped.</summary>
    public static void For(int fromInclusive, int toExclusive, ParallelOptions options, Action<int> body) =>
        Run(() => Parallel.For(fromInclusive, toExclusive, options, body));

    /// <summary><see cref="Parallel.For(int, int, Action{int})"/>, rethrowing a user error unwrapped.</summary>
    public static void For(int fromInclusive, int toExclusive, Action<int> body) =>
        Run(() => Parallel.For(fromInclusive, toExclusive, body));

    /// <summary><see cref="Parallel.ForEach{TSource}(IEnumerable{TSource}, ParallelOptions, Action{TSource})"/>, rethrowing a user error unwrapped.</summary>
    public static void ForEach<T>(IEnumerable<T> source, ParallelOptions options, Action<T> body) =>
        Run(() => Parallel.ForEach(source, options, body));

    /// <summary>
    /// Runs <paramref name="loop"/> (any Parallel.For/ForEach overload); when it throws an
    /// <see cref="AggregateException"/> holding an <see cref="MlipException"/>, that exception is rethrown
    /// with its original stack (<see cref="ExceptionDispatchInfo"/>). Of several, the one about the lowest
    /// structure index is chosen, so the message does not depend on thread timing where the structures
    /// say where they came from. Other exceptions (bugs) propagate unchanged.
    /// </summary>
    public static void Run(Action loop)
    {
        try
        {
            loop();
        }
        catch (AggregateException e) when (UserError(e) is { } user)
        {
            ExceptionDispatchInfo.Capture(user).Throw();
        }
    }

    /// <summary>The user error (an <see cref="MlipException"/>) inside <paramref name="e"/>, if any: the one about the lowest structure index.</summary>
    public static MlipException? UserError(AggregateException e)
    {
        MlipException? best = null;
        int bestIndex = int.MaxValue;
        foreach (var inner in e.Flatten().InnerExceptions)
        {
            if (inner is not MlipException m) continue;
            int index = m is MlipInputException { StructureIndex: int s } ? s : int.MaxValue;
            if (best is null || index < bestIndex) { best = m; bestIndex = index; }
        }
        return best;
    }
}
