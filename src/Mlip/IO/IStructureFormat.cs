using Mlip.Structures;

namespace Mlip.IO;

/// <summary>
/// One file format. Every format registers once in <see cref="StructureFormats"/>; adding a format
/// touches only that table.
/// </summary>
public interface IStructureFormat
{
    /// <summary>Short name used by <c>--format</c> (e.g. "extxyz", "poscar").</summary>
    string Name { get; }

    /// <summary>One-line description for help texts and docs.</summary>
    string Description { get; }

    bool CanRead { get; }
    bool CanWrite { get; }

    /// <summary>True when a file name (without directory) is of this format by its extension or name.</summary>
    bool MatchesFileName(string fileName);

    /// <summary>Reads every structure in the file, with labels and a <see cref="Structure.Source"/> set.</summary>
    IReadOnlyList<Structure> Read(string path);

    /// <summary>
    /// The structures of the file one at a time, in order, the same as <see cref="Read"/>: formats that can (extended
    /// XYZ, ASE SQLite .db) read one structure per step and never hold the file, so memory stays bounded by one
    /// structure; the others (JSON documents, POSCAR) read the whole file at the first step. The file stays open
    /// until the enumeration ends or is disposed.
    /// </summary>
    IEnumerable<Structure> Enumerate(string path) => Read(path);

    /// <summary>Writes the structures atomically (temporary file, then rename).</summary>
    void Write(string path, IReadOnlyList<Structure> structures);
}
