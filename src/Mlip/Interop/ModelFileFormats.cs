using System.Runtime.CompilerServices;
using Mlip.Models;

namespace Mlip.Interop;

/// <summary>
/// Registers the other programs' model files that <see cref="ModelFile.Load"/> reads: LAMMPS SNAP
/// (.snapcoeff/.snapparam), ML-IAP (.mliap.model/.mliap.descriptor) and PINN (.pinn), in that order.
/// Registration (not a call from Models into Interop) keeps the folders one way: Interop sits above Models.
/// </summary>
internal static class ModelFileFormats
{
#pragma warning disable CA2255 // the library registers its own formats in its own model-file table when it loads
    [ModuleInitializer]
    internal static void Register()
    {
        ModelFile.RegisterFormat("snap", Snap.IsSnapPath, Snap.Load);
        ModelFile.RegisterFormat("mliap", MliapReader.IsMliapPath, MliapReader.Load);
        ModelFile.RegisterFormat("pinn", PinnFile.IsPinnPath, PinnFile.Load);
    }
#pragma warning restore CA2255
}
