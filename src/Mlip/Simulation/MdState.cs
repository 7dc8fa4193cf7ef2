using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Simulation;

/// <summary>
/// The dynamical state of an MD run: the structure (cell and positions, Å), velocities (Å/fs),
/// masses (amu), and the energy, forces and stress of the current positions. Arrays are owned by
/// the state and updated in place by the integrators.
/// </summary>
public sealed class MdState
{
    public MdState(Structure structure, double[]? masses = null)
    {
        Structure = structure.Clone();
        Structure.Energy = null; Structure.Forces = null; Structure.Stress = null;
        int n = Structure.Count;
        Masses = masses ?? Array.ConvertAll(Structure.AtomicNumbers, Elements.Mass);
        if (Masses.Length != n) throw new ArgumentException($"expected {n} masses, got {Masses.Length}", nameof(masses));
        Velocities = new Vec3[n];
        if (Structure.AtomArrays.TryGetValue("velocities", out var given) && given.Components == 3 && given.Atoms == n)
            for (int i = 0; i < n; i++) Velocities[i] = new Vec3(given.Values[3 * i], given.Values[3 * i + 1], given.Values[3 * i + 2]);
        Forces = new Vec3[n];
        DegreesOfFreedom = n > 1 ? 3 * n - 3 : 3 * n;
    }

    /// <summary>Cell and positions (Å); velocities start from the structure's per-atom array "velocities" (Å/fs) when it has one, else zero. The integrators move <see cref="Positions"/> in place.</summary>
    public Structure Structure { get; }

    public int Count => Structure.Count;
    public Vec3[] Positions => Structure.Positions;
    public Vec3[] Velocities { get; }
    public double[] Masses { get; }

    /// <summary>Forces (eV/Å) at the current positions.</summary>
    public Vec3[] Forces { get; }

    public double PotentialEnergy { get; set; }

    /// <summary>Stress (GPa, tension-positive) of the calculator at the current positions, without the kinetic part.</summary>
    public Stress? Stress { get; set; }

    /// <summary>Number of degrees of freedom for the temperature: 3N − 3 (centre-of-mass momentum removed) by default.</summary>
    public int DegreesOfFreedom { get; set; }

    public long Step { get; set; }

    /// <summary>Simulated time, fs.</summary>
    public double Time { get; set; }

    public double Volume => Structure.Volume;

    /// <summary>
    /// Whether pressure means something here: periodic on all three axes with a positive, finite volume.
    /// A molecule or cluster in vacuum has none (its <see cref="Pressure"/> is NaN, reported as not applicable).
    /// </summary>
    public bool HasPressure => Structure.Pbc.AllPeriodic && Volume > 0 && double.IsFinite(Volume);

    /// <summary>Atoms per block of the sums over atoms: each block is summed in atom order, the block sums in block order (the same bits on any thread count; up to this many atoms, one serial sum).</summary>
    private const int SumBlock = 1024;

    private bool _hold, _held, _formed;
    private double _heldKinetic;
    private Matrix3 _heldTensor;
    private double[] _partial = [];

    /// <summary>
    /// Until <see cref="ReleaseKinetics"/>, the first request of <see cref="KineticEnergy"/> or <see cref="KineticTensor"/>
    /// forms both in one parallel pass and later requests return them: for the log and the observers after a step, which ask
    /// for them several times (temperature, total and conserved energy, pressure) while the velocities stay as they are.
    /// The same bits as the separate sums.
    /// </summary>
    internal void HoldKinetics()
    {
        _hold = true;
        _held = _formed;
        _formed = false;
    }

    /// <summary>
    /// The last kick of a step, v += (h/m) F in parallel blocks of atoms, with the kinetic energy and tensor of the new
    /// velocities summed in the same pass (the same bits as the kick and the sums apart); the next <see cref="HoldKinetics"/>
    /// serves them, so nothing may change the velocities in between.
    /// </summary>
    internal void KickFormingKinetics(double h)
    {
        var v = Velocities; var m = Masses; var f = Forces;
        var partial = Partials();
        MlipParallel.ForChunks(v.Length, SumBlock, static () => 0, (first, end, _) =>
        {
            for (int i = first; i < end; i++) v[i] += (h * MdUnits.ForceToAcceleration / m[i]) * f[i];
            SumKinetics(v, m, partial, first, end);
        });
        Reduce(partial);
        _formed = true;
    }

    private double[] Partials()
    {
        int blocks = Math.Max(1, (Velocities.Length + SumBlock - 1) / SumBlock);
        if (_partial.Length != 7 * blocks) _partial = new double[7 * blocks];
        return _partial;
    }

    private static void SumKinetics(Vec3[] v, double[] m, double[] partial, int first, int end)
    {
        double k = 0, xx = 0, yy = 0, zz = 0, xy = 0, xz = 0, yz = 0;
        for (int i = first; i < end; i++)
        {
            double mi = m[i]; var vi = v[i];
            k += mi * vi.NormSquared;
            xx += mi * vi.X * vi.X; yy += mi * vi.Y * vi.Y; zz += mi * vi.Z * vi.Z;
            xy += mi * vi.X * vi.Y; xz += mi * vi.X * vi.Z; yz += mi * vi.Y * vi.Z;
        }
        var w = partial.AsSpan(7 * (first / SumBlock), 7);
        w[0] = k; w[1] = xx; w[2] = yy; w[3] = zz; w[4] = xy; w[5] = xz; w[6] = yz;
    }

    /// <summary>The block sums in block order → the held kinetic energy and tensor.</summary>
    private void Reduce(double[] partial)
    {
        int blocks = partial.Length / 7;
        Span<double> t = stackalloc double[7];
        for (int c = 0; c < 7; c++) t[c] = partial[c];
        for (int b = 1; b < blocks; b++)
            for (int c = 0; c < 7; c++) t[c] += partial[7 * b + c];
        double u = MdUnits.EvPerAmuAngstrom2PerFs2;
        _heldKinetic = 0.5 * t[0] * u;
        _heldTensor = new Matrix3(u * t[1], u * t[4], u * t[5], u * t[4], u * t[2], u * t[6], u * t[5], u * t[6], u * t[3]);
    }

    private void FormKinetics()
    {
        var v = Velocities; var m = Masses;
        var partial = Partials();
        MlipParallel.ForChunks(v.Length, SumBlock, static () => 0, (first, end, _) => SumKinetics(v, m, partial, first, end));
        Reduce(partial);
        _held = true;
    }

    /// <summary>Ends <see cref="HoldKinetics"/>: the sums are formed again on each request.</summary>
    internal void ReleaseKinetics() => _hold = _held = _formed = false;

    /// <summary>Kinetic energy Σ ½ m v², eV.</summary>
    public double KineticEnergy
    {
        get
        {
            if (_hold)
            {
                if (!_held) FormKinetics();
                return _heldKinetic;
            }
            var v = Velocities; var m = Masses;
            var partial = new double[Math.Max(1, (v.Length + SumBlock - 1) / SumBlock)];
            MlipParallel.ForChunks(v.Length, SumBlock, static () => 0, (first, end, _) =>
            {
                double k = 0;
                for (int i = first; i < end; i++) k += m[i] * v[i].NormSquared;
                partial[first / SumBlock] = k;
            });
            double sum = partial[0];
            for (int b = 1; b < partial.Length; b++) sum += partial[b];
            return 0.5 * sum * MdUnits.EvPerAmuAngstrom2PerFs2;
        }
    }

    /// <summary>Kinetic tensor Σ m v⊗v, eV.</summary>
    public Matrix3 KineticTensor()
    {
        if (_hold)
        {
            if (!_held) FormKinetics();
            return _heldTensor;
        }
        var v = Velocities; var m = Masses;
        int blocks = Math.Max(1, (v.Length + SumBlock - 1) / SumBlock);
        var partial = new double[6 * blocks];
        MlipParallel.ForChunks(v.Length, SumBlock, static () => 0, (first, end, _) =>
        {
            double xx = 0, yy = 0, zz = 0, xy = 0, xz = 0, yz = 0;
            for (int i = first; i < end; i++)
            {
                double mi = m[i]; var vi = v[i];
                xx += mi * vi.X * vi.X; yy += mi * vi.Y * vi.Y; zz += mi * vi.Z * vi.Z;
                xy += mi * vi.X * vi.Y; xz += mi * vi.X * vi.Z; yz += mi * vi.Y * vi.Z;
            }
            var w = partial.AsSpan(6 * (first / SumBlock), 6);
            w[0] = xx; w[1] = yy; w[2] = zz; w[3] = xy; w[4] = xz; w[5] = yz;
        });
        Span<double> t = stackalloc double[6];
        for (int c = 0; c < 6; c++) t[c] = partial[c];
        for (int b = 1; b < blocks; b++)
            for (int c = 0; c < 6; c++) t[c] += partial[6 * b + c];
        double u = MdUnits.EvPerAmuAngstrom2PerFs2;
        return new Matrix3(u * t[0], u * t[3], u * t[4], u * t[3], u * t[1], u * t[5], u * t[4], u * t[5], u * t[2]);
    }

    /// <summary>Instantaneous temperature 2 E_kin / (N_f k_B), K.</summary>
    public double Temperature => DegreesOfFreedom > 0 ? 2 * KineticEnergy / (DegreesOfFreedom * MdUnits.Boltzmann) : 0;

    public double TotalEnergy => PotentialEnergy + KineticEnergy;

    /// <summary>
    /// Instantaneous pressure tensor (GPa, compression-positive): P = (Σ m v⊗v)/V − σ, the kinetic
    /// (ideal-gas) part plus the calculator's static part.
    /// </summary>
    public Matrix3 PressureTensor()
    {
        var kin = (MdUnits.GpaPerEvPerCubicAngstrom / Volume) * KineticTensor();
        var sigma = (Stress ?? Structures.Stress.Zero).ToMatrix();
        return kin - sigma;
    }

    /// <summary>Instantaneous scalar pressure, GPa: trace of <see cref="PressureTensor"/> / 3, i.e. −trace(σ)/3 + 2E_kin/(3V); NaN without <see cref="HasPressure"/>.</summary>
    public double Pressure => HasPressure ? PressureTensor().Trace / 3.0 : double.NaN;

    /// <summary>Total momentum Σ m v, amu·Å/fs.</summary>
    public Vec3 Momentum()
    {
        double x = 0, y = 0, z = 0;
        for (int i = 0; i < Count; i++) { x += Masses[i] * Velocities[i].X; y += Masses[i] * Velocities[i].Y; z += Masses[i] * Velocities[i].Z; }
        return new Vec3(x, y, z);
    }

    /// <summary>Subtracts the centre-of-mass velocity from every atom.</summary>
    public void RemoveCenterOfMassMotion()
    {
        double mt = 0;
        foreach (double m in Masses) mt += m;
        var vcm = Momentum() / mt;
        for (int i = 0; i < Count; i++) Velocities[i] -= vcm;
    }

    /// <summary>Phase times of the running <see cref="MolecularDynamics"/> loop (the force calls are timed here), or null.</summary>
    public MdPhaseTimes? Phases { get; set; }

    /// <summary>Evaluates energy, forces and stress of the current positions with <paramref name="calculator"/>.</summary>
    public void ComputeForces(ICalculator calculator, bool stress = true)
    {
        if (Phases is { } ph)
        {
            var mark = ph.Start();
            Evaluate(calculator, stress);
            ph.Stop(MdPhaseTimes.Phase.Forces, mark);
        }
        else Evaluate(calculator, stress);
    }

    private void Evaluate(ICalculator calculator, bool stress)
    {
        if (calculator is IForceWriter writer)
        {
            (PotentialEnergy, Stress) = writer.CalculateInto(Structure, Forces, stress);
            return;
        }
        var r = calculator.Calculate(Structure, forces: true, stress: stress);
        if (r.Forces is null) throw new InvalidOperationException($"calculator {calculator.Name} gave no forces");
        PotentialEnergy = r.Energy;
        Array.Copy(r.Forces, Forces, Count);
        Stress = r.Stress;
    }

    /// <summary>A snapshot as a labelled structure (energy, forces, stress, velocities in Å/fs as the per-atom array "velocities").</summary>
    public Structure Snapshot()
    {
        var s = Structure.Clone();
        s.Energy = PotentialEnergy;
        s.Forces = (Vec3[])Forces.Clone();
        s.Stress = Stress;
        var v = new double[3 * Count];
        for (int i = 0; i < Count; i++) { v[3 * i] = Velocities[i].X; v[3 * i + 1] = Velocities[i].Y; v[3 * i + 2] = Velocities[i].Z; }
        s.AtomArrays["velocities"] = new AtomArray(Count, 3, v);
        s.Info["step"] = Step;
        s.Info["time_fs"] = Time;
        s.Info["temperature_K"] = Temperature;
        return s;
    }
}
