using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.Tests.Training;

/// <summary>
/// `threads: T` bounds the loops inside one structure too (a descriptor's or a potential's <see cref="MlipParallel.ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/>):
/// the loop over structures leaves them <see cref="MlipParallel.InnerThreads"/> threads. Before, they took every core, so a
/// 1-thread run used two cores and the 1-thread ranks of an MPI run competed for each other's (docs/scale.md).
/// </summary>
public class ThreadLimitTests
{
    private static List<Structure> Set(int n)
    {
        var sw = StillingerWeber.Silicon();
        return [.. Enumerable.Range(0, n).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, i + 1);
            var r = sw.Calculate(s);
            s.Energy = r.Energy + 0.01 * i;
            s.Forces = [.. r.Forces!.Select(f => f * 1.01)];
            return s;
        })];
    }

    [Theory]
    [InlineData(1, 6, 1)]
    [InlineData(4, 6, 1)]
    [InlineData(4, 2, 2)]
    [InlineData(4, 1, 4)]
    [InlineData(3, 1, 3)]
    public void TheLoopsInsideAStructureGetTheThreadsLeftOver(int threads, int structures, int inner)
    {
        Assert.Equal(inner, MlipParallel.InnerThreads(threads, structures));
        // an enclosing limit of 8 stands for an 8-core machine: without the evaluation's own limit the loops inside a
        // structure would see 8 (all cores), whatever the machine this test runs on
        using var machine = MlipParallel.LimitThreads(8);
        var seen = new Recording(StillingerWeber.Silicon());
        Evaluation.Run(seen, Set(structures), threads);
        Assert.Equal(structures, seen.Calls);
        Assert.Equal(inner, seen.MaxThreads);
    }

    [Fact]
    public void TheErrorsDoNotDependOnTheThreads()
    {
        var set = Set(5);
        var sw = StillingerWeber.Silicon();
        var one = Evaluation.Run(sw, set, threads: 1);
        var four = Evaluation.Run(sw, set, threads: 4);
        for (int s = 0; s < set.Count; s++)
        {
            Assert.Equal(one.Comparisons[s].Predicted.Energy, four.Comparisons[s].Predicted.Energy);
            Assert.Equal(one.Comparisons[s].Predicted.Forces!, four.Comparisons[s].Predicted.Forces!);
        }
        Assert.Equal(one.Overall.EnergyRmseMevPerAtom, four.Overall.EnergyRmseMevPerAtom);
    }

    /// <summary>A calculator that records the threads its inner loops would get (<see cref="MlipParallel.Threads"/>).</summary>
    private sealed class Recording(ICalculator inner) : ICalculator
    {
        private int _max, _calls;
        public int MaxThreads => Volatile.Read(ref _max);
        public int Calls => Volatile.Read(ref _calls);
        public string Name => inner.Name;
        public IReadOnlyList<int> Elements => inner.Elements;

        public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
        {
            int t = MlipParallel.Threads, seen;
            do seen = Volatile.Read(ref _max); while (t > seen && Interlocked.CompareExchange(ref _max, t, seen) != seen);
            Interlocked.Increment(ref _calls);
            return inner.Calculate(structure, forces, stress);
        }
    }
}
