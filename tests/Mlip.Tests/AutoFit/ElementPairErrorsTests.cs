using Mlip.AutoFit;
using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Training;
using Xunit;

namespace Mlip.Tests.AutoFit;

public class ElementPairErrorsTests
{
    private static Structure Labelled(Structure s)
    {
        s.Energy = 0;
        s.Forces = new Vec3[s.Count];
        return s;
    }

    [Fact]
    public void AnAntisiteMakesSiSiBondsOnTheAntisiteAndItsFourNeighboursOnly()
    {
        // 3C-SiC (64 atoms): every first-shell bond is Si–C; a C site turned Si gives that atom four Si–Si bonds
        var perfect = Labelled(Crystals.Supercell(Crystals.Zincblende("Si", "C", 4.36), 2, 2, 2));
        var antisite = Labelled(perfect.Clone());
        int c = Array.IndexOf(antisite.AtomicNumbers, 6);
        antisite.AtomicNumbers[c] = 14;
        var (pairs0, _) = ElementPairErrors.Bonds(perfect);
        Assert.Equal(["C–Si"], pairs0);
        var (pairs1, atoms) = ElementPairErrors.Bonds(antisite);
        Assert.Equal(["C–Si", "Si–Si"], pairs1);
        int siSi = atoms.Count(a => a.Contains("Si–Si"));
        Assert.Equal(5, siSi);
        Assert.Equal(["Si–Si"], atoms[c]);

        // errors: 2 meV/atom on the perfect cell, 6 on the antisite cell; a force error of 0.3 eV/Å in x on the antisite atom only
        var predictedAntisite = new Vec3[antisite.Count];
        predictedAntisite[c] = new Vec3(0.3, 0, 0);
        var e = new Evaluation
        {
            Comparisons = [new Comparison(perfect, new CalculatorResult(0.002 * perfect.Count, new Vec3[perfect.Count], null)),
                           new Comparison(antisite, new CalculatorResult(0.006 * antisite.Count, predictedAntisite, null))],
            Overall = new ErrorMetrics(2, 128, null, null, null, null, null, null),
            Groups = [],
        };
        var rows = ElementPairErrors.Of(e).ToDictionary(r => r.Pair);
        Assert.Equal(["C–Si", "Si–Si"], rows.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, rows["C–Si"].Structures);
        Assert.Equal(4, rows["C–Si"].EnergyMaeMevPerAtom!.Value, 9);
        Assert.Equal(1, rows["Si–Si"].Structures);
        Assert.Equal(6, rows["Si–Si"].EnergyMaeMevPerAtom!.Value, 9);
        Assert.Equal(siSi, rows["Si–Si"].Atoms);
        Assert.Equal(0.3 / (3 * siSi), rows["Si–Si"].ForceMaeEvPerA!.Value, 12);
        // the antisite atom has no Si–C bond: the C–Si force rows are every other atom of both cells, all exact
        Assert.Equal(2 * 64 - 1, rows["C–Si"].Atoms);
        Assert.Equal(0, rows["C–Si"].ForceMaeEvPerA!.Value, 12);
    }

    [Fact]
    public void OneElementGivesNoRows()
    {
        var si = Labelled(Crystals.Diamond("Si", 5.43));
        var e = new Evaluation { Comparisons = [new Comparison(si, new CalculatorResult(0, new Vec3[si.Count], null))], Overall = new ErrorMetrics(1, 8, null, null, null, null, null, null), Groups = [] };
        Assert.Empty(ElementPairErrors.Of(e));
    }
}
