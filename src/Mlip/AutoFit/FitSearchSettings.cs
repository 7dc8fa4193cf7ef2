using Mlip.Configuration;

namespace Mlip.AutoFit;

/// <summary>
/// The <c>search:</c> section of an <c>mlip fit</c> config (every key optional; docs/fit.md): the search space, the
/// validation scheme and the budget. The defaults are the automatic path: nothing here needs setting by hand.
/// </summary>
public sealed record FitSearchSettings
{
    [Setting("budget", "wall-clock budget of the whole command in minutes (--budget overrides it)", Min = 0.05)]
    public double Budget { get; init; } = 30;

    [Setting("families", "model families searched, cheapest first: ace (linear ACE, basis grown ladder-style), quadratic (qSNAP on so4), linear (SNAP on so4)")]
    public string Families { get; init; } = "ace,quadratic";

    [Setting("folds", "validation folds: each structure is in one fold, stratified by config_type group", Min = 2, Max = 20)]
    public int Folds { get; init; } = 5;

    [Setting("cross_validation_below", "data sets with fewer structures than this are cross-validated over every fold; larger ones hold out one fold", Min = 0)]
    public int CrossValidationBelow { get; init; } = 400;

    [Setting("cutoffs", "cut-off radii (Å) tried on the cheapest basis; the best one is where the ACE ladder starts (retune_cutoff: true moves it on each level) and is kept for the so4 bases; when the best is the largest (smallest) of them, the search goes on in steps of their spacing (0.5 Å for one radius) while the score falls, up to 8 Å (down to 2 Å)")]
    public double[] Cutoffs { get; init; } = [4.5, 5.0, 5.5];

    [Setting("extend_cutoffs", "when the best of cutoffs is the largest (smallest) of them, go on past the grid's edge while the score falls; false: only the listed radii are tried")]
    public bool ExtendCutoffs { get; init; } = true;

    [Setting("radials", "radial bases of the ACE ladder, comma-separated: SBessel, ChebExpCos, ChebPow, ChebLinear, with ':λ' for ChebExpCos and ChebPow (e.g. SBessel,ChebExpCos:5.25); the first is used from the cheapest level on, the others are searched on level radial_level at its cut-off and the best is kept for the rest of the ladder (and the FS stage)")]
    public string Radials { get; init; } = "SBessel,ChebExpCos:0.5";

    [Setting("radial_level", "the level of the ACE ladder on which the other radial bases of radials are compared with the first (0: the cheapest level, at the best cut-off of the grid); a ladder that stops below it keeps the first", Min = 0, Max = 6)]
    public int RadialLevel { get; init; } = 2;

    [Setting("retune_cutoff", "on every level of the ACE ladder after the cheapest, the neighbouring cut-offs (the spacing of cutoffs, 0.5 Å for one radius) are searched too, first on both sides, then on the side the cut-off last moved to, going on while the score falls and while the next level's estimated time is left after it; the ladder continues at the best. Off by default: on mlearn Si it moved L4 to 7 Å, whose validation score was worse than L4 at 5.5 Å without the re-tune (1.0011 vs 0.9898) and its TEST too (docs/fit.md)")]
    public bool RetuneCutoff { get; init; }

    [Setting("ace_levels", "ACE bases of the ladder: at most this many levels of the built-in ladder (order 3 → order 4, growing nmax and lmax, 24 pair radial functions: 91, 342, 1075, 2099, 4821, 5927, 24197 columns for one element)", Min = 1, Max = 7)]
    public int AceLevels { get; init; } = 7;

    [Setting("fs", "after the ACE ladder, an FS stage: a Finnis-Sinclair density on a small sub-basis fitted to the residuals of the best linear ACE model, validated on the same folds; chosen only when its validation score is lower")]
    public bool Fs { get; init; } = true;

    [Setting("fs_level", "ladder level of the FS stage's sub-basis (0: 91 functions, 1: 342 for one element); capped at the linear model's level", Min = 0, Max = 6)]
    public int FsLevel { get; init; } = 0;

    [Setting("fs_iterations", "Levenberg-Marquardt steps (accepted or not) of each fit of the FS stage at most", Min = 1, Max = 1000)]
    public int FsIterations { get; init; } = 10;

    [Setting("twojmax", "band limits 2J tried for so4 (quadratic and linear families), grown while the validation error falls")]
    public int[] TwoJMax { get; init; } = [6, 8];

    [Setting("force_weights", "force-to-energy loss weight ratios tried")]
    public double[] ForceWeights { get; init; } = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

    [Setting("stress_weights", "stress-to-energy loss weight ratios tried when the data carry stresses")]
    public double[] StressWeights { get; init; } = [0, 1e-6, 1e-5, 1e-4, 1e-3];

    [Setting("ridges", "ridge scales λ0 tried (the ACE smoothness prior's λ0; the polynomial models' ridge)")]
    public double[] Ridges { get; init; } = [1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4];

    [Setting("smoothness", "exponents of the ACE smoothness prior tried")]
    public double[] Smoothness { get; init; } = [0, 1, 2, 3, 4];

    [Setting("sweeps", "coordinate-descent sweeps over the loss weights and priors of each basis", Min = 1, Max = 10)]
    public int Sweeps { get; init; } = 2;

    [Setting("refine", "after the sweeps, try the geometric midpoints between the best force weight (and ridge) and its neighbours on their grids")]
    public bool Refine { get; init; } = true;

    [Setting("memory", "memory limit in GB of the whole process (--memory overrides it): a basis whose estimated peak passes it is skipped, and the fit refuses to start when even the smallest basis does; 0: the memory the machine has available when the fit starts (MemAvailable, or MLIP_MEMORY_BYTES)", Min = 0)]
    public double Memory { get; init; }

    [Setting("stress_score", "weight of the relative stress error in the validation score (energy and forces weigh 1)", Min = 0)]
    public double StressScore { get; init; } = 0.25;
}
