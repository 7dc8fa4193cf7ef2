using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.Tests.Training;

/// <summary><see cref="BatchPrediction"/>: the parallel loop of <c>mlip predict</c>.</summary>
public class BatchPredictionTests
{
    private static List<Structure> Set(int n) =>
        [.. Enumerable.Range(0, n).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, i + 1);
            s.Info["i"] = i;
            return s;
        })];

    [Fact]
    public void PredictsCopiesInOrderAndKeepsTheReferenceEnergy()
    {
        var sw = StillingerWeber.Silicon();
        var set = Set(5);
        set[2].Energy = -1.25;
        var progress = new List<WorkProgress>();
        var results = BatchPrediction.Run(sw, set, threads: 2, progress: new SyncProgress(progress));
        Assert.Equal(5, results.Length);
        for (int i = 0; i < set.Count; i++)
        {
            var r = sw.Calculate(set[i]);
            Assert.Equal(r.Energy, results[i].Energy!.Value, 10);
            Assert.Equal(r.Forces![0].X, results[i].Forces![0].X, 10);
            Assert.NotNull(results[i].Stress);
            Assert.NotSame(set[i], results[i]);
        }
        Assert.Equal(-1.25, (double)results[2].Info["reference_energy"]);
        Assert.Null(set[0].Energy); // the input is left as it was
        Assert.Equal(5, progress.Count);
        Assert.Equal(5, progress.Max(p => p.Done));
    }

    [Fact]
    public void AUserErrorInOneStructureSurfacesTyped()
    {
        var set = Set(6);
        var e = Assert.Throws<MlipException>(() => BatchPrediction.Run(new FailsOn(3), set, threads: 3));
        Assert.Contains("structure 3", e.Message);
    }

    /// <summary>A calculator that refuses the structure at one index (the user's mistake there).</summary>
    private sealed class FailsOn(int bad) : ICalculator
    {
        public string Name => "fails";
        public IReadOnlyList<int> Elements => [14];
        public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
        {
            if ((int)structure.Info["i"] == bad) throw new MlipException($"structure {bad} is wrong");
            return new CalculatorResult(0, new Vec3[structure.Count], null);
        }
    }

    private sealed class SyncProgress(List<WorkProgress> list) : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value) { lock (list) list.Add(value); }
    }
}
