using System.Globalization;
using System.Numerics;
using Mlip.Calculators;
using Mlip.Numerics;
using Mlip.Reporting;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Simulation;

/// <summary>How the force constants are computed: supercell of the given cell, displacement amplitude (Å).</summary>
public sealed record PhononOptions
{
    /// <summary>Repeats of the given cell along a, b, c.</summary>
    public int[] Supercell { get; init; } = [3, 3, 3];

    /// <summary>Displacement amplitude in Å (every atom of the cell is moved by ± this along x, y, z).</summary>
    public double Displacement { get; init; } = 0.01;

    /// <summary>Relax the atomic positions of the cell before displacing (fixed cell).</summary>
    public bool RelaxPositions { get; init; }

    /// <summary>Force criterion for that relaxation (eV/Å).</summary>
    public double RelaxFmax { get; init; } = 1e-5;
}

/// <summary>A labelled q-point of a band path, fractional coordinates of the reciprocal cell of the unit cell.</summary>
public sealed record BandPoint(string Label, double[] Q);

/// <summary>Phonon bands: q-points (fractional), path distance (Å⁻¹, 2π included), frequencies (THz, negative for imaginary).</summary>
public sealed record PhononBandStructure(double[][] QPoints, double[] Distances, double[][] FrequenciesThz, string[] Labels, double[] LabelDistances);

/// <summary>Phonon density of states on a Monkhorst–Pack mesh with Gaussian broadening (states/THz per unit cell; integrates to 3N).</summary>
public sealed record PhononDos(int[] Mesh, double SigmaThz, double[] FrequenciesThz, double[] Dos);

/// <summary>
/// Harmonic force constants Φ_{iα,jβ}(R) (eV/Å²) of a unit cell from finite displacements in a supercell,
/// and the dynamical matrix built from them.
/// </summary>
/// <remarks>
/// D_{iα,jβ}(q) = Σ_R Φ_{iα,jβ}(0,R) e^{iq·R} / √(m_i m_j), R the lattice vector of the supercell image of
/// atom j nearest to atom i (minimum image); where several images tie on the Wigner–Seitz boundary of
/// the supercell each takes an equal share, as phonopy does. Eigenvalues ω² in eV/(Å² amu) become THz
/// through the CODATA eV, amu and Å.
/// </remarks>
public sealed class ForceConstants
{
    /// <summary>√(eV/(Å² amu)) in rad/s: ω = √λ · this.</summary>
    public static readonly double AngularFrequencyUnit = Math.Sqrt(1.602176634e-19 / (1e-20 * 1.66053906660e-27));

    /// <summary>Converts an eigenvalue of the dynamical matrix (eV/(Å² amu)) to a frequency in THz; negative for imaginary modes.</summary>
    public static double ToTerahertz(double eigenvalue) =>
        Math.Sign(eigenvalue) * Math.Sqrt(Math.Abs(eigenvalue)) * AngularFrequencyUnit / (2 * Math.PI) / 1e12;

    private readonly int _nat, _ncell, _nsc;
    private readonly double[] _fc;            // [((i*3+a)*nsc + J)*3 + b]
    private readonly double[] _masses;
    private readonly int[] _imageStart;       // per (i, c, j): start into _imageR/_imageWeight
    private readonly Vec3[] _imageR;
    private readonly double[] _imageWeight;

    internal ForceConstants(Structure unitCell, int[] supercell, double[] fc)
    {
        UnitCell = unitCell;
        Supercell = supercell;
        _nat = unitCell.Count;
        _ncell = supercell[0] * supercell[1] * supercell[2];
        _nsc = _nat * _ncell;
        _fc = fc;
        _masses = new double[_nat];
        for (int i = 0; i < _nat; i++) _masses[i] = Elements.Mass(unitCell.AtomicNumbers[i]);
        (_imageStart, _imageR, _imageWeight) = BuildImages();
    }

    public Structure UnitCell { get; }
    public int[] Supercell { get; }
    public int Atoms => _nat;

    /// <summary>Φ_{iα, Jβ} in eV/Å²: i an atom of the unit cell (cell 0), J = cell·N + j an atom of the supercell.</summary>
    public double this[int i, int alpha, int superAtom, int beta] => _fc[((i * 3 + alpha) * _nsc + superAtom) * 3 + beta];

    private Vec3 CellTranslation(int c)
    {
        int nb = Supercell[1], nc = Supercell[2];
        int ia = c / (nb * nc), ib = c / nc % nb, ic = c % nc;
        return ia * UnitCell.Cell.Row(0) + ib * UnitCell.Cell.Row(1) + ic * UnitCell.Cell.Row(2);
    }

    private (int[], Vec3[], double[]) BuildImages()
    {
        var sa = Supercell[0] * UnitCell.Cell.Row(0);
        var sb = Supercell[1] * UnitCell.Cell.Row(1);
        var sc = Supercell[2] * UnitCell.Cell.Row(2);
        const double tol = 1e-4; // Å
        var start = new int[_nat * _ncell * _nat + 1];
        var rs = new List<Vec3>();
        var ws = new List<double>();
        var found = new List<Vec3>();
        for (int i = 0; i < _nat; i++)
            for (int c = 0; c < _ncell; c++)
            {
                var rc = CellTranslation(c);
                for (int j = 0; j < _nat; j++)
                {
                    start[(i * _ncell + c) * _nat + j] = rs.Count;
                    var d0 = UnitCell.Positions[j] + rc - UnitCell.Positions[i];
                    double best = double.PositiveInfinity;
                    found.Clear();
                    for (int n1 = -2; n1 <= 2; n1++)
                        for (int n2 = -2; n2 <= 2; n2++)
                            for (int n3 = -2; n3 <= 2; n3++)
                            {
                                var l = n1 * sa + n2 * sb + n3 * sc;
                                double len = (d0 + l).Norm;
                                if (len < best - tol) { best = len; found.Clear(); found.Add(rc + l); }
                                else if (len <= best + tol) found.Add(rc + l);
                            }
                    // drop images that were kept before a shorter one narrowed the window
                    int kept = 0;
                    foreach (var r in found) if ((UnitCell.Positions[j] + r - UnitCell.Positions[i]).Norm <= best + tol) kept++;
                    foreach (var r in found)
                        if ((UnitCell.Positions[j] + r - UnitCell.Positions[i]).Norm <= best + tol) { rs.Add(r); ws.Add(1.0 / kept); }
                }
            }
        start[^1] = rs.Count;
        return (start, [.. rs], [.. ws]);
    }

    /// <summary>Cartesian q (rad/Å) of a fractional q of the unit cell's reciprocal lattice.</summary>
    public Vec3 Cartesian(double[] qFractional) => 2 * Math.PI * (UnitCell.Cell.Inverse() * new Vec3(qFractional[0], qFractional[1], qFractional[2]));

    /// <summary>The 3N × 3N dynamical matrix (row-major, eV/(Å² amu)) at a fractional q.</summary>
    public Complex[] DynamicalMatrix(double[] qFractional)
    {
        var q = Cartesian(qFractional);
        int n = 3 * _nat;
        var d = new Complex[n * n];
        for (int i = 0; i < _nat; i++)
            for (int c = 0; c < _ncell; c++)
                for (int j = 0; j < _nat; j++)
                {
                    int k = (i * _ncell + c) * _nat + j;
                    Complex phase = Complex.Zero;
                    for (int m = _imageStart[k]; m < _imageStart[k + 1]; m++)
                        phase += _imageWeight[m] * Complex.FromPolarCoordinates(1.0, Vec3.Dot(q, _imageR[m]));
                    phase /= Math.Sqrt(_masses[i] * _masses[j]);
                    int J = c * _nat + j;
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++)
                            d[(3 * i + a) * n + 3 * j + b] += this[i, a, J, b] * phase;
                }
        return d;
    }

    /// <summary>Frequencies (THz, ascending, negative for imaginary) at a fractional q.</summary>
    public double[] FrequenciesThz(double[] qFractional)
    {
        var ev = SymmetricEigen.HermitianEigenvalues(DynamicalMatrix(qFractional), 3 * _nat);
        var f = new double[ev.Length];
        for (int k = 0; k < f.Length; k++) f[k] = ToTerahertz(ev[k]);
        return f;
    }
}

/// <summary>Phonons by finite displacements: force constants, band structures, densities of states, plots.</summary>
public static class Phonons
{
    /// <summary>
    /// Displaces every atom of <paramref name="unitCell"/> by ±h along x, y, z inside the supercell,
    /// Φ_{iα,Jβ} = −(F⁺_{Jβ} − F⁻_{Jβ}) / 2h; then symmetrises Φ_{iα,Jβ} with Φ_{jβ,Iα} (the same pair seen
    /// from atom j) and imposes the acoustic sum rule Φ_{iα,iβ} = −Σ_{J≠i} Φ_{iα,Jβ}.
    /// </summary>
    public static ForceConstants ComputeForceConstants(ICalculator calculator, Structure unitCell, PhononOptions? options = null)
    {
        options ??= new PhononOptions();
        var sc = options.Supercell;
        if (sc is not { Length: 3 } || sc[0] < 1 || sc[1] < 1 || sc[2] < 1) throw new MlipException("the supercell needs three repeats >= 1");
        if (!(options.Displacement > 0) || !double.IsFinite(options.Displacement)) throw new MlipException("the displacement must be a positive number of Å");
        if (!unitCell.HasCell || !(unitCell.Pbc.A && unitCell.Pbc.B && unitCell.Pbc.C)) throw new MlipException("phonons need a cell periodic in all three directions");
        foreach (int z in unitCell.AtomicNumbers) // an empty list means any element (pair potentials)
            if (calculator.Elements.Count > 0 && !calculator.Elements.Contains(z)) throw new MlipException($"{calculator.Name} does not handle {Elements.Symbol(z)}");
        var cell = unitCell.Clone();
        cell.Energy = null; cell.Forces = null; cell.Stress = null;
        if (options.RelaxPositions)
            cell = Relaxation.Relax(calculator, cell, new RelaxOptions { Algorithm = RelaxAlgorithm.Lbfgs, Fmax = options.RelaxFmax, MaxSteps = 2000 }).Structure;

        int nat = cell.Count, ncell = sc[0] * sc[1] * sc[2], nsc = nat * ncell;
        var super = Crystals.Supercell(cell, sc[0], sc[1], sc[2]);
        double h = options.Displacement;
        var raw = new double[nat * 3 * nsc * 3];
        for (int i = 0; i < nat; i++)
            for (int a = 0; a < 3; a++)
            {
                var fp = DisplacedForces(calculator, super, i, a, +h);
                var fm = DisplacedForces(calculator, super, i, a, -h);
                for (int J = 0; J < nsc; J++)
                    for (int b = 0; b < 3; b++)
                        raw[((i * 3 + a) * nsc + J) * 3 + b] = -(fp[J][b] - fm[J][b]) / (2 * h);
            }

        // Φ(i in cell 0, α; j in cell c, β) = Φ(j in cell 0, β; i in cell −c, α)
        int nb = sc[1], nc = sc[2];
        var fc = new double[raw.Length];
        for (int i = 0; i < nat; i++)
            for (int c = 0; c < ncell; c++)
            {
                int ia = c / (nb * nc), ib = c / nc % nb, ic = c % nc;
                int mc = ((sc[0] - ia) % sc[0] * nb + (nb - ib) % nb) * nc + (nc - ic) % nc;
                for (int j = 0; j < nat; j++)
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++)
                            fc[((i * 3 + a) * nsc + c * nat + j) * 3 + b] = 0.5 * (
                                raw[((i * 3 + a) * nsc + c * nat + j) * 3 + b] +
                                raw[((j * 3 + b) * nsc + mc * nat + i) * 3 + a]);
            }

        // acoustic sum rule on the self term, kept symmetric in α, β
        for (int i = 0; i < nat; i++)
        {
            var self = new double[9];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                {
                    double sum = 0;
                    for (int J = 0; J < nsc; J++)
                        if (J != i) sum += fc[((i * 3 + a) * nsc + J) * 3 + b];
                    self[a * 3 + b] = -sum;
                }
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    fc[((i * 3 + a) * nsc + i) * 3 + b] = 0.5 * (self[a * 3 + b] + self[b * 3 + a]);
        }
        return new ForceConstants(cell, (int[])sc.Clone(), fc);
    }

    private static Vec3[] DisplacedForces(ICalculator calculator, Structure super, int atom, int axis, double h)
    {
        var s = super.Clone();
        var d = axis switch { 0 => new Vec3(h, 0, 0), 1 => new Vec3(0, h, 0), _ => new Vec3(0, 0, h) };
        s.Positions[atom] += d;
        var f = calculator.Calculate(s, forces: true, stress: false).Forces
            ?? throw new MlipException($"{calculator.Name} gave no forces");
        return f;
    }

    /// <summary>Frequencies along consecutive segments of <paramref name="path"/>, <paramref name="pointsPerSegment"/> points per segment (ends included).</summary>
    public static PhononBandStructure Bands(ForceConstants fc, IReadOnlyList<BandPoint> path, int pointsPerSegment = 50)
    {
        if (path.Count < 2) throw new MlipException("a band path needs at least two q-points");
        if (pointsPerSegment < 2) throw new MlipException("a band segment needs at least two points");
        var qs = new List<double[]>();
        var dist = new List<double>();
        var freq = new List<double[]>();
        var labelDist = new double[path.Count];
        double total = 0;
        Vec3? prev = null;
        for (int s = 0; s + 1 < path.Count; s++)
        {
            var q0 = path[s].Q; var q1 = path[s + 1].Q;
            for (int k = 0; k < pointsPerSegment; k++)
            {
                double t = (double)k / (pointsPerSegment - 1);
                double[] q = [q0[0] + t * (q1[0] - q0[0]), q0[1] + t * (q1[1] - q0[1]), q0[2] + t * (q1[2] - q0[2])];
                var qc = fc.Cartesian(q);
                if (prev is Vec3 p) total += (qc - p).Norm;
                prev = qc;
                if (k == 0) labelDist[s] = total;
                qs.Add(q); dist.Add(total); freq.Add(fc.FrequenciesThz(q));
            }
        }
        labelDist[^1] = total;
        return new PhononBandStructure([.. qs], [.. dist], [.. freq], [.. path.Select(p => p.Label)], labelDist);
    }

    /// <summary>Monkhorst–Pack q-points (r − (N+1)/2)/N ... as fractional coordinates.</summary>
    public static double[][] MonkhorstPack(int[] mesh)
    {
        if (mesh is not { Length: 3 } || mesh[0] < 1 || mesh[1] < 1 || mesh[2] < 1) throw new MlipException("a q-mesh needs three sizes >= 1");
        var q = new double[mesh[0] * mesh[1] * mesh[2]][];
        int k = 0;
        for (int r1 = 1; r1 <= mesh[0]; r1++)
            for (int r2 = 1; r2 <= mesh[1]; r2++)
                for (int r3 = 1; r3 <= mesh[2]; r3++)
                    q[k++] = [(2.0 * r1 - mesh[0] - 1) / (2 * mesh[0]), (2.0 * r2 - mesh[1] - 1) / (2 * mesh[1]), (2.0 * r3 - mesh[2] - 1) / (2 * mesh[2])];
        return q;
    }

    /// <summary>Density of states on a Monkhorst–Pack mesh, Gaussians of width <paramref name="sigmaThz"/>, normalised to 3N per unit cell.</summary>
    public static PhononDos Dos(ForceConstants fc, int[] mesh, double sigmaThz = 0.1, int bins = 500)
    {
        if (!(sigmaThz > 0)) throw new MlipException("the DOS broadening must be positive");
        var qs = MonkhorstPack(mesh);
        var all = new double[qs.Length][];
        Parallel.For(0, qs.Length, k => all[k] = fc.FrequenciesThz(qs[k]));
        double lo = 0, hi = 0;
        foreach (var f in all) foreach (double v in f) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        lo -= 5 * sigmaThz; hi += 5 * sigmaThz;
        var x = new double[bins];
        var y = new double[bins];
        double norm = 1.0 / (qs.Length * sigmaThz * Math.Sqrt(2 * Math.PI));
        for (int b = 0; b < bins; b++)
        {
            x[b] = lo + (hi - lo) * b / (bins - 1);
            double sum = 0;
            foreach (var f in all)
                foreach (double v in f)
                {
                    double u = (x[b] - v) / sigmaThz;
                    if (u * u < 50) sum += Math.Exp(-0.5 * u * u);
                }
            y[b] = sum * norm;
        }
        return new PhononDos((int[])mesh.Clone(), sigmaThz, x, y);
    }

    // ----- paths -----

    private static readonly Dictionary<string, double[]> FccPoints = new(StringComparer.OrdinalIgnoreCase)
    {
        ["G"] = [0, 0, 0], ["X"] = [0, 1, 0], ["W"] = [0.5, 1, 0], ["K"] = [0.75, 0.75, 0], ["L"] = [0.5, 0.5, 0.5], ["U"] = [0.25, 1, 0.25],
    };
    private static readonly Dictionary<string, double[]> BccPoints = new(StringComparer.OrdinalIgnoreCase)
    {
        ["G"] = [0, 0, 0], ["H"] = [0, 1, 0], ["N"] = [0.5, 0.5, 0], ["P"] = [0.5, 0.5, 0.5],
    };
    private static readonly Dictionary<string, double[]> ScPoints = new(StringComparer.OrdinalIgnoreCase)
    {
        ["G"] = [0, 0, 0], ["X"] = [0, 0.5, 0], ["M"] = [0.5, 0.5, 0], ["R"] = [0.5, 0.5, 0.5],
    };

    /// <summary>
    /// The cubic lattice a cell belongs to ("fcc", "bcc", "sc") and the integer matrix M with
    /// conventional cubic cell = M · cell; null when the cell is not one of these.
    /// </summary>
    public static (string Lattice, Matrix3 ToConventional)? CubicLattice(Structure s)
    {
        var a = s.Cell.Row(0); var b = s.Cell.Row(1); var c = s.Cell.Row(2);
        double la = a.Norm, lb = b.Norm, lc = c.Norm;
        const double tol = 1e-3;
        if (Math.Abs(la - lb) > tol * la || Math.Abs(la - lc) > tol * la) return null;
        double cab = Vec3.Dot(a, b) / (la * lb), cbc = Vec3.Dot(b, c) / (lb * lc), cca = Vec3.Dot(c, a) / (lc * la);
        bool All(double v) => Math.Abs(cab - v) < tol && Math.Abs(cbc - v) < tol && Math.Abs(cca - v) < tol;
        if (All(0.5)) return ("fcc", new Matrix3(-1, 1, 1, 1, -1, 1, 1, 1, -1));
        if (All(-1.0 / 3)) return ("bcc", new Matrix3(0, 1, 1, 1, 0, 1, 1, 1, 0));
        if (!All(0)) return null;
        if (IsCentred(s, [new Vec3(0, 0.5, 0.5), new Vec3(0.5, 0, 0.5), new Vec3(0.5, 0.5, 0)])) return ("fcc", Matrix3.Identity);
        if (IsCentred(s, [new Vec3(0.5, 0.5, 0.5)])) return ("bcc", Matrix3.Identity);
        return ("sc", Matrix3.Identity);
    }

    private static bool IsCentred(Structure s, Vec3[] shifts)
    {
        var f = s.FractionalPositions();
        foreach (var t in shifts)
            for (int i = 0; i < f.Length; i++)
            {
                var g = f[i] + t;
                bool hit = false;
                for (int j = 0; j < f.Length && !hit; j++)
                {
                    if (s.AtomicNumbers[j] != s.AtomicNumbers[i]) continue;
                    var d = g - f[j];
                    d = new Vec3(d.X - Math.Round(d.X), d.Y - Math.Round(d.Y), d.Z - Math.Round(d.Z));
                    hit = (d * s.Cell).Norm < 1e-3;
                }
                if (!hit) return false;
            }
        return true;
    }

    /// <summary>Labels of the standard path of a cubic lattice: fcc/diamond Γ–X–W–K–Γ–L, bcc Γ–H–N–Γ–P–H, sc Γ–X–M–Γ–R–X.</summary>
    public static string StandardPathLabels(string lattice) => lattice switch
    {
        "fcc" => "G X W K G L",
        "bcc" => "G H N G P H",
        _ => "G X M G R X",
    };

    /// <summary>The standard path of the structure's lattice (fcc/diamond, bcc, sc in conventional or primitive cells).</summary>
    public static IReadOnlyList<BandPoint> StandardPath(Structure s)
    {
        var lat = CubicLattice(s) ?? throw new MlipException("no standard band path for this cell (only cubic fcc/diamond, bcc, sc in conventional or primitive settings): give --path with fractional q-points");
        return Path(s, StandardPathLabels(lat.Lattice));
    }

    /// <summary>
    /// A band path: labels of the lattice's special points ("G X W K G L"; G or Γ is Γ), or fractional
    /// q-points of the cell's reciprocal lattice separated by commas ("0 0 0, 0.5 0 0.5, 0.5 0.5 0.5").
    /// </summary>
    public static IReadOnlyList<BandPoint> Path(Structure s, string spec)
    {
        if (spec.Contains(','))
        {
            var points = new List<BandPoint>();
            foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var t = part.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (t.Length != 3) throw new MlipException($"band path point '{part}' is not three numbers");
                var q = new double[3];
                for (int k = 0; k < 3; k++)
                    if (!double.TryParse(t[k], NumberStyles.Float, CultureInfo.InvariantCulture, out q[k])) throw new MlipException($"band path point '{part}' is not three numbers");
                points.Add(new BandPoint(part, q));
            }
            return points;
        }
        var lat = CubicLattice(s) ?? throw new MlipException("named band-path points need a cubic fcc/diamond, bcc or sc cell: give fractional q-points instead (\"0 0 0, 0.5 0 0.5, ...\")");
        var table = lat.Lattice switch { "fcc" => FccPoints, "bcc" => BccPoints, _ => ScPoints };
        var minv = lat.ToConventional.Inverse();
        var result = new List<BandPoint>();
        foreach (var raw in spec.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            string name = raw is "Γ" or "Gamma" or "GAMMA" ? "G" : raw;
            if (!table.TryGetValue(name, out var qc))
                throw new MlipException($"unknown {lat.Lattice} point '{raw}' (known: {string.Join(" ", table.Keys)})");
            var qp = minv * new Vec3(qc[0], qc[1], qc[2]);  // fractional of the cell = M⁻¹ · conventional
            result.Add(new BandPoint(name.ToUpperInvariant() == "G" ? "Γ" : name.ToUpperInvariant(), [Clean(qp.X), Clean(qp.Y), Clean(qp.Z)]));
        }
        if (result.Count < 2) throw new MlipException("a band path needs at least two points");
        return result;
    }

    private static double Clean(double v) => Math.Abs(v) < 1e-12 ? 0 : v;

    // ----- plots -----

    /// <summary>Band structure PNG: frequency (THz) against path distance, special points marked.</summary>
    public static void PlotBands(string path, PhononBandStructure bands, string title = "Phonon bands") =>
        SimulationPlots.Bands(path, title, bands.Distances, bands.FrequenciesThz, bands.LabelDistances, bands.Labels);

    /// <summary>DOS PNG: states/THz against frequency (THz).</summary>
    public static void PlotDos(string path, PhononDos dos, string title = "Phonon density of states") =>
        SimulationPlots.DensityOfStates(path, title, dos.FrequenciesThz, dos.Dos);
}
