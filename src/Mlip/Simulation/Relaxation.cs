using System.Globalization;
using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>Which optimizer moves the (generalized) coordinates.</summary>
public enum RelaxAlgorithm { Fire, Lbfgs }

/// <summary>What the cell may do during a relaxation.</summary>
public enum CellRelaxation
{
    /// <summary>Cell fixed; atomic positions only.</summary>
    None,
    /// <summary>All six strain components (shape and volume), rotations projected out.</summary>
    Full,
    /// <summary>Fixed shape: isotropic scaling only.</summary>
    Isotropic,
}

/// <summary>Settings of <see cref="Relaxation.Relax"/>. Forces in eV/Å, stresses and pressure in GPa.</summary>
public sealed record RelaxOptions
{
    public RelaxAlgorithm Algorithm { get; init; } = RelaxAlgorithm.Fire;
    public CellRelaxation Cell { get; init; } = CellRelaxation.None;
    /// <summary>Keep the volume (to first order per step): the hydrostatic part of the cell force is removed.</summary>
    public bool FixVolume { get; init; }
    /// <summary>Target hydrostatic pressure (GPa, positive = compression); the target stress is −P·I.</summary>
    public double Pressure { get; init; }
    /// <summary>Converged when the largest atomic force is below this (eV/Å) ...</summary>
    public double Fmax { get; init; } = 0.01;
    /// <summary>... and the largest relaxed stress component |σ − σ_target| is below this (GPa).</summary>
    public double Smax { get; init; } = 0.01;
    public int MaxSteps { get; init; } = 1000;
    /// <summary>Largest move of one atom (or one cell row, in scaled units) per step, Å.</summary>
    public double MaxStep { get; init; } = 0.2;
    /// <summary>Scale of the cell coordinates (ASE's cell_factor); null = number of atoms.</summary>
    public double? CellFactor { get; init; }
    /// <summary>L-BFGS memory and initial inverse-Hessian 1/alpha (eV/Å², as ASE).</summary>
    public int LbfgsMemory { get; init; } = 100;
    public double LbfgsAlpha { get; init; } = 70.0;
    /// <summary>One line per step: step, energy, fmax, smax.</summary>
    public TextWriter? Log { get; init; }
    public IProgress<RelaxStep>? Progress { get; init; }
}

/// <summary>One optimizer step: energy (eV; enthalpy E + PV when a pressure is set), max force (eV/Å), max stress residual (GPa).</summary>
public sealed record RelaxStep(int Step, double Energy, double Fmax, double Smax);

/// <summary>Outcome of a relaxation. <see cref="Structure"/> is the relaxed copy; the input is not modified.</summary>
public sealed record RelaxResult(
    Structure Structure, double Energy, double Enthalpy, double Fmax, double Smax, Stress? Stress,
    int Steps, bool Converged, IReadOnlyList<RelaxStep> History)
{
    public double Volume => Structure.Volume;
}

/// <summary>
/// Structure relaxation with FIRE or L-BFGS. Positions and, optionally, the cell are the generalized
/// coordinates of ASE's UnitCellFilter: x = (r0_i, f·D) with r = r0·D, cell = cell0·D (row vectors), D the
/// deformation gradient and f the cell factor. The generalized forces are F_i·Dᵀ on the atoms and
/// −V D⁻ᵀ (σ − σ_target) / f on the cell (σ in eV/Å³, σ_target = −P·I), i.e. minus the gradient of the
/// enthalpy H = E + PV. Fixed shape keeps only the trace of the cell force; fixed volume removes it.
/// </summary>
public static class Relaxation
{
    public static RelaxResult Relax(ICalculator calculator, Structure structure, RelaxOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        ArgumentNullException.ThrowIfNull(structure);
        var o = options ?? new RelaxOptions();
        var problem = new Problem(calculator, structure, o);
        var x = problem.Initial();
        IStepper stepper = o.Algorithm == RelaxAlgorithm.Fire ? new Fire(o.MaxStep) : new Lbfgs(o.MaxStep, o.LbfgsMemory, o.LbfgsAlpha);
        var history = new List<RelaxStep>();
        bool converged = false;
        int step = 0;
        Evaluation ev;
        while (true)
        {
            ev = problem.Evaluate(x);
            var rs = new RelaxStep(step, ev.Enthalpy, ev.Fmax, ev.Smax);
            history.Add(rs);
            o.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(o.Algorithm == RelaxAlgorithm.Fire ? "FIRE" : "LBFGS")} {step,5} {ev.Enthalpy,18:F8} fmax {ev.Fmax,12:E4} smax {ev.Smax,12:E4}"));
            o.Progress?.Report(rs);
            if (ev.Fmax < o.Fmax && ev.Smax < o.Smax) { converged = true; break; }
            if (step >= o.MaxSteps) break;
            stepper.Step(x, ev.Gradient, ev.Enthalpy);
            problem.Project(x);
            step++;
        }
        var final = problem.Build(x);
        return new RelaxResult(final, ev.Energy, ev.Enthalpy, ev.Fmax, ev.Smax, ev.Stress, step, converged, history);
    }

    internal sealed record Evaluation(double Energy, double Enthalpy, double[] Gradient, double Fmax, double Smax, Stress? Stress);

    /// <summary>Generalized coordinates and forces (ASE's filter idea).</summary>
    private sealed class Problem
    {
        private readonly ICalculator _calc;
        private readonly Structure _ref;
        private readonly RelaxOptions _o;
        private readonly int _n;
        private readonly double _factor;
        private readonly bool _cell;

        public Problem(ICalculator calc, Structure s, RelaxOptions o)
        {
            _calc = calc; _ref = s; _o = o; _n = s.Count;
            _cell = o.Cell != CellRelaxation.None && !(o.Cell == CellRelaxation.Isotropic && o.FixVolume);
            if (_cell && !s.HasCell) throw new ArgumentException("cell relaxation needs a periodic cell", nameof(s));
            _factor = o.CellFactor ?? Math.Max(1, s.Count);
        }

        public double[] Initial()
        {
            var x = new double[3 * _n + (_cell ? 9 : 0)];
            for (int i = 0; i < _n; i++) { var r = _ref.Positions[i]; x[3 * i] = r.X; x[3 * i + 1] = r.Y; x[3 * i + 2] = r.Z; }
            if (_cell) { x[3 * _n] = _factor; x[3 * _n + 4] = _factor; x[3 * _n + 8] = _factor; }
            return x;
        }

        /// <summary>With fixed volume, rescales D to det D = 1 so the volume is kept exactly, not only to first order.</summary>
        public void Project(double[] x)
        {
            if (!_cell || !_o.FixVolume) return;
            double det = Deformation(x).Determinant;
            if (det <= 0) return;
            double c = Math.Cbrt(1.0 / det);
            for (int k = 0; k < 9; k++) x[3 * _n + k] *= c;
        }

        private Matrix3 Deformation(double[] x) => _cell
            ? (1.0 / _factor) * Matrix3.FromArray(x.AsSpan(3 * _n, 9))
            : Matrix3.Identity;

        public Structure Build(double[] x)
        {
            var d = Deformation(x);
            var s = _ref.Clone();
            s.Energy = null; s.Forces = null; s.Stress = null;
            s.Cell = _ref.Cell * d;
            for (int i = 0; i < _n; i++) s.Positions[i] = new Vec3(x[3 * i], x[3 * i + 1], x[3 * i + 2]) * d;
            return s;
        }

        public Evaluation Evaluate(double[] x)
        {
            var s = Build(x);
            var d = Deformation(x);
            var res = _calc.Calculate(s, forces: true, stress: _cell || s.HasCell && _o.Cell != CellRelaxation.None);
            var f = res.Forces ?? throw new InvalidOperationException($"{_calc.Name} gave no forces");
            var g = new double[x.Length];
            double fmax2 = 0;
            var dt = d.Transpose();
            for (int i = 0; i < _n; i++)
            {
                fmax2 = Math.Max(fmax2, f[i].NormSquared);
                var gf = f[i] * dt; // dE/dr0 = dE/dr · Dᵀ  (row vectors)
                g[3 * i] = gf.X; g[3 * i + 1] = gf.Y; g[3 * i + 2] = gf.Z;
            }
            double volume = s.Volume;
            double p = _o.Pressure / Stress.EvPerCubicAngstromInGpa;
            double enthalpy = res.Energy + (_o.Cell != CellRelaxation.None ? p * volume : 0.0);
            double smax = 0;
            if (_cell)
            {
                var st = res.Stress ?? throw new InvalidOperationException($"{_calc.Name} gave no stress");
                var sigma = st.ToEvPerCubicAngstrom() + p * Matrix3.Identity; // σ − σ_target
                if (_o.Cell == CellRelaxation.Isotropic) sigma = (sigma.Trace / 3) * Matrix3.Identity;
                else if (_o.FixVolume) sigma = sigma - (sigma.Trace / 3) * Matrix3.Identity;
                var cellForce = (-volume / _factor) * (d.Inverse().Transpose() * sigma);
                if (_o.Cell == CellRelaxation.Isotropic) cellForce = (cellForce.Trace / 3) * Matrix3.Identity;
                else
                {
                    cellForce = 0.5 * (cellForce + cellForce.Transpose());
                    if (_o.FixVolume) cellForce = cellForce - (cellForce.Trace / 3) * Matrix3.Identity;
                }
                var a = cellForce.ToArray();
                for (int k = 0; k < 9; k++) g[3 * _n + k] = a[k];
                var sa = sigma.ToArray();
                foreach (double v in sa) smax = Math.Max(smax, Math.Abs(v) * Stress.EvPerCubicAngstromInGpa);
            }
            return new Evaluation(res.Energy, enthalpy, g, Math.Sqrt(fmax2), smax, res.Stress);
        }
    }

    internal interface IStepper
    {
        /// <summary>Moves x given the generalized forces f (= −gradient) and the current objective.</summary>
        void Step(double[] x, double[] f, double energy);
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Scales dr so that no 3-vector block (an atom or a cell row) moves more than maxStep.</summary>
    private static void LimitStep(double[] dr, double maxStep)
    {
        double m = 0;
        for (int i = 0; i + 2 < dr.Length; i += 3)
            m = Math.Max(m, Math.Sqrt(dr[i] * dr[i] + dr[i + 1] * dr[i + 1] + dr[i + 2] * dr[i + 2]));
        if (m > maxStep) { double s = maxStep / m; for (int i = 0; i < dr.Length; i++) dr[i] *= s; }
    }

    /// <summary>FIRE (Bitzek et al., PRL 97, 170201 (2006)) with ASE's standard parameters.</summary>
    internal sealed class Fire(double maxStep) : IStepper
    {
        private const double DtStart = 0.1, DtMax = 1.0, FInc = 1.1, FDec = 0.5, AStart = 0.1, FAlpha = 0.99;
        private const int NMin = 5;
        private double[]? _v;
        private double _dt = DtStart, _a = AStart;
        private int _nPositive;

        public void Step(double[] x, double[] f, double energy)
        {
            if (_v is null) _v = new double[x.Length];
            else
            {
                double vf = Dot(f, _v);
                if (vf > 0)
                {
                    double vn = Math.Sqrt(Dot(_v, _v)), fn = Math.Sqrt(Dot(f, f));
                    double c = fn > 0 ? _a * vn / fn : 0;
                    for (int i = 0; i < _v.Length; i++) _v[i] = (1 - _a) * _v[i] + c * f[i];
                    if (_nPositive > NMin) { _dt = Math.Min(_dt * FInc, DtMax); _a *= FAlpha; }
                    _nPositive++;
                }
                else
                {
                    Array.Clear(_v);
                    _a = AStart;
                    _dt *= FDec;
                    _nPositive = 0;
                }
            }
            var dr = new double[x.Length];
            for (int i = 0; i < _v.Length; i++) { _v[i] += _dt * f[i]; dr[i] = _dt * _v[i]; }
            double norm = Math.Sqrt(Dot(dr, dr));
            if (norm > maxStep) for (int i = 0; i < dr.Length; i++) dr[i] *= maxStep / norm;
            for (int i = 0; i < x.Length; i++) x[i] += dr[i];
        }
    }

    /// <summary>
    /// L-BFGS as ASE's: two-loop recursion with initial inverse Hessian 1/alpha, step limited so that no
    /// atom moves more than maxStep (a trust radius). Safeguards: pairs with yᵀs ≤ 0 are skipped, and the
    /// memory is cleared (steepest-descent restart) when the energy rises or the direction is uphill.
    /// </summary>
    private sealed class Lbfgs(double maxStep, int memory, double alpha) : IStepper
    {
        private readonly List<(double[] S, double[] Y, double Rho)> _mem = [];
        private double[]? _x0, _f0;
        private double _e0 = double.PositiveInfinity;

        public void Step(double[] x, double[] f, double energy)
        {
            if (_x0 is not null && _f0 is not null)
            {
                if (energy > _e0 + 1e-10 * Math.Max(1, Math.Abs(_e0))) _mem.Clear();
                else
                {
                    var s = new double[x.Length]; var y = new double[x.Length];
                    for (int i = 0; i < x.Length; i++) { s[i] = x[i] - _x0[i]; y[i] = _f0[i] - f[i]; }
                    double ys = Dot(y, s);
                    if (ys > 1e-14)
                    {
                        _mem.Add((s, y, 1.0 / ys));
                        if (_mem.Count > memory) _mem.RemoveAt(0);
                    }
                }
            }
            int m = _mem.Count;
            var a = new double[m];
            var q = new double[x.Length];
            for (int i = 0; i < q.Length; i++) q[i] = -f[i];
            for (int k = m - 1; k >= 0; k--)
            {
                var (s, y, rho) = _mem[k];
                a[k] = rho * Dot(s, q);
                for (int i = 0; i < q.Length; i++) q[i] -= a[k] * y[i];
            }
            var z = q;
            for (int i = 0; i < z.Length; i++) z[i] /= alpha;
            for (int k = 0; k < m; k++)
            {
                var (s, y, rho) = _mem[k];
                double b = rho * Dot(y, z);
                for (int i = 0; i < z.Length; i++) z[i] += s[i] * (a[k] - b);
            }
            var dr = new double[x.Length];
            for (int i = 0; i < dr.Length; i++) dr[i] = -z[i];
            if (Dot(dr, f) <= 0)
            {
                _mem.Clear();
                for (int i = 0; i < dr.Length; i++) dr[i] = f[i] / alpha;
            }
            LimitStep(dr, maxStep);
            _x0 = (double[])x.Clone();
            _f0 = (double[])f.Clone();
            _e0 = energy;
            for (int i = 0; i < x.Length; i++) x[i] += dr[i];
        }
    }
}
