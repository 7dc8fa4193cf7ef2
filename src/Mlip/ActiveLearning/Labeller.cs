using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>A structure the reference could not label (after its retries): recorded in the checkpoint and the report, and skipped.</summary>
public sealed record LabelFailure(string Tag, string Formula, int Attempts, string Message)
{
    public JsonObject ToJson() => new() { ["tag"] = Tag, ["formula"] = Formula, ["attempts"] = Attempts, ["message"] = Message };

    public static LabelFailure FromJson(JsonNode n) => new((string)n["tag"]!, (string)n["formula"]!, (int)n["attempts"]!, (string)n["message"]!);
}

/// <summary>
/// Labels the loop's batches: up to <see cref="IReferenceMethod.Jobs"/> structures at once (a calculator on every
/// thread), each tried <c>1 + retries</c> times; a structure that still fails is recorded (<see cref="LabelFailure"/>)
/// and left out rather than ending the loop. The labelled structures keep the batch's order, so a rerun of the same
/// batch gives the same list.
/// </summary>
public sealed class Labeller(IReferenceMethod reference, int threads, int retries, TextWriter log)
{
    public IReferenceMethod Reference { get; } = reference;

    public (List<Structure> Labelled, List<LabelFailure> Failed) LabelAll(IReadOnlyList<Structure> structures, string tag)
    {
        var result = new Structure?[structures.Count];
        var failed = new LabelFailure?[structures.Count];
        int degree = Reference.Jobs > 0 ? Reference.Jobs : Math.Max(1, threads);
        bool external = Reference.Jobs > 0; // a command or a DFT client: every structure is worth a line
        int done = 0;
        var clock = Stopwatch.StartNew();
        void One(int i)
        {
            string t = FormattableString.Invariant($"{tag}-{i:D3}");
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    result[i] = Reference.Label(structures[i], t);
                    break;
                }
                catch (Exception e) when (e is MlipException or IOException)
                {
                    if (attempt <= retries)
                    {
                        lock (log) log.WriteLine($"label {t}: attempt {attempt} failed ({e.Message}); retrying");
                        continue;
                    }
                    failed[i] = new LabelFailure(t, structures[i].Formula(), attempt, e.Message);
                    lock (log) log.WriteLine($"label {t}: failed after {attempt} attempt(s), skipped: {e.Message}");
                    break;
                }
            }
            int n = Interlocked.Increment(ref done);
            if (external)
                lock (log) log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"label {tag}: {n}/{structures.Count} done ({clock.Elapsed.TotalSeconds:F1} s)"));
        }
        if (degree > 1 && structures.Count > 1 && external)
        {
            // jobs wait on processes or files: one thread each (the thread pool would add blocked threads only slowly)
            int next = -1;
            Exception? error = null;
            var workers = Enumerable.Range(0, Math.Min(degree, structures.Count)).Select(_ => new Thread(() =>
            {
                try
                {
                    for (int i; (i = Interlocked.Increment(ref next)) < structures.Count;) One(i);
                }
                catch (Exception e) { Interlocked.CompareExchange(ref error, e, null); }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
        else if (degree > 1 && structures.Count > 1)
            MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = degree }, One);
        else
            for (int i = 0; i < structures.Count; i++) One(i);
        return ([.. result.OfType<Structure>()], [.. failed.OfType<LabelFailure>()]);
    }
}
