using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Support;

/// <summary>The mlearn Si training set of ../shared/data, for tests that fit on a spread subset of it.</summary>
public static class MlearnSi
{
    /// <summary>Every <paramref name="step"/>-th structure of the training set, in file order.</summary>
    public static List<Structure> Every(int step) =>
        [.. StructureIO.ReadAll([TestPaths.Shared("mlearn", "Si", "training.json")], null, ValidationOptions.Default).Where((_, i) => i % step == 0)];
}
