using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>
/// The table of model kinds: <c>mlip train</c>, <c>mlip learn</c>, the schema (<c>mlip config --schema</c>,
/// docs/config-reference.md) and the model file all find a kind here. Adding a kind is one file (a
/// <see cref="ModelKind{TSettings}"/>) plus one line: an entry below, or <see cref="Register"/> from outside the library.
/// </summary>
public static class ModelKinds
{
    private static readonly List<ModelKind> Table =
    [
        new PolynomialKind(1),
        new PolynomialKind(2),
        new NeuralNetworkKind(),
        new GaussianProcessKind(),
        new PinnKind(),
        new AceKind(),
    ];

    /// <summary>Every kind, in the order of the table.</summary>
    public static IReadOnlyList<ModelKind> All
    {
        get { lock (Table) return [.. Table]; }
    }

    public static IReadOnlyList<string> Names => [.. All.Select(k => k.Name)];

    /// <summary>The kind called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ModelKind? Find(string name)
    {
        lock (Table) return Table.FirstOrDefault(k => k.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The kind called <paramref name="name"/>; an unknown name is an error that lists the known ones.</summary>
    public static ModelKind Get(string name) =>
        Find(name) ?? throw new MlipException($"unknown model kind '{name}' ({string.Join(", ", Names)})");

    /// <summary>Adds (or replaces) a kind, and its codec in the model file's table.</summary>
    public static void Register(ModelKind kind)
    {
        lock (Table)
        {
            Table.RemoveAll(k => k.Name.Equals(kind.Name, StringComparison.OrdinalIgnoreCase));
            Table.Add(kind);
        }
        if (kind.Codec is { } codec) ModelFile.Register(codec);
        if (kind.PerAtom?.Codec is { } perAtom) PerAtomModelFile.Register(perAtom);
    }

    /// <summary>Removes a kind and its codec (a test's clean-up after <see cref="Register"/>). True when one was removed.</summary>
    public static bool Unregister(string name)
    {
        ModelKind? kind;
        lock (Table)
        {
            kind = Table.FirstOrDefault(k => k.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (kind is null) return false;
            Table.Remove(kind);
        }
        if (kind.Codec is { } codec) ModelFile.Unregister(codec.Kind);
        if (kind.PerAtom?.Codec is { } perAtom) PerAtomModelFile.Unregister(perAtom.Kind);
        return true;
    }
}
