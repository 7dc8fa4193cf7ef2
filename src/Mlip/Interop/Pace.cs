using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// LAMMPS <c>pair_style pace</c> export: a PACE potential (loaded from .ace/.yace) or a linear model on the
/// ace descriptor (converted to C-tilde form by <see cref="AceLinearExport"/>) as NAME.yace (current
/// pair_style pace) or NAME.ace (the plain format of LAMMPS 2021–2022), with an in.lammps snippet.
/// </summary>
public static class Pace
{
    public static bool Handles(Potential p) => p.Descriptor is AceDensities || AceLinearExport.IsLinearAce(p);

    /// <summary>Writes NAME.yace (or NAME.ace when <paramref name="format"/> is "ace") and in.lammps; returns the paths.</summary>
    public static string[] Write(Potential potential, string directory, string name = "mlip", string format = "yace")
    {
        var basis = AcePotential.PaceBasis(potential);
        string ext = format.ToLowerInvariant() switch
        {
            "yace" => ".yace",
            "ace" => ".ace",
            _ => throw new MlipException($"unknown PACE file format '{format}' (yace, ace)"),
        };
        string text = ext == ".yace" ? YaceFile.Format(basis) : AceFile.Format(basis);
        string list = string.Join(" ", basis.Elements);
        string snippet = $"""
            # pair_style pace with the ACE potential exported by Mlip; atom types 1.. are {list}
            pair_style      pace product
            pair_coeff      * * {name}{ext} {list}

            """;
        return InteropFiles.WriteAll(directory, (name + ext, text), ("in.lammps", snippet));
    }
}
