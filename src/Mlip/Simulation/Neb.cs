using System.Globalization;
using Mlip.Calculators;
using Mlip.Reporting;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>How the first guess of the path is made.</summary>
public enum NebInterpolation
{
    /// <summary>Straight line between the end points, each atom's displacement taken by the minimum image.</summary>
    Linear,
    /// <summary>Linear, then relaxed on the image-dependent pair potential (Smidstrup et al., JCP 140, 214106 (2014)).</summary>
    Idpp,
}

/// <summary>Settings of <c>Neb.Run</c>. Forces in eV/Å, spring constant in eV/Å².</summary>
public sealed record NebOptions
{
    /// <summary>Number of movable images between the two end points.</summary>
    public int Images { get; init; } = 7;
    public NebInterpolation Interpolation { get; init; } = NebInterpolation.Linear;
    /// <summary>Spring constant k along the tangent (eV/Å²).</summary>
    public double SpringConstant { get; init; } = 0.1;
    /// <summary>Use a climbing image (Henkelman, Uberuaga, Jónsson, JCP 113, 9901 (2000)).</summary>
    public bool Climb { get; init; }
    /// <summary>Climb from the first step instead of after the plain band has reached <see cref="ClimbAfterFmax"/>.</summary>
    public bool ClimbFromStart { get; init; }
    /// <summary>The climbing image is switched on when the plain band's largest force falls below this (eV/Å).</summary>
    public double ClimbAfterFmax { get; init; } = 0.5;
    /// <summary>Converged when the largest perpendicular (or climbing) force on any movable image is below this (eV/Å).</summary>
    public double Fmax { get; init; } = 0.02;
    public int MaxSteps { get; init; } = 2000;
    /// <summary>Largest FIRE step (norm over the whole band, Å).</summary>
    public double MaxStep { get; init; } = 0.2;
    /// <summary>Relax the end points (positions only, FIRE) before building the band.</summary>
    public bool RelaxEnds { get; init; }
    public double RelaxEndsFmax { get; init; } = 0.01;
    /// <summary>IDPP pre-optimisation: force threshold and step limit.</summary>
    public double IdppFmax { get; init; } = 0.1;
    public int IdppMaxSteps { get; init; } = 2000;
    /// <summary>One line per iteration: step, largest force, barrier, climbing image.</summary>
    public TextWriter? Log { get; init; }
    /// <summary>Write a PNG of the energy profile here.</summary>
    public string? PlotPath { get; init; }
}

/// <summary>One NEB iteration: largest perpendicular/climbing force (eV/Å), forward barrier (eV), climbing image (−1 when none).</summary>
public sealed record NebStep(int Step, double Fmax, double Barrier, int ClimbingImage);

/// <summary>
/// Outcome of a NEB run. <see cref="Images"/> holds all images, end points included (energies set);
/// <see cref="Energies"/> are relative to the initial state; <see cref="ReactionCoordinate"/> is the cumulative
/// path length (Å, 3N-dimensional); <see cref="TangentialForces"/> are F·τ per image (eV/Å, 0 at the ends' own forces projected on the path).
/// </summary>
public sealed record NebResult(
    IReadOnlyList<Structure> Images, double[] Energies, double[] ReactionCoordinate, double[] TangentialForces,
    double[] PerpendicularForces, double ForwardBarrier, double ReverseBarrier, int SaddleImage, int ClimbingImage,
    double Fmax, int Steps, bool Converged, IReadOnlyList<NebStep> History)
{
    /// <summary>Energy at the saddle relative to the initial state (eV), the same as <see cref="ForwardBarrier"/>.</summary>
    public double SaddleEnergy => Energies[SaddleImage];

    /// <summary>Energy profile on a fine grid: cubic Hermite segments through the images with slopes −F·τ (as ASE's NEBTools).</summary>
    public (double[] S, double[] E) Spline(int points = 200)
    {
        int n = Energies.Length;
        var s = new double[points]; var e = new double[points];
        double total = ReactionCoordinate[n - 1];
        for (int p = 0; p < points; p++)
        {
            double x = total * p / (points - 1);
            int k = 0;
            while (k < n - 2 && x > ReactionCoordinate[k + 1]) k++;
            double h = ReactionCoordinate[k + 1] - ReactionCoordinate[k];
            double t = h > 0 ? (x - ReactionCoordinate[k]) / h : 0;
            double d0 = -TangentialForces[k], d1 = -TangentialForces[k + 1];
            double h00 = 2 * t * t * t - 3 * t * t + 1, h10 = t * t * t - 2 * t * t + t, h01 = -2 * t * t * t + 3 * t * t, h11 = t * t * t - t * t;
            s[p] = x;
            e[p] = h00 * Energies[k] + h10 * h * d0 + h01 * Energies[k + 1] + h11 * h * d1;
        }
        return (s, e);
    }
}

/// <summary>
/// Nudged elastic band with the improved tangent (Henkelman &amp; Jónsson, JCP 113, 9978 (2000)) and an optional
/// climbing image. The band is a list of images R_0 … R_{N+1}; the ends are fixed. On a movable image i the NEB
/// force is F_i⊥ + k(|R_{i+1} − R_i| − |R_i − R_{i−1}|) τ_i; the climbing image feels F − 2(F·τ)τ and no spring.
/// All movable images are moved together by FIRE. Positions are kept unwrapped along the path, so an atom that
/// crosses the cell boundary moves continuously.
/// </summary>
public static class Neb
{
    /// <summary>Energy and forces of one image (positions in Å) — the calculator or the IDPP objective.</summary>
    internal delegate (double Energy, Vec3[] Forces) Evaluator(int image, Vec3[] positions);

    public static NebResult Run(ICalculator calculator, Structure initial, Structure final, NebOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(final);
        var o = options ?? new NebOptions();
        if (o.Images < 1) throw new ArgumentException("a band needs at least one movable image", nameof(options));
        CheckCompatible(initial, final);
        var a = Clean(initial); var b = Clean(final);
        if (o.RelaxEnds)
        {
            var ro = new RelaxOptions { Fmax = o.RelaxEndsFmax, MaxSteps = 5000 };
            a = Clean(Relaxation.Relax(calculator, a, ro).Structure);
            b = Clean(Relaxation.Relax(calculator, b, ro).Structure);
        }
        var path = Interpolate(a, b, o.Images);
        if (o.Interpolation == NebInterpolation.Idpp) path = IdppRelax(a, path, o);
        var images = path.Select(p => { var s = a.Clone(); Array.Copy(p, s.Positions, p.Length); return s; }).ToList();
        return Optimize(calculator, images, o);
    }

    /// <summary>Runs the band from a given list of images (end points included), e.g. read from a file.</summary>
    public static NebResult Run(ICalculator calculator, IReadOnlyList<Structure> images, NebOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        if (images.Count < 3) throw new ArgumentException("a band needs two end points and at least one image", nameof(images));
        for (int i = 1; i < images.Count; i++) CheckCompatible(images[0], images[i]);
        return Optimize(calculator, images.Select(Clean).ToList(), options ?? new NebOptions());
    }

    private static Structure Clean(Structure s)
    {
        var c = s.Clone();
        c.Energy = null; c.Forces = null; c.Stress = null;
        return c;
    }

    private static void CheckCompatible(Structure a, Structure b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"the end points differ in atom count ({a.Count} and {b.Count})");
        for (int i = 0; i < a.Count; i++)
            if (a.AtomicNumbers[i] != b.AtomicNumbers[i])
                throw new ArgumentException($"atom {i} is {a.Symbol(i)} in one end point and {b.Symbol(i)} in the other: the same atoms must come in the same order");
        if (a.Cell.MaxAbsDifference(b.Cell) > 1e-6) throw new ArgumentException("the end points must have the same cell");
        if (a.Pbc != b.Pbc) throw new ArgumentException("the end points must have the same periodicity");
    }

    /// <summary>Displacement b − a of one atom under the minimum-image convention along periodic directions.</summary>
    internal static Vec3 MinimumImage(Structure cellOwner, Matrix3 inverse, Vec3 d)
    {
        if (!cellOwner.HasCell) return d;
        var f = d * inverse;
        double fx = cellOwner.Pbc.A ? f.X - Math.Round(f.X) : f.X;
        double fy = cellOwner.Pbc.B ? f.Y - Math.Round(f.Y) : f.Y;
        double fz = cellOwner.Pbc.C ? f.Z - Math.Round(f.Z) : f.Z;
        return new Vec3(fx, fy, fz) * cellOwner.Cell;
    }

    /// <summary>Linear interpolation with the minimum image: images + 2 position sets, ends included (the final end is unwrapped to follow the path).</summary>
    public static Vec3[][] Interpolate(Structure initial, Structure final, int images)
    {
        CheckCompatible(initial, final);
        int n = initial.Count, m = images + 2;
        var inv = initial.HasCell ? initial.Cell.Inverse() : Matrix3.Identity;
        var d = new Vec3[n];
        for (int i = 0; i < n; i++) d[i] = MinimumImage(initial, inv, final.Positions[i] - initial.Positions[i]);
        var path = new Vec3[m][];
        for (int k = 0; k < m; k++)
        {
            double t = (double)k / (m - 1);
            path[k] = new Vec3[n];
            for (int i = 0; i < n; i++) path[k][i] = initial.Positions[i] + t * d[i];
        }
        return path;
    }

    private static Vec3[][] IdppRelax(Structure owner, Vec3[][] path, NebOptions o)
    {
        var idpp = new Idpp(owner, path);
        var images = path.Select(p => { var s = owner.Clone(); Array.Copy(p, s.Positions, p.Length); return s; }).ToList();
        var r = Band(images, idpp.Evaluate, o with { Climb = false, Fmax = o.IdppFmax, MaxSteps = o.IdppMaxSteps, Log = null, PlotPath = null, SpringConstant = o.SpringConstant }, "IDPP");
        return r.Images.Select(s => (Vec3[])s.Positions.Clone()).ToArray();
    }

    /// <summary>IDPP path from the two end points (ends included), for users who want only the guess.</summary>
    public static Vec3[][] IdppPath(Structure initial, Structure final, int images, NebOptions? options = null)
    {
        var path = Interpolate(initial, final, images);
        return IdppRelax(Clean(initial), path, options ?? new NebOptions());
    }

    /// <summary>
    /// Image-dependent pair potential: S_k = Σ_{i&lt;j} w(d_ij) (d_ij^k − d_ij)², with the target distances d_ij^k
    /// interpolated linearly between the end points (minimum image) and w(d) = 1/d⁴.
    /// </summary>
    private sealed class Idpp
    {
        private readonly Structure _owner;
        private readonly Matrix3 _inv;
        private readonly double[] _d0, _d1;
        private readonly int _images;

        public Idpp(Structure owner, Vec3[][] path)
        {
            _owner = owner;
            _inv = owner.HasCell ? owner.Cell.Inverse() : Matrix3.Identity;
            _images = path.Length;
            _d0 = Distances(path[0]);
            _d1 = Distances(path[^1]);
        }

        private double[] Distances(Vec3[] r)
        {
            int n = r.Length;
            var d = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                    d[i * n + j] = MinimumImage(_owner, _inv, r[j] - r[i]).Norm;
            return d;
        }

        public (double, Vec3[]) Evaluate(int image, Vec3[] r)
        {
            int n = r.Length;
            double t = (double)image / (_images - 1);
            var f = new Vec3[n];
            double e = 0;
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                {
                    var v = MinimumImage(_owner, _inv, r[j] - r[i]);
                    double d = v.Norm;
                    if (d < 1e-8) continue;
                    double target = (1 - t) * _d0[i * n + j] + t * _d1[i * n + j];
                    double w = 1.0 / (d * d * d * d);
                    double diff = target - d;
                    e += w * diff * diff;
                    // dS/dd = w'(d) diff² − 2 w diff, w' = −4 w / d
                    double dsdd = -4 * w / d * diff * diff - 2 * w * diff;
                    var g = (dsdd / d) * v; // dS/dr_j
                    f[j] -= g; f[i] += g;
                }
            return (e, f);
        }
    }

    private static NebResult Optimize(ICalculator calc, List<Structure> images, NebOptions o)
    {
        (double, Vec3[]) Eval(int k, Vec3[] r)
        {
            var s = images[k].Clone();
            Array.Copy(r, s.Positions, r.Length);
            var res = calc.Calculate(s, forces: true, stress: false);
            return (res.Energy, res.Forces ?? throw new InvalidOperationException($"{calc.Name} gave no forces"));
        }
        var result = Band(images, Eval, o, "NEB");
        if (o.PlotPath is not null) Plot(o.PlotPath, result, $"NEB: {calc.Name}");
        return result;
    }

    /// <summary>The band optimisation over any per-image energy (the calculator or IDPP).</summary>
    private static NebResult Band(List<Structure> images, Evaluator eval, NebOptions o, string tag)
    {
        int m = images.Count, n = images[0].Count, movable = m - 2;
        var r = images.Select(s => (Vec3[])s.Positions.Clone()).ToArray();
        var energy = new double[m];
        var force = new Vec3[m][];
        for (int k = 0; k < m; k += m - 1) (energy[k], force[k]) = eval(k, r[k]);
        var x = new double[3 * n * movable];
        for (int k = 1; k <= movable; k++)
            for (int i = 0; i < n; i++) { var p = r[k][i]; int at = 3 * ((k - 1) * n + i); x[at] = p.X; x[at + 1] = p.Y; x[at + 2] = p.Z; }
        var fire = new Relaxation.Fire(o.MaxStep);
        var history = new List<NebStep>();
        var tangent = new Vec3[m][];
        var fPar = new double[m]; var fPerp = new double[m];
        bool climbing = o.Climb && o.ClimbFromStart;
        int climb = -1, step = 0;
        bool converged = false;
        double fmax;
        while (true)
        {
            for (int k = 1; k <= movable; k++)
            {
                for (int i = 0; i < n; i++) { int at = 3 * ((k - 1) * n + i); r[k][i] = new Vec3(x[at], x[at + 1], x[at + 2]); }
                (energy[k], force[k]) = eval(k, r[k]);
            }
            climb = -1;
            if (climbing)
            {
                climb = 1;
                for (int k = 2; k <= movable; k++) if (energy[k] > energy[climb]) climb = k;
            }
            var g = new double[x.Length];
            fmax = 0;
            for (int k = 1; k <= movable; k++)
            {
                var tau = Tangent(r[k - 1], r[k], r[k + 1], energy[k - 1], energy[k], energy[k + 1]);
                tangent[k] = tau;
                double ft = 0;
                for (int i = 0; i < n; i++) ft += Vec3.Dot(force[k][i], tau[i]);
                fPar[k] = ft;
                double springMag = 0;
                if (k != climb) springMag = o.SpringConstant * (Distance(r[k + 1], r[k]) - Distance(r[k], r[k - 1]));
                double perp2max = 0;
                for (int i = 0; i < n; i++)
                {
                    var fp = force[k][i] - ft * tau[i];
                    perp2max = Math.Max(perp2max, fp.NormSquared);
                    Vec3 total = k == climb ? force[k][i] - 2 * ft * tau[i] : fp + springMag * tau[i];
                    double check = k == climb ? total.NormSquared : fp.NormSquared;
                    fmax = Math.Max(fmax, check);
                    int at = 3 * ((k - 1) * n + i);
                    g[at] = total.X; g[at + 1] = total.Y; g[at + 2] = total.Z;
                }
                fPerp[k] = Math.Sqrt(perp2max);
            }
            fmax = Math.Sqrt(fmax);
            double barrier = energy.Skip(1).Take(movable).Max() - energy[0];
            history.Add(new NebStep(step, fmax, barrier, climb));
            o.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{tag} {step,5} fmax {fmax,12:E4} barrier {barrier,12:F6} eV{(climb >= 0 ? $" climbing image {climb}" : "")}"));
            bool climbPending = o.Climb && !climbing;
            if (climbPending && fmax < Math.Max(o.ClimbAfterFmax, o.Fmax))
            {
                climbing = true;
                o.Log?.WriteLine($"{tag} climbing image switched on");
                fire = new Relaxation.Fire(o.MaxStep);
                step++;
                continue;
            }
            if (!climbPending && fmax < o.Fmax) { converged = true; break; }
            if (step >= o.MaxSteps) break;
            fire.Step(x, g, 0);
            step++;
        }

        // End points: tangent along the first/last segment, perpendicular force of the true force.
        tangent[0] = Unit(Diff(r[1], r[0]));
        tangent[m - 1] = Unit(Diff(r[m - 1], r[m - 2]));
        foreach (int k in new[] { 0, m - 1 })
        {
            double ft = 0; for (int i = 0; i < n; i++) ft += Vec3.Dot(force[k][i], tangent[k][i]);
            fPar[k] = ft;
            double p2 = 0; for (int i = 0; i < n; i++) p2 = Math.Max(p2, (force[k][i] - ft * tangent[k][i]).NormSquared);
            fPerp[k] = Math.Sqrt(p2);
        }
        var rel = energy.Select(e => e - energy[0]).ToArray();
        var sCoord = new double[m];
        for (int k = 1; k < m; k++) sCoord[k] = sCoord[k - 1] + Distance(r[k], r[k - 1]);
        int saddle = 0;
        for (int k = 1; k < m; k++) if (rel[k] > rel[saddle]) saddle = k;
        var outImages = new List<Structure>(m);
        for (int k = 0; k < m; k++)
        {
            var s = images[k].Clone();
            Array.Copy(r[k], s.Positions, n);
            s.Energy = energy[k];
            s.Forces = (Vec3[])force[k].Clone();
            s.Info["neb_image"] = (double)k;
            outImages.Add(s);
        }
        return new NebResult(outImages, rel, sCoord, fPar, fPerp, rel[saddle], rel[saddle] - rel[m - 1], saddle, climb,
            fmax, step, converged, history);
    }

    private static Vec3[] Diff(Vec3[] a, Vec3[] b)
    {
        var d = new Vec3[a.Length];
        for (int i = 0; i < a.Length; i++) d[i] = a[i] - b[i];
        return d;
    }

    private static double Distance(Vec3[] a, Vec3[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]).NormSquared;
        return Math.Sqrt(s);
    }

    private static Vec3[] Unit(Vec3[] v)
    {
        double s = 0;
        foreach (var p in v) s += p.NormSquared;
        s = Math.Sqrt(s);
        if (s > 0) for (int i = 0; i < v.Length; i++) v[i] /= s;
        return v;
    }

    /// <summary>Improved tangent of Henkelman &amp; Jónsson (2000): the uphill neighbour, energy-weighted at extrema.</summary>
    internal static Vec3[] Tangent(Vec3[] prev, Vec3[] cur, Vec3[] next, double ePrev, double eCur, double eNext)
    {
        int n = cur.Length;
        var tp = Diff(next, cur); var tm = Diff(cur, prev);
        var tau = new Vec3[n];
        if (eNext > eCur && eCur > ePrev) Array.Copy(tp, tau, n);
        else if (eNext < eCur && eCur < ePrev) Array.Copy(tm, tau, n);
        else
        {
            double dPlus = Math.Abs(eNext - eCur), dMinus = Math.Abs(ePrev - eCur);
            double vMax = Math.Max(dPlus, dMinus), vMin = Math.Min(dPlus, dMinus);
            double wp, wm;
            if (eNext > ePrev) { wp = vMax; wm = vMin; } else { wp = vMin; wm = vMax; }
            if (wp == 0 && wm == 0) { wp = 1; wm = 1; }
            for (int i = 0; i < n; i++) tau[i] = wp * tp[i] + wm * tm[i];
        }
        return Unit(tau);
    }

    /// <summary>PNG of the energy profile: the images and the cubic spline through them (slopes from the tangential forces).</summary>
    public static void Plot(string path, NebResult result, string? title = null)
    {
        var (sx, sy) = result.Spline();
        string images = string.Create(CultureInfo.InvariantCulture,
            $"images: Ef = {result.ForwardBarrier:F3} eV, Er = {result.ReverseBarrier:F3} eV");
        SimulationPlots.EnergyProfile(path, title ?? "Nudged elastic band", sx, sy, "spline (tangential forces)", result.ReactionCoordinate, result.Energies, images);
    }
}
