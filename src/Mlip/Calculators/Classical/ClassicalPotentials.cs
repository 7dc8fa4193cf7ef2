using System.Globalization;

namespace Mlip.Calculators;

/// <summary>
/// The classical potentials by name, for the command line's <c>--potential</c>:
/// <c>sw</c>, <c>sw:FILE</c> (LAMMPS .sw), <c>tersoff</c>, <c>tersoff:FILE</c>, <c>eam:FILE</c> (setfl,
/// eam/alloy), <c>lj:ε,σ,rc</c>, <c>morse:D0,α,r0,rc</c>, <c>buck:A,ρ,C,rc</c> (eV, Å).
/// </summary>
public static class ClassicalPotentials
{
    public static ClassicalPotential Parse(string spec)
    {
        int colon = spec.IndexOf(':');
        string kind = (colon < 0 ? spec : spec[..colon]).Trim().ToLowerInvariant();
        string? arg = colon < 0 ? null : spec[(colon + 1)..].Trim();
        double[] Numbers(int count)
        {
            var parts = (arg ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != count) throw new Mlip.Validation.MlipException($"'{spec}': {kind} takes {count} comma-separated numbers");
            return parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                ? v : throw new Mlip.Validation.MlipException($"'{spec}': '{p}' is not a number")).ToArray();
        }
        if (arg is not null && kind is "sw" or "tersoff" or "eam") Mlip.IO.InputFile.EnsureExists(arg);
        switch (kind)
        {
            case "sw": return arg is null ? StillingerWeber.Silicon() : StillingerWeber.FromFile(arg);
            case "tersoff": return arg is null ? Tersoff.Silicon() : Tersoff.FromFile(arg);
            case "eam": return arg is null ? throw new Mlip.Validation.MlipException("eam needs a setfl file: eam:FILE") : Eam.FromSetfl(arg);
            case "lj": { var v = Numbers(3); return new LennardJones(v[0], v[1], v[2]); }
            case "morse": { var v = Numbers(4); return new Morse(v[0], v[1], v[2], v[3]); }
            case "buck": { var v = Numbers(4); return new Buckingham(v[0], v[1], v[2], v[3]); }
            default: throw new Mlip.Validation.MlipException($"unknown potential '{spec}' (sw, tersoff, eam:FILE, lj:eps,sigma,rc, morse:D0,alpha,r0,rc, buck:A,rho,C,rc)");
        }
    }
}
