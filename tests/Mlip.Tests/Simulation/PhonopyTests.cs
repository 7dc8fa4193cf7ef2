using System.Text.Json;
using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Simulation;

/// <summary>
/// Mlip's phonon frequencies against phonopy's (Debian python3-phonopy): the force constants Mlip computes
/// (<see cref="Phonons.ComputeForceConstants"/>, Stillinger–Weber Si) are handed to phonopy as its full supercell force
/// constants, and phonopy's frequencies at Γ, X, W, K, L and points along the standard band path equal Mlip's
/// to 1e-6 THz.
/// <list type="bullet">
/// <item>Units: phonopy is given Mlip's conversion factor (CODATA 2018 eV and amu: 15.633304 THz per √(eV/Å²/amu)).
/// Debian's phonopy 2.17 has older constants (VaspToTHz = 15.633302), 1.2e-7 relative lower, about 2e-6 THz at the
/// top of the Si spectrum; the test checks that its default factor differs by exactly that ratio.</item>
/// <item>Masses: Mlip's (<see cref="Elements.Mass"/>) are passed explicitly.</item>
/// <item>q-points: Mlip's fractional q refer to the reciprocal lattice of the cell given to it (a primitive or a
/// conventional cell). Phonopy's refer to its primitive cell. With the 2-atom primitive cell as phonopy's unit and
/// primitive cell, they are the same numbers. With the 8-atom conventional cell and phonopy's primitive_matrix
/// (L_prim = Pᵀ L_conv, rows = lattice vectors), the same Cartesian q is q_conv = P⁻ᵀ q_prim, and phonopy's 6 primitive
/// bands are among Mlip's 24 conventional-cell bands there (band folding).</item>
/// </list>
/// </summary>
public class PhonopyTests(ITestOutputHelper output)
{
    private const double A = 5.431;

    /// <summary>
    /// Reads the cell, masses, supercell and the full force constants in Mlip's supercell order, maps Mlip's supercell
    /// atoms onto phonopy's by position, and prints the frequencies at the given q-points (unit cell and, with a
    /// primitive matrix, primitive cell), with Mlip's factor and with phonopy's default.
    /// </summary>
    private const string Script = """
        import sys, json
        import numpy as np
        import phonopy
        from phonopy import Phonopy
        from phonopy.structure.atoms import PhonopyAtoms
        from phonopy.units import VaspToTHz

        inp = json.load(open(sys.argv[1]))
        lat = np.array(inp["lattice"])
        frac = np.linalg.solve(lat.T, np.array(inp["positions"]).T).T
        unit = PhonopyAtoms(symbols=inp["symbols"], cell=lat, scaled_positions=frac, masses=inp["masses"])

        def make(primitive_matrix, factor):
            ph = Phonopy(unit, supercell_matrix=np.diag(inp["supercell"]), primitive_matrix=primitive_matrix, factor=factor)
            sc = ph.supercell
            sfrac = np.linalg.solve(sc.cell.T, np.array(inp["supercell_positions"]).T).T
            order = []  # phonopy atom -> Mlip atom
            for f in sc.scaled_positions:
                d = sfrac - f
                d -= np.rint(d)
                dist = np.linalg.norm(d @ sc.cell, axis=1)
                k = int(np.argmin(dist))
                assert dist[k] < 1e-6, "a phonopy supercell atom has no Mlip counterpart"
                order.append(k)
            assert sorted(order) == list(range(len(order)))
            fc = np.array(inp["force_constants"]).reshape(len(order), len(order), 3, 3)
            ph.force_constants = fc[np.ix_(order, order)]
            return ph

        def frequencies(ph, qpoints):
            ph.run_qpoints(qpoints)
            return ph.get_qpoints_dict()["frequencies"].tolist()

        out = {"phonopy": phonopy.__version__, "VaspToTHz": VaspToTHz}
        ph = make(None, inp["factor"])
        out["unit"] = frequencies(ph, inp["qpoints_unit"])
        out["unit_default_factor"] = frequencies(make(None, VaspToTHz), inp["qpoints_unit"])
        if inp.get("primitive_matrix") is not None:
            out["primitive"] = frequencies(make(np.array(inp["primitive_matrix"]), inp["factor"]), inp["qpoints_primitive"])
        json.dump(out, open(sys.argv[2], "w"))
        """;

    private static Structure PrimitiveSilicon() => PhononTests.PrimitiveSilicon(A);

    private sealed record PhonopyResult(string Version, double DefaultFactor, double[][] Unit, double[][] UnitDefaultFactor, double[][]? Primitive);

    private static double[] Flat(Vec3 v) => [v.X, v.Y, v.Z];

    private static PhonopyResult RunPhonopy(ForceConstants fc, double[][] qUnit, double[,]? primitiveMatrix, double[][]? qPrimitive)
    {
        PythonScript.Require("phonopy", "python3-phonopy");
        var cell = fc.UnitCell;
        int nat = cell.Count, nb = fc.Supercell[1], nc = fc.Supercell[2], ncell = fc.Supercell[0] * nb * nc, nsc = nat * ncell;
        // Mlip's supercell atom J = c·nat + j sits at r_j + ia a + ib b + ic c, c = (ia·nb + ib)·nc + ic
        var cells = new (int A, int B, int C)[ncell];
        for (int c = 0; c < ncell; c++) cells[c] = (c / (nb * nc), c / nc % nb, c % nc);
        var superPositions = new double[nsc][];
        for (int c = 0; c < ncell; c++)
            for (int j = 0; j < nat; j++)
                superPositions[c * nat + j] = Flat(cell.Positions[j] + cells[c].A * cell.Cell.Row(0) + cells[c].B * cell.Cell.Row(1) + cells[c].C * cell.Cell.Row(2));
        // full Φ(I, J) by translation: Φ(i in cell c1, j in cell c2) = Φ(i in cell 0, j in cell c2 − c1)
        var full = new double[nsc * nsc * 9];
        for (int c1 = 0; c1 < ncell; c1++)
            for (int i = 0; i < nat; i++)
                for (int c2 = 0; c2 < ncell; c2++)
                {
                    int da = ((cells[c2].A - cells[c1].A) % fc.Supercell[0] + fc.Supercell[0]) % fc.Supercell[0];
                    int db = ((cells[c2].B - cells[c1].B) % nb + nb) % nb, dc = ((cells[c2].C - cells[c1].C) % nc + nc) % nc;
                    int rel = (da * nb + db) * nc + dc;
                    for (int j = 0; j < nat; j++)
                        for (int a = 0; a < 3; a++)
                            for (int b = 0; b < 3; b++)
                                full[(((c1 * nat + i) * nsc + c2 * nat + j) * 3 + a) * 3 + b] = fc[i, a, rel * nat + j, b];
                }
        var input = new Dictionary<string, object?>
        {
            ["lattice"] = new[] { Flat(cell.Cell.Row(0)), Flat(cell.Cell.Row(1)), Flat(cell.Cell.Row(2)) },
            ["positions"] = cell.Positions.Select(Flat).ToArray(),
            ["symbols"] = cell.AtomicNumbers.Select(Elements.Symbol).ToArray(),
            ["masses"] = cell.AtomicNumbers.Select(z => Elements.Mass(z)).ToArray(),
            ["supercell"] = fc.Supercell,
            ["supercell_positions"] = superPositions,
            ["force_constants"] = full,
            ["factor"] = ForceConstants.ToTerahertz(1.0),
            ["qpoints_unit"] = qUnit,
            ["primitive_matrix"] = primitiveMatrix is null ? null : Enumerable.Range(0, 3).Select(r => Enumerable.Range(0, 3).Select(c => primitiveMatrix[r, c]).ToArray()).ToArray(),
            ["qpoints_primitive"] = qPrimitive,
        };
        string dir = TestPaths.TempDir();
        string inPath = Path.Combine(dir, "phonopy_in.json"), outPath = Path.Combine(dir, "phonopy_out.json");
        File.WriteAllText(inPath, JsonSerializer.Serialize(input));
        PythonScript.Run(dir, "mlip_fc_to_phonopy.py", Script, [inPath, outPath], TimeSpan.FromMinutes(3));
        using var doc = JsonDocument.Parse(File.ReadAllText(outPath));
        var r = doc.RootElement;
        double[][] Rows(string key) => r.GetProperty(key).EnumerateArray().Select(q => q.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
        return new PhonopyResult(r.GetProperty("phonopy").GetString()!, r.GetProperty("VaspToTHz").GetDouble(),
            Rows("unit"), Rows("unit_default_factor"), r.TryGetProperty("primitive", out var p) && p.ValueKind == JsonValueKind.Array ? Rows("primitive") : null);
    }

    /// <summary>q-points: the special points and 5 per segment of the standard path Γ–X–W–K–Γ–L of the given cell.</summary>
    private static double[][] QPoints(Structure cell)
    {
        var path = Phonons.StandardPath(cell);
        var q = new List<double[]>();
        for (int s = 0; s + 1 < path.Count; s++)
            for (int t = 0; t < (s + 2 == path.Count ? 6 : 5); t++)
                q.Add([.. Enumerable.Range(0, 3).Select(c => path[s].Q[c] + t / 5.0 * (path[s + 1].Q[c] - path[s].Q[c]))]);
        return [.. q];
    }

    private void AssertSameSpectra(string what, ForceConstants fc, double[][] q, double[][] theirs, double tol)
    {
        double worst = 0, top = 0, worstFinite = 0;
        for (int k = 0; k < q.Length; k++)
        {
            var mine = fc.FrequenciesThz(q[k]);
            var other = theirs[k].Order().ToArray();
            Assert.Equal(mine.Length, other.Length);
            for (int m = 0; m < mine.Length; m++)
            {
                worst = Math.Max(worst, Math.Abs(mine[m] - other[m]));
                if (Math.Abs(mine[m]) > 0.1) worstFinite = Math.Max(worstFinite, Math.Abs(mine[m] - other[m]));
                top = Math.Max(top, Math.Abs(mine[m]));
            }
        }
        output.WriteLine($"{what}: {q.Length} q-points, max |Δν| = {worst:E2} THz (highest {top:F4} THz; " +
                         $"{worstFinite:E2} THz above 0.1 THz: the rest is the acoustic modes at Γ, √ of a round-off eigenvalue)");
        Assert.True(worst <= tol, $"{what}: frequencies differ from phonopy's by up to {worst:E2} THz");
    }

    [Fact]
    public void PrimitiveCellFrequenciesEqualPhonopys()
    {
        var cell = PrimitiveSilicon();
        var fc = Phonons.ComputeForceConstants(StillingerWeber.Silicon(), cell, new PhononOptions { Supercell = [3, 3, 3] });
        var q = QPoints(cell);
        var ph = RunPhonopy(fc, q, null, null);
        output.WriteLine($"phonopy {ph.Version}; its VaspToTHz {ph.DefaultFactor:R}, Mlip's {ForceConstants.ToTerahertz(1.0):R}");
        AssertSameSpectra("primitive Si, 3x3x3", fc, q, ph.Unit, 1e-6);
        // phonopy's own factor: the same spectrum scaled by its constants' ratio
        double ratio = ph.DefaultFactor / ForceConstants.ToTerahertz(1.0);
        Assert.InRange(Math.Abs(ratio - 1), 0, 2e-7);
        AssertSameSpectra("primitive Si, phonopy's default factor, rescaled", fc, q,
            [.. ph.UnitDefaultFactor.Select(row => row.Select(v => v / ratio).ToArray())], 1e-6);
    }

    [Fact]
    public void ConventionalCellFrequenciesEqualPhonopysAndFoldPhonopysPrimitiveBands()
    {
        var conv = Crystals.Diamond("Si", A);
        var prim = PrimitiveSilicon();
        var fc = Phonons.ComputeForceConstants(StillingerWeber.Silicon(), conv, new PhononOptions { Supercell = [2, 2, 2] });
        var qConv = QPoints(conv);
        // phonopy's primitive_matrix P: L_prim = Pᵀ L_conv (rows); q_conv = P⁻ᵀ q_prim = L_conv L_prim⁻¹ q_prim
        var pT = prim.Cell * conv.Cell.Inverse();
        var pm = new double[3, 3];
        for (int r = 0; r < 3; r++) for (int c = 0; c < 3; c++) pm[r, c] = Math.Round(pT.Transpose().Row(r)[c] * 2) / 2;
        var qPrim = QPoints(prim);
        var ph = RunPhonopy(fc, qConv, pm, qPrim);
        AssertSameSpectra("conventional Si, 2x2x2", fc, qConv, ph.Unit, 1e-6);

        var toConv = conv.Cell * prim.Cell.Inverse();
        double worst = 0;
        for (int k = 0; k < qPrim.Length; k++)
        {
            var qc = toConv * new Vec3(qPrim[k][0], qPrim[k][1], qPrim[k][2]);
            var mine = fc.FrequenciesThz([qc.X, qc.Y, qc.Z]);
            Assert.Equal(6, ph.Primitive![k].Length);
            foreach (double v in ph.Primitive[k])
                worst = Math.Max(worst, mine.Min(w => Math.Abs(w - v)));
        }
        output.WriteLine($"phonopy's primitive bands (P = {string.Join(",", pm.Cast<double>())}) in Mlip's conventional spectrum: max |Δν| = {worst:E2} THz");
        Assert.True(worst <= 1e-6, $"phonopy's primitive-cell bands are not among Mlip's conventional-cell bands ({worst:E2} THz)");
    }
}
