using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>The two kernels of <see cref="GaussianProcessModel"/>; both are functions of the cosine similarity d = x̂·x̂'.</summary>
public enum GaussianProcessKernelType
{
    /// <summary>Dot product (SOAP/GAP-style): k = σ² d^ζ.</summary>
    Dot,

    /// <summary>
    /// PyXtal_FF's normalised-similarity RBF (thesis eq. 2.84–2.85, as its authors' GPR code defines it:
    /// d = x·x'/(|x||x'|), D = d^ζ, k = σ² exp(−(1 − D)/(2l²))). For ζ = 1 this is a Gaussian in the distance of
    /// the unit vectors, since 1 − x̂·x̂' = |x̂ − x̂'|²/2.
    /// </summary>
    Rbf,
}

/// <summary>How descriptors are scaled before the kernel normalises them to unit length.</summary>
public enum FeatureNormalization
{
    /// <summary>x̃ = x: the raw descriptor (the SOAP convention).</summary>
    None,

    /// <summary>x̃_k = x_k / s_k with s_k the standard deviation of feature k over the training atoms (no centring).</summary>
    Scale,

    /// <summary>x̃_k = (x_k − μ_k)/s_k (centred; note that even ζ then treats x̃ and −x̃ alike).</summary>
    Standard,
}

/// <summary>
/// A kernel on per-atom descriptors that depends only on the cosine similarity d = x̂·x̂' of the
/// normalised descriptors x̂ (<see cref="GaussianProcessModel.Unit"/>): the <see cref="GaussianProcessKernelType.Dot"/> kernel σ² d^ζ or the
/// <see cref="GaussianProcessKernelType.Rbf"/> kernel σ² exp(−(1 − d^ζ)/(2l²)). ζ is a positive integer
/// (so d^ζ is defined for d &lt; 0); σ² is <see cref="Variance"/>, l is <see cref="LengthScale"/>.
/// </summary>
public sealed record GaussianProcessKernel
{
    public GaussianProcessKernel(GaussianProcessKernelType type, double variance, int zeta, double lengthScale = 1.0)
    {
        if (zeta < 1) throw new MlipException($"the kernel exponent zeta must be a positive integer (got {zeta})");
        if (!(variance > 0) || !double.IsFinite(variance)) throw new MlipException($"the kernel variance must be positive (got {variance})");
        if (!(lengthScale > 0) || !double.IsFinite(lengthScale)) throw new MlipException($"the kernel length scale must be positive (got {lengthScale})");
        Type = type;
        Variance = variance;
        Zeta = zeta;
        LengthScale = lengthScale;
    }

    public GaussianProcessKernelType Type { get; }

    /// <summary>σ², the prior variance of a per-atom energy (eV²).</summary>
    public double Variance { get; }

    /// <summary>ζ, the exponent of the similarity.</summary>
    public int Zeta { get; }

    /// <summary>l, the length scale of the RBF kernel (unused by the dot kernel).</summary>
    public double LengthScale { get; }

    /// <summary>"dot" or "rbf".</summary>
    public string Name => Type == GaussianProcessKernelType.Dot ? "dot" : "rbf";

    /// <summary>k(d) and dk/dd at similarity <paramref name="d"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Value(double d, out double derivative)
    {
        double p1 = Power(d, Zeta - 1);      // d^(ζ−1)
        double p = p1 * d;                   // d^ζ
        if (Type == GaussianProcessKernelType.Dot)
        {
            derivative = Variance * Zeta * p1;
            return Variance * p;
        }
        double c = 0.5 / (LengthScale * LengthScale);
        double k = Variance * Math.Exp(-c * (1 - p));
        derivative = k * c * Zeta * p1;
        return k;
    }

    /// <summary>k(d).</summary>
    public double Value(double d) => Value(d, out _);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Power(double x, int n)
    {
        double r = 1;
        for (int i = 0; i < n; i++) r *= x;
        return r;
    }

    /// <summary>Parses "dot" or "rbf".</summary>
    public static GaussianProcessKernelType ParseType(string name) => name.Trim().ToLowerInvariant() switch
    {
        "dot" or "dot_product" or "soap" => GaussianProcessKernelType.Dot,
        "rbf" or "gaussian" => GaussianProcessKernelType.Rbf,
        _ => throw new MlipException($"unknown GPR kernel '{name}' (dot, rbf)"),
    };
}

/// <summary>
/// Sparse Gaussian process regression of per-atom energies (GAP-like, projected process):
/// E_i = c_e + Σ_m α_m k(x_i, x_m) over the M_e representative environments x_m of the element e of
/// atom i (atoms of different elements do not correlate). The kernel (<see cref="GaussianProcessKernel"/>)
/// acts on the unit vectors x̂ = [x̃, b]/n, n = |[x̃, b]|, of the scaled descriptors x̃ = (x − μ)/s (b =
/// <see cref="Bias"/>; b = 0 gives the SOAP-style x̃/|x̃|). dE/dX is analytic:
/// dE_i/dx̃_i = Σ_m α_m k'(d_im) (x̂_m − d_im x̂_i)/n_i over the first K components, so forces and stress come
/// through the shared contraction. The predictive variance of a total energy E = Σ_i E_i is that of the projected process
/// (DTC): var = k** − k*ᵀ K_MM⁻¹ k* + k*ᵀ (K_MM + K_MN Λ⁻¹ K_NM)⁻¹ k*, with k** = Σ_ij k(x_i, x_j) and
/// k*_m = Σ_i k(x_i, x_m). In the unit-variance kernel k̃ = k/σ², with K̃_MM + jitter = L Lᵀ and
/// B = I + σ² L⁻¹ K̃_MN Λ⁻¹ K̃_NM L⁻ᵀ = L_B L_Bᵀ, this is var = σ² (k̃** − |z|² + |L_B⁻¹ z|²) with z = L⁻¹ k̃*:
/// the model keeps L and L_B and needs two triangular solves per structure. Fitted by
/// <see cref="Training.GaussianProcessFit"/>.
/// </summary>
public sealed class GaussianProcessModel : IUncertainModel
{
    /// <summary>The norm is taken as sqrt(|x̃|² + b² + NormFloor²), so an all-zero descriptor does not divide by zero.</summary>
    public const double NormFloor = 1e-12;

    private readonly int[] _elements;
    private readonly double[][] _unitSparse;   // per element: M_e × UnitLength unit vectors x̂_m
    private readonly int[] _blockStart;        // column of the first sparse point of each element in the joint M-vector

    /// <param name="elements">Atomic numbers, one block of sparse points per element.</param>
    /// <param name="featureCount">Descriptor length K.</param>
    /// <param name="kernel">The kernel (with σ²).</param>
    /// <param name="mean">μ of the feature scaling (length K).</param>
    /// <param name="scale">s of the feature scaling (length K).</param>
    /// <param name="sparsePoints">Per element: the raw descriptors of its M_e sparse points (M_e × K, row-major).</param>
    /// <param name="alpha">Per element: the M_e weights α.</param>
    /// <param name="offsets">Per element: the constant c_e (eV/atom).</param>
    /// <param name="sparseCholesky">Lower Cholesky factor of K̃_MM + jitter·I (unit-variance kernel), Mtot × Mtot row-major; null: no variance.</param>
    /// <param name="posteriorCholesky">Lower Cholesky factor of B = I + σ² L⁻¹ K̃_MN Λ⁻¹ K̃_NM L⁻ᵀ (L: <paramref name="sparseCholesky"/>); null: no variance.</param>
    /// <param name="bias">b, the constant appended to x̃ before normalising (<see cref="Bias"/>).</param>
    public GaussianProcessModel(int[] elements, int featureCount, GaussianProcessKernel kernel, double[] mean, double[] scale,
        double[][] sparsePoints, double[][] alpha, double[] offsets, double[]? sparseCholesky = null, double[]? posteriorCholesky = null, double bias = 0)
    {
        if (!(bias >= 0) || !double.IsFinite(bias)) throw new ArgumentException("the bias must be finite and >= 0", nameof(bias));
        Bias = bias;
        int ne = elements.Length;
        if (sparsePoints.Length != ne || alpha.Length != ne || offsets.Length != ne)
            throw new ArgumentException("one block of sparse points, weights and offset per element");
        if (mean.Length != featureCount || scale.Length != featureCount) throw new ArgumentException("normalisation has the wrong length");
        foreach (double s in scale)
            if (!(s > 0) || !double.IsFinite(s)) throw new ArgumentException("feature scales must be positive");
        _elements = elements;
        FeatureCount = featureCount;
        Kernel = kernel;
        Mean = mean;
        Scale = scale;
        SparsePoints = sparsePoints;
        Alpha = alpha;
        Offsets = offsets;
        _unitSparse = new double[ne][];
        _blockStart = new int[ne + 1];
        for (int e = 0; e < ne; e++)
        {
            int m = alpha[e].Length;
            if (sparsePoints[e].Length != m * featureCount)
                throw new ArgumentException($"element {e}: {m} weights but {sparsePoints[e].Length} sparse-point values for {featureCount} features");
            _unitSparse[e] = UnitVectors(sparsePoints[e], m);
            _blockStart[e + 1] = _blockStart[e] + m;
        }
        int total = _blockStart[ne];
        if ((sparseCholesky is null) != (posteriorCholesky is null)) throw new ArgumentException("give both Cholesky factors or neither");
        if (sparseCholesky is not null && (sparseCholesky.Length != total * total || posteriorCholesky!.Length != total * total))
            throw new ArgumentException($"the Cholesky factors must be {total} x {total}");
        SparseCholesky = sparseCholesky;
        PosteriorCholesky = posteriorCholesky;
    }

    public string Kind => "gpr";
    public IReadOnlyList<int> Elements => _elements;
    public int FeatureCount { get; }
    public GaussianProcessKernel Kernel { get; }
    public double[] Mean { get; }
    public double[] Scale { get; }

    /// <summary>Per element: raw descriptors of the sparse points (M_e × K).</summary>
    public double[][] SparsePoints { get; }

    /// <summary>Per element: α (M_e).</summary>
    public double[][] Alpha { get; }

    /// <summary>Per element: c_e (eV/atom).</summary>
    public double[] Offsets { get; }

    /// <summary>Lower Cholesky factor of K̃_MM + jitter·I over all sparse points (Mtot × Mtot), or null.</summary>
    public double[]? SparseCholesky { get; }

    /// <summary>Lower Cholesky factor L_B of B = I + σ² L⁻¹ K̃_MN Λ⁻¹ K̃_NM L⁻ᵀ (Mtot × Mtot), or null.</summary>
    public double[]? PosteriorCholesky { get; }

    /// <summary>Σ_e M_e.</summary>
    public int TotalSparsePoints => _blockStart[^1];

    /// <summary>Number of sparse points of element index <paramref name="e"/>.</summary>
    public int SparseCount(int e) => Alpha[e].Length;

    public int ElementIndex(int z)
    {
        for (int e = 0; e < _elements.Length; e++) if (_elements[e] == z) return e;
        return -1;
    }

    /// <summary>
    /// b ≥ 0: the vector the kernel normalises is [x̃, b], so x̂ = [x̃, b]/sqrt(|x̃|² + b²) and
    /// d = (x̃·x̃' + b²)/(|[x̃, b]| |[x̃', b]|). b = 0 is the SOAP convention x̂ = x̃/|x̃|, which makes the
    /// energy a function of the direction of x̃ only; b &gt; 0 keeps its length (x̃ ↦ x̂ is then one-to-one).
    /// </summary>
    public double Bias { get; }

    /// <summary>Length of the normalised vectors: K, or K + 1 with a bias.</summary>
    public int UnitLength => Bias > 0 ? FeatureCount + 1 : FeatureCount;

    /// <summary>
    /// x̃ = (x − μ)/s, then x̂ = [x̃, b]/n with n = sqrt(|x̃|² + b² + NormFloor²) into <paramref name="unit"/>
    /// (<see cref="UnitLength"/> values); returns n. The derivative of d = x̂·x̂_m with respect to x̃ is
    /// (x̂_m − d x̂)/n over the first K components.
    /// </summary>
    public double Unit(ReadOnlySpan<double> x, Span<double> unit)
    {
        int k = FeatureCount;
        for (int a = 0; a < k; a++) unit[a] = (x[a] - Mean[a]) / Scale[a];
        double n = Math.Sqrt(TensorPrimitives.Dot<double>(unit[..k], unit[..k]) + Bias * Bias + NormFloor * NormFloor);
        TensorPrimitives.Multiply(unit[..k], 1 / n, unit[..k]);
        if (Bias > 0) unit[k] = Bias / n;
        return n;
    }

    private double[] UnitVectors(double[] raw, int count)
    {
        int k = FeatureCount, ku = UnitLength;
        var u = new double[count * ku];
        for (int m = 0; m < count; m++) Unit(raw.AsSpan(m * k, k), u.AsSpan(m * ku, ku));
        return u;
    }

    /// <summary>The unit sparse vectors of element index <paramref name="e"/> (M_e × <see cref="UnitLength"/>).</summary>
    public ReadOnlySpan<double> UnitSparse(int e) => _unitSparse[e];

    public void Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX)
    {
        int k = FeatureCount, ku = UnitLength, n = atomicNumbers.Length;
        bool grad = !dEdX.IsEmpty;
        var u = new double[ku];
        var g = new double[ku];
        for (int i = 0; i < n; i++)
        {
            int e = ElementOf(atomicNumbers[i]);
            double norm = Unit(features.Slice(i * k, k), u);
            var sparse = _unitSparse[e];
            var alpha = Alpha[e];
            double energy = Offsets[e], h = 0;
            if (grad) Array.Clear(g);
            for (int m = 0; m < alpha.Length; m++)
            {
                var xm = sparse.AsSpan(m * ku, ku);
                double d = TensorPrimitives.Dot<double>(u, xm);
                double value = Kernel.Value(d, out double slope);
                energy += alpha[m] * value;
                if (!grad) continue;
                double w = alpha[m] * slope;
                TensorPrimitives.MultiplyAdd(xm, w, g, g);
                h += w * d;
            }
            atomEnergies[i] = energy;
            if (!grad) continue;
            // dE/dx̃ = (Σ w_m x̂_m − (Σ w_m d_m) x̂)/|x̃|, dE/dx = dE/dx̃ / s
            var dst = dEdX.Slice(i * k, k);
            for (int a = 0; a < k; a++) dst[a] = (g[a] - h * u[a]) / (norm * Scale[a]);
        }
    }

    /// <summary>
    /// Projected-process predictive variance of the total energy Σ_i E_i of the atoms given (eV²);
    /// 0 when the model was saved without its Cholesky factors.
    /// </summary>
    public double EnergyVariance(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers)
    {
        if (SparseCholesky is null || PosteriorCholesky is null) return 0;
        int k = FeatureCount, ku = UnitLength, n = atomicNumbers.Length, total = TotalSparsePoints;
        var units = new double[n * ku];
        var element = new int[n];
        var kstar = new double[total];
        double unitVariance = 1 / Kernel.Variance;
        for (int i = 0; i < n; i++)
        {
            int e = element[i] = ElementOf(atomicNumbers[i]);
            var u = units.AsSpan(i * ku, ku);
            Unit(features.Slice(i * k, k), u);
            var sparse = _unitSparse[e];
            var block = kstar.AsSpan(_blockStart[e], Alpha[e].Length);
            for (int m = 0; m < block.Length; m++)
                block[m] += unitVariance * Kernel.Value(TensorPrimitives.Dot<double>(u, sparse.AsSpan(m * ku, ku)));
        }
        double prior = PriorSum(units, element, n, ku);
        // z = L⁻¹ k̃*: |z|² = k̃*ᵀ K̃_MM⁻¹ k̃* (Nyström), |L_B⁻¹ z|² = σ⁻² k*ᵀ (K_MM + K_MN Λ⁻¹ K_NM)⁻¹ k*
        var z = new double[total];
        double nystrom = DenseCholesky.ForwardSolve(SparseCholesky, total, kstar, z);
        double posterior = DenseCholesky.ForwardSolve(PosteriorCholesky, total, z, z);
        return Math.Max(0, Kernel.Variance * (prior - nystrom + posterior));
    }

    /// <summary>
    /// k̃** = Σ_ij k̃(x_i, x_j) over pairs of atoms of the same element (unit variance). For the dot kernel with
    /// ζ ≤ 2 and more atoms than vector components it uses Σ_ij (x̂_i·x̂_j)² = ||Σ_i x̂_i x̂_iᵀ||²_F (and
    /// Σ_ij x̂_i·x̂_j = |Σ_i x̂_i|²), O(N K²) instead of O(N² K).
    /// </summary>
    private double PriorSum(double[] units, int[] element, int n, int ku)
    {
        double unitVariance = 1 / Kernel.Variance;
        double prior = 0;
        if (Kernel.Type == GaussianProcessKernelType.Dot && Kernel.Zeta <= 2 && n > ku)
        {
            int width = Kernel.Zeta == 1 ? ku : ku * ku;
            var sum = new double[width];
            for (int e = 0; e < _elements.Length; e++)
            {
                Array.Clear(sum);
                for (int i = 0; i < n; i++)
                {
                    if (element[i] != e) continue;
                    var u = units.AsSpan(i * ku, ku);
                    if (Kernel.Zeta == 1) TensorPrimitives.Add(sum, u, sum);
                    else for (int a = 0; a < ku; a++) TensorPrimitives.MultiplyAdd(u, u[a], sum.AsSpan(a * ku, ku), sum.AsSpan(a * ku, ku));
                }
                prior += TensorPrimitives.Dot<double>(sum, sum);
            }
            return prior;
        }
        for (int i = 0; i < n; i++)
        {
            var ui = units.AsSpan(i * ku, ku);
            prior += unitVariance * Kernel.Value(TensorPrimitives.Dot<double>(ui, ui));
            for (int j = i + 1; j < n; j++)
                if (element[j] == element[i])
                    prior += 2 * unitVariance * Kernel.Value(TensorPrimitives.Dot<double>(ui, units.AsSpan(j * ku, ku)));
        }
        return prior;
    }

    private int ElementOf(int z)
    {
        int e = ElementIndex(z);
        if (e < 0) throw new MlipException($"the model has no sparse points for {Structures.Elements.Symbol(z)}");
        return e;
    }

    // ---- model file ----

    /// <summary>Read/write of the "gpr" kind in the model file (listed in <see cref="ModelFile"/>'s codec table).</summary>
    public static ModelCodec Codec => new("gpr", Write, Read);

    private static JsonArray Numbers(ReadOnlySpan<double> values)
    {
        var a = new JsonArray();
        foreach (double v in values) a.Add(v);
        return a;
    }

    /// <summary>float64 little-endian bytes as base64 (the two Cholesky factors are large).</summary>
    private static string Pack(double[] values) => Convert.ToBase64String(MemoryMarshal.AsBytes(values.AsSpan()));

    private static double[] Unpack(string text, long count, string what, string path)
    {
        if (count * sizeof(double) > (long)text.Length) // base64 holds 3 bytes in 4 characters: the text is too short
            throw new FileFormatException(new InputLocation(path), $"'{what}' holds fewer than the {count} values expected");
        byte[] bytes;
        try { bytes = Convert.FromBase64String(text); }
        catch (FormatException) { throw new FileFormatException(new InputLocation(path), $"'{what}' is not base64"); }
        if (bytes.Length != count * sizeof(double))
            throw new FileFormatException(new InputLocation(path), $"'{what}' holds {bytes.Length / sizeof(double)} values, expected {count}");
        var v = new double[count];
        bytes.AsSpan().CopyTo(MemoryMarshal.AsBytes(v.AsSpan()));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("model files store little-endian float64");
        return v;
    }

    private static JsonObject Write(IAtomicModel m)
    {
        var p = (GaussianProcessModel)m;
        var sparse = new JsonObject();
        for (int e = 0; e < p._elements.Length; e++)
        {
            var points = new JsonArray();
            for (int s = 0; s < p.SparseCount(e); s++) points.Add(Numbers(p.SparsePoints[e].AsSpan(s * p.FeatureCount, p.FeatureCount)));
            sparse[Structures.Elements.Symbol(p._elements[e])] = new JsonObject
            {
                ["offset"] = p.Offsets[e],
                ["alpha"] = Numbers(p.Alpha[e]),
                ["points"] = points,
            };
        }
        var o = new JsonObject
        {
            ["kernel"] = new JsonObject
            {
                ["type"] = p.Kernel.Name,
                ["variance"] = p.Kernel.Variance,
                ["zeta"] = p.Kernel.Zeta,
                ["length_scale"] = p.Kernel.LengthScale,
            },
            ["bias"] = p.Bias,
            ["feature_mean"] = Numbers(p.Mean),
            ["feature_scale"] = Numbers(p.Scale),
            ["sparse"] = sparse,
        };
        if (p.SparseCholesky is not null)
        {
            o["variance"] = new JsonObject
            {
                ["size"] = p.TotalSparsePoints,
                ["encoding"] = "float64-le-base64, row-major",
                ["sparse_cholesky"] = Pack(p.SparseCholesky),
                ["posterior_cholesky"] = Pack(p.PosteriorCholesky!),
            };
        }
        if (p.Hyperparameters is { } h) o["hyperparameters"] = h.DeepClone();
        return o;
    }

    private static GaussianProcessModel Read(JsonObject o, int[] elements, int features, string path)
    {
        var where = new InputLocation(path);
        var k = ModelJson.Object(o, "kernel", path);
        GaussianProcessKernel kernel;
        try
        {
            kernel = new GaussianProcessKernel(
                GaussianProcessKernel.ParseType(ModelJson.String(k, "type", path)),
                ModelJson.Double(k, "variance", path),
                ModelJson.Int(k, "zeta", path, 1, 1000),
                ModelJson.Double(k, "length_scale", path, 1.0));
        }
        catch (MlipException e) when (e is not MlipInputException)
        {
            throw ModelJson.Error(path, k.GetPath(), e.Message, e);
        }
        catch (ArgumentException e)
        {
            throw ModelJson.Error(path, k.GetPath(), e.Message, e);
        }
        var sparse = ModelJson.Object(o, "sparse", path);
        int ne = elements.Length;
        var points = new double[ne][];
        var alpha = new double[ne][];
        var offsets = new double[ne];
        for (int e = 0; e < ne; e++)
        {
            string symbol = Structures.Elements.Symbol(elements[e]);
            var block = sparse[symbol] is { } b ? ModelJson.AsObject(b, path) : throw ModelJson.Error(path, sparse.GetPath(), $"missing sparse points of {symbol}");
            offsets[e] = ModelJson.Double(block, "offset", path);
            alpha[e] = ModelJson.Numbers(block, "alpha", path);
            var rows = ModelJson.Array(block, "points", path);
            if (rows.Count != alpha[e].Length)
                throw ModelJson.Error(path, rows.GetPath(), $"{symbol}: {rows.Count} sparse points but {alpha[e].Length} weights");
            points[e] = new double[rows.Count * features];
            for (int s = 0; s < rows.Count; s++)
            {
                var x = ModelJson.Numbers(rows[s], path, rows.GetPath() + $"[{s}]");
                if (x.Length != features) throw ModelJson.Error(path, rows[s]!.GetPath(), $"{symbol}: sparse point {s} has {x.Length} features, expected {features}");
                x.CopyTo(points[e], s * features);
            }
        }
        double[]? lk = null, lb = null;
        if (ModelJson.OptionalObject(o, "variance", path) is { } v)
        {
            int total = alpha.Sum(a => a.Length);
            int size = ModelJson.Int(v, "size", path, 0, int.MaxValue);
            if (size != total) throw ModelJson.Error(path, v.GetPath() + ".size", $"the variance factors are {size} x {size}, but there are {total} sparse points");
            lk = Unpack(ModelJson.String(v, "sparse_cholesky", path), (long)size * size, "variance.sparse_cholesky", path);
            lb = Unpack(ModelJson.String(v, "posterior_cholesky", path), (long)size * size, "variance.posterior_cholesky", path);
            foreach (var f in new[] { lk, lb })
                foreach (double x in f)
                    if (!double.IsFinite(x)) throw ModelJson.Error(path, v.GetPath(), "a variance factor holds a value that is not finite");
        }
        try
        {
            return new GaussianProcessModel(elements, features, kernel,
                ModelJson.Numbers(o, "feature_mean", path, features), ModelFile.Scales(o, path, features),
                points, alpha, offsets, lk, lb, ModelJson.Double(o, "bias", path, 0))
            {
                Hyperparameters = ModelJson.OptionalObject(o, "hyperparameters", path)?.DeepClone().AsObject(),
            };
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(where, e.Message, e);
        }
    }

    /// <summary>How the model was fitted (noise levels, marginal likelihood, ...), kept in the model file.</summary>
    public JsonObject? Hyperparameters { get; init; }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"gpr ({Kernel.Name}, zeta {Kernel.Zeta}, sigma^2 {Kernel.Variance:G4}, {TotalSparsePoints} sparse points)");
}
