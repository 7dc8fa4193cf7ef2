namespace Mlip.Training;

/// <summary>Solution of a ridge least-squares problem and the norm of its residual.</summary>
public sealed record LeastSquaresResult(double[] Solution, double ResidualNorm);

/// <summary>min ||A x − b||² + Σ_c λ_c x_c² for a dense row-major A.</summary>
public interface ILeastSquaresSolver
{
    LeastSquaresResult Solve(double[] a, int rows, int cols, double[] b, double[] lambda);
}

/// <summary>Normal equations with Cholesky, managed code (small problems, tests).</summary>
public sealed class NormalEquationsSolver : ILeastSquaresSolver
{
    public LeastSquaresResult Solve(double[] a, int rows, int cols, double[] b, double[] lambda)
    {
        var ata = new double[cols * cols];
        var atb = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            var row = a.AsSpan(r * cols, cols);
            double br = b[r];
            for (int i = 0; i < cols; i++)
            {
                double ai = row[i];
                if (ai == 0) continue;
                atb[i] += ai * br;
                var dst = ata.AsSpan(i * cols, cols);
                for (int j = i; j < cols; j++) dst[j] += ai * row[j];
            }
        }
        for (int i = 0; i < cols; i++)
        {
            ata[i * cols + i] += lambda[i];
            for (int j = 0; j < i; j++) ata[i * cols + j] = ata[j * cols + i];
        }
        // Cholesky with a tiny diagonal shift if needed
        var l = (double[])ata.Clone();
        double trace = 0;
        for (int i = 0; i < cols; i++) trace += ata[i * cols + i];
        double shift = 0;
        while (!Cholesky(l, cols))
        {
            shift = shift == 0 ? 1e-14 * trace / cols : shift * 10;
            l = (double[])ata.Clone();
            for (int i = 0; i < cols; i++) l[i * cols + i] += shift;
        }
        var y = new double[cols];
        for (int i = 0; i < cols; i++)
        {
            double s = atb[i];
            for (int k = 0; k < i; k++) s -= l[i * cols + k] * y[k];
            y[i] = s / l[i * cols + i];
        }
        var x = new double[cols];
        for (int i = cols - 1; i >= 0; i--)
        {
            double s = y[i];
            for (int k = i + 1; k < cols; k++) s -= l[k * cols + i] * x[k];
            x[i] = s / l[i * cols + i];
        }
        double res = 0;
        for (int r = 0; r < rows; r++)
        {
            double s = -b[r];
            var row = a.AsSpan(r * cols, cols);
            for (int i = 0; i < cols; i++) s += row[i] * x[i];
            res += s * s;
        }
        return new LeastSquaresResult(x, Math.Sqrt(res));
    }

    private static bool Cholesky(double[] m, int n)
    {
        for (int j = 0; j < n; j++)
        {
            double d = m[j * n + j];
            for (int k = 0; k < j; k++) d -= m[j * n + k] * m[j * n + k];
            if (!(d > 0)) return false;
            d = Math.Sqrt(d);
            m[j * n + j] = d;
            for (int i = j + 1; i < n; i++)
            {
                double s = m[i * n + j];
                for (int k = 0; k < j; k++) s -= m[i * n + k] * m[j * n + k];
                m[i * n + j] = s / d;
            }
        }
        return true;
    }
}
