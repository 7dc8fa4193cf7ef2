using Mlip.Structures;

namespace Mlip.IO;

// Placeholder: being written.
public sealed class PoscarFormat : IStructureFormat
{
    public string Name => "PoscarFormat";
    public string Description => "";
    public bool CanRead => false;
    public bool CanWrite => false;
    public bool MatchesFileName(string fileName) => false;
    public IReadOnlyList<Structure> Read(string path) => throw new NotSupportedException();
    public void Write(string path, IReadOnlyList<Structure> structures) => throw new NotSupportedException();
}
