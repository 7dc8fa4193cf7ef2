using System.Globalization;
using Mlip.Calculators;
using Mlip.Reporting;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>Settings of <see cref="EquationOfState.Compute"/>.</summary>
public sealed record EquationOfStateOptions
{
    /// <summary>Largest relative volume change (0.06 = ±6 %).</summary>
    public double VolumeRange { get; init; } = 0.06;
    public int Points { get; init; } = 11;
    /// <summary>Relax atomic positions at each volume (cell fixed).</summary>
    public bool RelaxPositions { get; init; }
    public RelaxOptions Relax { get; init; } = new() { Algorithm = RelaxAlgorithm.Lbfgs, Fmax = 1e-4 };
    /// <summary>Optional PNG of E(V) with the fitted curve.</summary>
    public string? PlotPath { get; init; }
}

/// <summary>Third-order Birch–Murnaghan parameters: E0 (eV), V0 (Å³), B0 (GPa), B0′, and the fit's RMS residual (eV).</summary>
public sealed record BirchMurnaghanFit(double E0, double V0, double B0, double B0Prime, double RmsResidual)
{
    /// <summary>E(V) of this fit.</summary>
    public double Energy(double volume) => EquationOfState.BirchMurnaghanEnergy(volume, E0, V0, B0, B0Prime);
}

/// <summary>EOS scan: the volumes (Å³), energies (eV) and the Birch–Murnaghan fit.</summary>
public sealed record EquationOfStateResult(double[] Volumes, double[] Energies, BirchMurnaghanFit Fit)
{
    public double E0 => Fit.E0;
    public double V0 => Fit.V0;
    public double B0 => Fit.B0;
    public double B0Prime => Fit.B0Prime;
}

/// <summary>Energy–volume curves and the 3rd-order Birch–Murnaghan equation of state.</summary>
public static class EquationOfState
{
    /// <summary>
    /// BM3: E = E0 + 9 V0 B0/16 {[(V0/V)^(2/3) − 1]³ B0′ + [(V0/V)^(2/3) − 1]² [6 − 4 (V0/V)^(2/3)]}; B0 in GPa.
    /// </summary>
    public static double BirchMurnaghanEnergy(double volume, double e0, double v0, double b0Gpa, double b0Prime)
    {
        double b0 = b0Gpa / Stress.EvPerCubicAngstromInGpa;
        double eta = Math.Pow(v0 / volume, 2.0 / 3.0), d = eta - 1;
        return e0 + 9 * v0 * b0 / 16 * (d * d * d * b0Prime + d * d * (6 - 4 * eta));
    }

    /// <summary>
    /// Least-squares BM3 fit. BM3 is exactly a cubic polynomial in x = V^(−2/3), so the fit is linear
    /// (QR on centred, scaled powers); V0 is the minimum of that cubic, B0 = V E''(V0), B0′ = −1 − V0 E'''/E''.
    /// </summary>
    public static BirchMurnaghanFit FitBirchMurnaghan(IReadOnlyList<double> volumes, IReadOnlyList<double> energies)
    {
        int n = volumes.Count;
        if (n < 4 || energies.Count != n) throw new ArgumentException("a BM3 fit needs at least 4 (V, E) points");
        double xRef = 0;
        for (int i = 0; i < n; i++) xRef += Math.Pow(volumes[i], -2.0 / 3.0);
        xRef /= n;
        double tMax = 0;
        var t = new double[n];
        for (int i = 0; i < n; i++) { t[i] = Math.Pow(volumes[i], -2.0 / 3.0) / xRef - 1; tMax = Math.Max(tMax, Math.Abs(t[i])); }
        if (tMax == 0) throw new ArgumentException("volumes must differ");
        // E = Σ c_k (t/tMax)^k, k = 0..3
        var a = new double[n, 4];
        for (int i = 0; i < n; i++) { double u = t[i] / tMax, p = 1; for (int k = 0; k < 4; k++) { a[i, k] = p; p *= u; } }
        var c = LeastSquaresQr(a, [.. energies]);
        // derivatives with respect to x: E_x = dE/du · du/dx, du/dx = 1/(tMax xRef)
        double g = 1.0 / (tMax * xRef);
        double Ex(double u) => (c[1] + 2 * c[2] * u + 3 * c[3] * u * u) * g;
        double Exx(double u) => (2 * c[2] + 6 * c[3] * u) * g * g;
        double Exxx() => 6 * c[3] * g * g * g;
        // minimum: c1 + 2 c2 u + 3 c3 u² = 0, root with positive curvature closest to the data
        double u0;
        if (Math.Abs(c[3]) < 1e-14 * Math.Abs(c[2])) u0 = -c[1] / (2 * c[2]);
        else
        {
            double qa = 3 * c[3], qb = 2 * c[2], qc = c[1];
            double disc = qb * qb - 4 * qa * qc;
            if (disc < 0) throw new InvalidOperationException("the E(V) data have no minimum: widen or shift the volume range");
            double sq = Math.Sqrt(disc);
            double q = -0.5 * (qb + Math.Sign(qb) * sq);
            double r1 = q / qa, r2 = qc / q;
            u0 = Exx(r1) > 0 && (Exx(r2) <= 0 || Math.Abs(r1) < Math.Abs(r2)) ? r1 : r2;
        }
        // one Newton polish
        u0 -= Ex(u0) / Exx(u0) * g;
        double x0 = xRef * (1 + u0 * tMax);
        double v0 = Math.Pow(x0, -1.5);
        double e0 = c[0] + u0 * (c[1] + u0 * (c[2] + u0 * c[3]));
        double xp = -2.0 / 3.0 * Math.Pow(v0, -5.0 / 3.0), xpp = 10.0 / 9.0 * Math.Pow(v0, -8.0 / 3.0);
        double e2 = Exx(u0) * xp * xp + Ex(u0) * xpp;
        double e3 = Exxx() * xp * xp * xp + 3 * Exx(u0) * xp * xpp; // E_x x''' term vanishes at the minimum
        double b0 = v0 * e2;
        double bp = -1 - v0 * e3 / e2;
        double rss = 0;
        for (int i = 0; i < n; i++)
        {
            double u = t[i] / tMax, fit = c[0] + u * (c[1] + u * (c[2] + u * c[3]));
            rss += (energies[i] - fit) * (energies[i] - fit);
        }
        return new BirchMurnaghanFit(e0, v0, b0 * Stress.EvPerCubicAngstromInGpa, bp, Math.Sqrt(rss / n));
    }

    /// <summary>Energies at isotropic volume scalings 1 ± range around the given cell, positions optionally relaxed; BM3 fit.</summary>
    public static EquationOfStateResult Compute(ICalculator calculator, Structure structure, EquationOfStateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        ArgumentNullException.ThrowIfNull(structure);
        var o = options ?? new EquationOfStateOptions();
        if (o.Points < 4) throw new ArgumentException("an EOS needs at least 4 points");
        var v = new double[o.Points];
        var e = new double[o.Points];
        for (int k = 0; k < o.Points; k++)
        {
            double scale = 1 - o.VolumeRange + 2 * o.VolumeRange * k / (o.Points - 1);
            double l = Math.Cbrt(scale) - 1;
            var s = Crystals.Deform(structure, Matrix3.Diagonal(l, l, l));
            if (o.RelaxPositions)
            {
                var r = Relaxation.Relax(calculator, s, o.Relax with { Cell = CellRelaxation.None });
                e[k] = r.Energy;
            }
            else e[k] = calculator.Calculate(s, forces: false, stress: false).Energy;
            v[k] = s.Volume;
        }
        var fit = FitBirchMurnaghan(v, e);
        var result = new EquationOfStateResult(v, e, fit);
        if (o.PlotPath is not null) Plot(o.PlotPath, result, calculator.Name);
        return result;
    }

    /// <summary>PNG of the E(V) points and the BM3 curve.</summary>
    public static void Plot(string path, EquationOfStateResult result, string? title = null)
    {
        double lo = result.Volumes.Min(), hi = result.Volumes.Max();
        var xs = new double[200]; var ys = new double[200];
        for (int i = 0; i < xs.Length; i++) { xs[i] = lo + (hi - lo) * i / (xs.Length - 1); ys[i] = result.Fit.Energy(xs[i]); }
        string fit = string.Create(CultureInfo.InvariantCulture,
            $"BM3: V0 = {result.V0:F3} Å³, B0 = {result.B0:F2} GPa, B0' = {result.B0Prime:F2}");
        SimulationPlots.EnergyVolume(path, title ?? "Equation of state", result.Volumes, result.Energies, xs, ys, fit);
    }

    /// <summary>Householder QR least squares for a small dense system.</summary>
    internal static double[] LeastSquaresQr(double[,] a0, double[] b0)
    {
        int m = a0.GetLength(0), n = a0.GetLength(1);
        var a = (double[,])a0.Clone();
        var b = (double[])b0.Clone();
        for (int k = 0; k < n; k++)
        {
            double norm = 0;
            for (int i = k; i < m; i++) norm += a[i, k] * a[i, k];
            norm = Math.Sqrt(norm);
            if (norm == 0) throw new InvalidOperationException("rank-deficient least-squares system");
            double alpha = a[k, k] > 0 ? -norm : norm;
            var v = new double[m];
            for (int i = k; i < m; i++) v[i] = a[i, k];
            v[k] -= alpha;
            double vv = 0;
            for (int i = k; i < m; i++) vv += v[i] * v[i];
            for (int j = k; j < n; j++)
            {
                double s = 0;
                for (int i = k; i < m; i++) s += v[i] * a[i, j];
                s = 2 * s / vv;
                for (int i = k; i < m; i++) a[i, j] -= s * v[i];
            }
            double sb = 0;
            for (int i = k; i < m; i++) sb += v[i] * b[i];
            sb = 2 * sb / vv;
            for (int i = k; i < m; i++) b[i] -= sb * v[i];
        }
        var x = new double[n];
        for (int k = n - 1; k >= 0; k--)
        {
            double s = b[k];
            for (int j = k + 1; j < n; j++) s -= a[k, j] * x[j];
            x[k] = s / a[k, k];
        }
        return x;
    }
}
