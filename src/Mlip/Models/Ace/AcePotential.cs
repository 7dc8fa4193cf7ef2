using Mlip.Descriptors.Ace;
using Mlip.Descriptors;
using Mlip.Validation;

namespace Mlip.Models.Ace;

/// <summary>
/// PACE potentials as Mlip <see cref="Potential"/>s: a <c>.ace</c> or <c>.yace</c> file becomes the density
/// descriptor <see cref="AceDensities"/> with the embedding <see cref="AceEmbeddingModel"/> over it, so every
/// verb (test, predict, md, relax …) runs it. <see cref="ModelFile.Load"/> and <see cref="ModelFile.Save"/>
/// dispatch here on the file extension.
/// </summary>
public static class AcePotential
{
    public static bool IsAcePath(string path) =>
        path.EndsWith(".ace", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yace", StringComparison.OrdinalIgnoreCase);

    public static AceBasisSet ReadBasis(string path)
    {
        if (!File.Exists(path)) throw new MlipInputException(new InputLocation(path), "file not found");
        return path.EndsWith(".yace", StringComparison.OrdinalIgnoreCase) ? YaceFile.Read(path) : AceFile.Read(path);
    }

    /// <summary>The evaluator a loaded potential uses unless told otherwise (the faster on Cu-PBE-core-rep.ace, docs/ace.md).</summary>
    public const AceEvaluatorKind DefaultEvaluator = AceEvaluator.DefaultKind;

    public static Potential Load(string path)
    {
        var basis = ReadBasis(path);
        try
        {
            return Create(basis, path);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            throw new FileFormatException(new InputLocation(path), e.Message, e);
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(new InputLocation(path), e.Message, e);
        }
    }

    /// <summary>Loads a .ace/.yace file with the product or the recursive evaluator.</summary>
    public static Potential Load(string path, AceEvaluatorKind evaluator) => Create(ReadBasis(path), path, evaluator);

    /// <summary>"product" or "recursive" (the <c>evaluator</c> option), case-insensitive.</summary>
    public static AceEvaluatorKind ParseEvaluator(string name) => name.Trim().ToLowerInvariant() switch
    {
        "product" => AceEvaluatorKind.Product,
        "recursive" => AceEvaluatorKind.Recursive,
        _ => throw new MlipException($"unknown ACE evaluator '{name}' (expected product or recursive)"),
    };

    public static Potential Create(AceBasisSet basis, string? source = null, AceEvaluatorKind evaluator = DefaultEvaluator)
    {
        var parameters = new Dictionary<string, string>
        {
            ["elements"] = string.Join(",", basis.Elements),
            ["evaluator"] = evaluator.ToString().ToLowerInvariant(),
        };
        if (source is not null) parameters["file"] = source;
        var densities = new AceDensities(basis, evaluator);
        var model = new AceEmbeddingModel(basis);
        densities.Fused = model.AtomEnergy;
        return new Potential(densities, model, new DescriptorSpec("pace", parameters));
    }

    /// <summary>The basis set of a PACE potential (loaded from a PACE file or converted from a fitted linear ACE).</summary>
    public static AceBasisSet? BasisOf(Potential p) => p.Descriptor is AceDensities d ? d.Basis : null;

    /// <summary>
    /// The PACE basis to save or export: the potential's own (loaded from .ace/.yace) or a linear model on the ace
    /// descriptor in C-tilde form (<see cref="AceLinearExport"/>); anything else is refused.
    /// </summary>
    public static AceBasisSet PaceBasis(Potential p) => BasisOf(p) ?? (AceLinearExport.IsLinearAce(p)
        ? AceLinearExport.ToCTilde(p)
        : throw new MlipException($"pair_style pace export handles PACE potentials and linear models on the ace descriptor; this is a '{p.Model.Kind}' model on '{p.Spec.Type}'"));

    /// <summary>Writes a PACE potential as .yace or .ace by the extension of <paramref name="path"/>.</summary>
    public static void Save(string path, AceBasisSet basis)
    {
        string text = path.EndsWith(".yace", StringComparison.OrdinalIgnoreCase) ? YaceFile.Format(basis) : AceFile.Format(basis);
        Mlip.IO.InteropFiles.EnsureFinite(path, text);
        Mlip.IO.AtomicFile.WriteText(path, w => w.Write(text));
    }
}
