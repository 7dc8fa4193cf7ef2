using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>
/// Labels many structures with a reference method (<c>mlip label</c>): in parallel where the method allows it
/// (<see cref="IReferenceMethod.Jobs"/>: an in-process calculator on every thread, a command as many jobs as it allows), one at a time otherwise (i-PI). Structure i is
/// labelled under the tag sNNNNN; a user error surfaces as its typed <see cref="MlipException"/> (<see cref="MlipParallel"/>).
/// </summary>
public static class BatchLabelling
{
    /// <summary>The tag of structure <paramref name="index"/> (its work folder name): s00000, s00001, ...</summary>
    public static string Tag(int index) => FormattableString.Invariant($"s{index:D5}");

    /// <summary>Labelled copies of <paramref name="structures"/>, in order; <paramref name="threads"/> 0 or less: all cores.</summary>
    public static Structure[] Run(IReferenceMethod reference, IReadOnlyList<Structure> structures, int threads = 0, IProgress<WorkProgress>? progress = null)
    {
        var labelled = new Structure[structures.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        void One(int i)
        {
            labelled[i] = reference.Label(structures[i], Tag(i));
            progress?.Report(new WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
        }
        int degree = reference.Jobs > 0 ? reference.Jobs : threads > 0 ? threads : Environment.ProcessorCount;
        if (degree > 1) MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = degree }, One);
        else
            for (int i = 0; i < structures.Count; i++) One(i);
        return labelled;
    }
}
