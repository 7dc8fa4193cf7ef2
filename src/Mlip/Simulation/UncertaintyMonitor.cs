using System.Text;
using Mlip.IO;
using Mlip.Calculators;

namespace Mlip.Simulation;

/// <summary>What an MD run does when the model's uncertainty passes the threshold.</summary>
public enum UncertaintyAction
{
    /// <summary>End the run at the first frame over the threshold (the frame is dumped too when a dump file is given).</summary>
    Stop,
    /// <summary>Go on, writing every frame over the threshold to the dump file (candidates for labelling).</summary>
    Dump,
}

/// <summary>
/// Watches a running MD with any <see cref="IUncertaintyEstimator"/> (ACE extrapolation grade, D-optimality of a linear model,
/// GPR force std, committee spread): every <see cref="Interval"/> steps it scores the current frame; a score above
/// <see cref="Threshold"/> stops the run or is dumped (extxyz with the per-atom gamma / force_std columns and the score
/// as info "uncertainty"). Plug <see cref="Check"/> into <see cref="MolecularDynamics.StopWhen"/>.
/// </summary>
public sealed class UncertaintyMonitor : IDisposable
{
    private readonly ExtXyzFormat _format = new();
    private Stream? _dump;
    private Mlip.IO.StagedFile? _stagedDump;

    /// <param name="estimator">Scores a frame (the larger, the less the model is to be trusted there).</param>
    /// <param name="threshold">Score above which a frame stops the run or is dumped (positive).</param>
    /// <param name="interval">Score every this many steps (at least 1).</param>
    /// <param name="action">What a frame over the threshold does: stop the run or be dumped.</param>
    /// <param name="dumpPath">The extxyz file of the frames over the threshold (required for <see cref="UncertaintyAction.Dump"/>).</param>
    /// <param name="staged">Write the dump to DUMP.partial.EXT and let it replace an existing file only on <see cref="Commit"/> (what <c>mlip md</c> does).</param>
    public UncertaintyMonitor(IUncertaintyEstimator estimator, double threshold, int interval = 10, UncertaintyAction action = UncertaintyAction.Stop, string? dumpPath = null, bool staged = false)
    {
        Staged = staged;
        if (!(threshold > 0)) throw new ArgumentOutOfRangeException(nameof(threshold), "the uncertainty threshold must be positive");
        if (interval < 1) throw new ArgumentOutOfRangeException(nameof(interval), "the check interval must be at least one step");
        if (action == UncertaintyAction.Dump && dumpPath is null) throw new ArgumentException("the dump action needs a dump file", nameof(dumpPath));
        Estimator = estimator;
        Threshold = threshold;
        Interval = interval;
        Action = action;
        DumpPath = dumpPath;
    }

    public IUncertaintyEstimator Estimator { get; }
    public double Threshold { get; }
    public int Interval { get; }
    public UncertaintyAction Action { get; }
    public string? DumpPath { get; }

    /// <summary>Whether the dump is staged (see the constructor).</summary>
    public bool Staged { get; }

    /// <summary>A staged dump (if any frame was dumped) replaces <see cref="DumpPath"/>.</summary>
    public void Commit()
    {
        if (_stagedDump is not null) _stagedDump.Commit();
        else _dump?.Flush();
    }

    /// <summary>Frames scored so far.</summary>
    public int Checks { get; private set; }
    /// <summary>Frames over the threshold so far (dumped ones for <see cref="UncertaintyAction.Dump"/>).</summary>
    public int Exceeded { get; private set; }
    /// <summary>Largest score seen, and at which step.</summary>
    public double MaxScore { get; private set; }
    public long MaxScoreStep { get; private set; }
    /// <summary>Step of the first frame over the threshold (null while none).</summary>
    public long? FirstExceededStep { get; private set; }
    /// <summary>True once the run was stopped by the monitor.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Scores the state on every <see cref="Interval"/>-th step; true means: stop the run.</summary>
    public bool Check(MdState state)
    {
        if (state.Step % Interval != 0) return false;
        var frame = state.Snapshot();
        var r = Estimator.Estimate(frame);
        Checks++;
        if (Checks == 1 || r.Score > MaxScore) { MaxScore = r.Score; MaxScoreStep = state.Step; }
        if (!(r.Score > Threshold)) return false;
        Exceeded++;
        FirstExceededStep ??= state.Step;
        if (DumpPath is not null)
        {
            r.Annotate(frame);
            Append(frame);
        }
        if (Action == UncertaintyAction.Stop) Stopped = true;
        return Stopped;
    }

    private void Append(Structures.Structure frame)
    {
        if (_dump is null)
        {
            if (Staged)
            {
                _stagedDump = new Mlip.IO.StagedFile(DumpPath!);
                _dump = _stagedDump.Stream;
            }
            else
            {
                string? dir = Path.GetDirectoryName(Path.GetFullPath(DumpPath!));
                if (dir is not null) Directory.CreateDirectory(dir);
                _dump = new FileStream(DumpPath!, FileMode.Create, FileAccess.Write, FileShare.Read);
            }
        }
        using var sw = new StringWriter { NewLine = "\n" };
        _format.Write(sw, [frame]);
        _dump.Write(new UTF8Encoding(false).GetBytes(sw.ToString()));
        _dump.Flush();
    }

    public void Dispose()
    {
        if (_stagedDump is not null) _stagedDump.Abandon(keepPartial: true);
        else _dump?.Dispose();
    }
}
