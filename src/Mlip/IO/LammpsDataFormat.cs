using Mlip.Structures;

namespace Mlip.IO;

public sealed class LammpsDataFormat : IStructureFormat
{
    public string Name => "LammpsDataFormat";
    public string Description => "";
    public bool CanRead => false;
    public bool CanWrite => false;
    public bool MatchesFileName(string fileName) => false;
    public IReadOnlyList<Structure> Read(string path) => throw new NotSupportedException();
    public void Write(string path, IReadOnlyList<Structure> structures) => throw new NotSupportedException();
}
