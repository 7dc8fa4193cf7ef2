using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>Settings of <see cref="ElasticConstants.Compute"/>.</summary>
public sealed record ElasticOptions
{
    /// <summary>Strain magnitudes, each applied as +e and −e (engineering shear for yz, xz, xy).</summary>
    public double[] Strains { get; init; } = [0.005, 0.01];
    /// <summary>Relax internal positions at each strained cell.</summary>
    public bool RelaxPositions { get; init; } = true;
    /// <summary>Relax the cell (full, zero pressure) before straining.</summary>
    public bool RelaxReference { get; init; } = true;
    public RelaxOptions Relax { get; init; } = new() { Algorithm = RelaxAlgorithm.Lbfgs, Fmax = 1e-5, Smax = 1e-5, MaxSteps = 2000 };
}

/// <summary>
/// Stiffness matrix C (GPa, Voigt xx yy zz yz xz xy, engineering shear strains, symmetrised) and the
/// derived moduli (GPa): cubic averages, Voigt/Reuss/Hill bulk and shear, Young's modulus and Poisson ratio.
/// </summary>
public sealed record ElasticResult(
    double[][] C, double C11, double C12, double C44,
    double BulkVoigt, double BulkReuss, double BulkHill,
    double ShearVoigt, double ShearReuss, double ShearHill,
    double Young, double Poisson, double[] Strains, Stress ReferenceStress, double ReferenceVolume);

/// <summary>Elastic constants from stress–strain: σ_i = C_ij ε_j (tension-positive stress), central differences.</summary>
public static class ElasticConstants
{
    /// <summary>The strain matrix of Voigt component j with value e (engineering shear: ε_ab = e/2 off the diagonal).</summary>
    public static Matrix3 VoigtStrain(int j, double e) => j switch
    {
        0 => Matrix3.Diagonal(e, 0, 0),
        1 => Matrix3.Diagonal(0, e, 0),
        2 => Matrix3.Diagonal(0, 0, e),
        3 => new Matrix3(0, 0, 0, 0, 0, e / 2, 0, e / 2, 0),
        4 => new Matrix3(0, 0, e / 2, 0, 0, 0, e / 2, 0, 0),
        5 => new Matrix3(0, e / 2, 0, e / 2, 0, 0, 0, 0, 0),
        _ => throw new ArgumentOutOfRangeException(nameof(j)),
    };

    public static ElasticResult Compute(ICalculator calculator, Structure structure, ElasticOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        ArgumentNullException.ThrowIfNull(structure);
        var o = options ?? new ElasticOptions();
        if (o.Strains.Length == 0) throw new ArgumentException("no strains");
        var reference = structure;
        if (o.RelaxReference)
            reference = Relaxation.Relax(calculator, structure, o.Relax with { Cell = CellRelaxation.Full, Pressure = 0 }).Structure;
        var refStress = calculator.Calculate(reference, forces: false, stress: true).Stress
            ?? throw new InvalidOperationException($"{calculator.Name} gave no stress");
        int m = o.Strains.Length;
        var c = new double[6][];
        for (int i = 0; i < 6; i++) c[i] = new double[6];
        for (int j = 0; j < 6; j++)
        {
            // D(e) = (σ(+e) − σ(−e))/2 = C e + b e³ + ...: fit C (and b when there are ≥ 2 magnitudes)
            var d = new double[m][];
            for (int k = 0; k < m; k++)
            {
                var plus = StressAt(calculator, reference, VoigtStrain(j, o.Strains[k]), o);
                var minus = StressAt(calculator, reference, VoigtStrain(j, -o.Strains[k]), o);
                d[k] = new double[6];
                for (int i = 0; i < 6; i++) d[k][i] = 0.5 * (plus[i] - minus[i]);
            }
            for (int i = 0; i < 6; i++)
            {
                if (m == 1) { c[i][j] = d[0][i] / o.Strains[0]; continue; }
                var a = new double[m, 2];
                var y = new double[m];
                for (int k = 0; k < m; k++) { double e = o.Strains[k]; a[k, 0] = e; a[k, 1] = e * e * e; y[k] = d[k][i]; }
                c[i][j] = EquationOfState.LeastSquaresQr(a, y)[0];
            }
        }
        for (int i = 0; i < 6; i++)
            for (int j = i + 1; j < 6; j++)
                c[i][j] = c[j][i] = 0.5 * (c[i][j] + c[j][i]);
        return FromStiffness(c, o.Strains, refStress, reference.Volume);
    }

    private static double[] StressAt(ICalculator calc, Structure reference, Matrix3 strain, ElasticOptions o)
    {
        var s = Crystals.Deform(reference, strain);
        if (o.RelaxPositions) s = Relaxation.Relax(calc, s, o.Relax with { Cell = CellRelaxation.None }).Structure;
        var st = calc.Calculate(s, forces: false, stress: true).Stress ?? throw new InvalidOperationException($"{calc.Name} gave no stress");
        return st.ToVoigt();
    }

    /// <summary>Moduli from a 6×6 stiffness matrix (GPa).</summary>
    public static ElasticResult FromStiffness(double[][] c, double[] strains, Stress referenceStress, double referenceVolume)
    {
        double c11 = (c[0][0] + c[1][1] + c[2][2]) / 3, c12 = (c[0][1] + c[0][2] + c[1][2]) / 3, c44 = (c[3][3] + c[4][4] + c[5][5]) / 3;
        double kv = (3 * c11 + 6 * c12) / 9;
        double gv = (3 * c11 - 3 * c12 + 9 * c44) / 15;
        var s = Invert6(c);
        double s11 = s[0][0] + s[1][1] + s[2][2], s12 = s[0][1] + s[0][2] + s[1][2], s44 = s[3][3] + s[4][4] + s[5][5];
        double kr = 1 / (s11 + 2 * s12);
        double gr = 15 / (4 * s11 - 4 * s12 + 3 * s44);
        double kh = 0.5 * (kv + kr), gh = 0.5 * (gv + gr);
        double young = 9 * kh * gh / (3 * kh + gh);
        double poisson = (3 * kh - 2 * gh) / (2 * (3 * kh + gh));
        return new ElasticResult(c, c11, c12, c44, kv, kr, kh, gv, gr, gh, young, poisson, strains, referenceStress, referenceVolume);
    }

    private static double[][] Invert6(double[][] c)
    {
        const int n = 6;
        var a = new double[n, 2 * n];
        for (int i = 0; i < n; i++) { for (int j = 0; j < n; j++) a[i, j] = c[i][j]; a[i, n + i] = 1; }
        for (int k = 0; k < n; k++)
        {
            int p = k;
            for (int i = k + 1; i < n; i++) if (Math.Abs(a[i, k]) > Math.Abs(a[p, k])) p = i;
            if (a[p, k] == 0) throw new InvalidOperationException("singular stiffness matrix");
            if (p != k) for (int j = 0; j < 2 * n; j++) (a[k, j], a[p, j]) = (a[p, j], a[k, j]);
            double piv = a[k, k];
            for (int j = 0; j < 2 * n; j++) a[k, j] /= piv;
            for (int i = 0; i < n; i++)
            {
                if (i == k) continue;
                double f = a[i, k];
                if (f != 0) for (int j = 0; j < 2 * n; j++) a[i, j] -= f * a[k, j];
            }
        }
        var s = new double[n][];
        for (int i = 0; i < n; i++) { s[i] = new double[n]; for (int j = 0; j < n; j++) s[i][j] = a[i, n + j]; }
        return s;
    }
}
