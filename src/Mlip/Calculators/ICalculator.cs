using Mlip.Structures;

namespace Mlip.Calculators;

/// <summary>What a calculator gives for one structure: energy (eV), forces (eV/Å), stress (GPa), per-atom energies, and an uncertainty where the model has one.</summary>
public sealed record CalculatorResult(double Energy, Vec3[]? Forces, Stress? Stress, double[]? AtomEnergies = null, double? EnergyVariance = null);

/// <summary>
/// The one seam between physics and simulation: anything that gives the energy, forces and stress of a
/// structure (trained models, classical potentials, reference codes). Simulations see only this.
/// </summary>
public interface ICalculator
{
    /// <summary>Short description for logs ("polynomial(2) on so4", "Stillinger-Weber Si").</summary>
    string Name { get; }

    /// <summary>Elements the calculator can handle (atomic numbers); a structure with others is refused.</summary>
    IReadOnlyList<int> Elements { get; }

    CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true);
}

/// <summary>
/// A calculator that can write the forces into the caller's array (an MD step's), forming nothing else per call: no
/// result record, force array or per-atom energies. MD (MdState) uses it where offered.
/// </summary>
public interface IForceWriter : ICalculator
{
    /// <summary>Energy (eV) and, when <paramref name="stress"/>, stress (GPa) of <paramref name="structure"/>; its forces (eV/Å) written into <paramref name="forces"/> (one per atom).</summary>
    (double Energy, Stress? Stress) CalculateInto(Structure structure, Span<Vec3> forces, bool stress = true);
}
