using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.ActiveLearning;

/// <summary><see cref="BatchLabelling"/>: the loop of <c>mlip label</c>, parallel only where the reference allows it.</summary>
public class BatchLabellingTests
{
    private static List<Structure> Set(int n) =>
        [.. Enumerable.Range(0, n).Select(i => Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, i + 1))];

    [Fact]
    public void LabelsInOrderWithTheTagsOfTheirIndex()
    {
        var serial = new Recording(parallel: false);
        var set = Set(4);
        var labelled = BatchLabelling.Run(serial, set, threads: 4);
        Assert.Equal(["s00000", "s00001", "s00002", "s00003"], serial.Tags);
        Assert.Equal(1, serial.MaxConcurrent); // one at a time
        for (int i = 0; i < 4; i++) Assert.Equal(i, labelled[i].Energy);

        var sw = new CalculatorReference(StillingerWeber.Silicon());
        var both = BatchLabelling.Run(sw, set, threads: 2);
        for (int i = 0; i < 4; i++) Assert.Equal(StillingerWeber.Silicon().Calculate(set[i]).Energy, both[i].Energy!.Value, 10);
    }

    [Fact]
    public void AUserErrorSurfacesTyped()
    {
        var e = Assert.Throws<MlipException>(() => BatchLabelling.Run(new Recording(parallel: true, failAt: "s00002"), Set(5), threads: 3));
        Assert.Contains("s00002", e.Message);
    }

    /// <summary>Labels structure sNNNNN with energy NNNNN and records the tags and the concurrency.</summary>
    private sealed class Recording(bool parallel, string? failAt = null) : IReferenceMethod
    {
        private int _running;
        public List<string> Tags { get; } = [];
        public int MaxConcurrent { get; private set; }
        public string Name => "recording";
        public int Jobs => parallel ? 0 : 1;

        public Structure Label(Structure structure, string tag)
        {
            int now = Interlocked.Increment(ref _running);
            lock (Tags) { Tags.Add(tag); MaxConcurrent = Math.Max(MaxConcurrent, now); }
            try
            {
                if (tag == failAt) throw new MlipException($"{tag}: the reference failed");
                var s = structure.Clone();
                s.Energy = int.Parse(tag[1..], System.Globalization.CultureInfo.InvariantCulture);
                return s;
            }
            finally { Interlocked.Decrement(ref _running); }
        }
    }
}
