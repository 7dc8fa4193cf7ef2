using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Mlip.IO;
using Mlip.Reporting;
using Mlip.Training;

namespace Mlip.AutoFit;

/// <summary>
/// The files of <c>mlip fit</c> besides the model: report.json (every candidate, every basis, the choice, TRAIN and
/// TEST errors), pareto.png (validation score against evaluation cost), parity_energy.png and parity_forces.png, and
/// report.html, one self-contained page (the figures embedded as data URIs) a scientist opens in a browser.
/// </summary>
public static class FitReport
{
    public static void Write(string dir, FitOutcome o, FitSearchSettings settings)
    {
        var costOf = o.Bases.ToDictionary(b => b.Basis.Label, b => b.CostUsPerAtom);
        var columnsOf = o.Bases.ToDictionary(b => b.Basis.Label, b => b.Columns);
        var root = new JsonObject
        {
            ["budget_minutes"] = o.BudgetSeconds / 60,
            ["seconds"] = o.Seconds,
            ["validation"] = o.Folds.IsCrossValidation ? $"{o.Folds.Count}-fold cross-validation, stratified by config_type" : $"hold-out (1 of {o.Folds.Count} folds), stratified by config_type",
            ["score"] = $"sum over energy, forces (and stress at weight {settings.StressScore.ToString("G3", CultureInfo.InvariantCulture)}) of the validation MAE over the first candidate's",
            ["chosen"] = new JsonObject
            {
                ["id"] = o.Chosen.Id,
                ["basis"] = o.Chosen.Basis.Json(),
                ["hyperparameters"] = o.Chosen.Hyper.Json(),
                ["validation"] = o.Chosen.Errors is null ? null : FitCandidate.ErrorsJson(o.Chosen.Errors),
                ["score"] = o.Chosen.Score,
                ["reason"] = o.Reason,
                ["model"] = Path.GetFileName(o.ModelPath),
                ["evaluation_us_per_atom"] = costOf.GetValueOrDefault(o.Chosen.Basis.Label),
            },
            ["train_errors"] = MetricsJson.Report(o.TrainErrors),
            ["test_errors"] = o.TestErrors is null ? null : MetricsJson.Report(o.TestErrors),
            ["train_force_errors_per_element"] = ElementJson(PerElement(o.TrainErrors)),
            ["test_force_errors_per_element"] = o.TestErrors is null ? null : ElementJson(PerElement(o.TestErrors)),
            ["train_errors_per_element_pair"] = PairJson(ElementPairErrors.Of(o.TrainErrors)),
            ["test_errors_per_element_pair"] = o.TestErrors is null ? null : PairJson(ElementPairErrors.Of(o.TestErrors)),
            ["bases"] = new JsonArray([.. o.Bases.Select(b => (JsonNode)b.Json())]),
            ["candidates"] = new JsonArray([.. o.Candidates.Select(c => (JsonNode)c.Json(costOf.GetValueOrDefault(c.Basis.Label), columnsOf.GetValueOrDefault(c.Basis.Label)))]),
        };
        AtomicFile.WriteJson(Path.Combine(dir, "report.json"), root);

        // the Pareto front: the best candidate of each basis, validation score against cost
        var perBasis = o.Candidates.Where(c => double.IsFinite(c.Score)).GroupBy(c => c.Basis.Label).Select(g => g.MinBy(c => c.Score)!).ToList();
        var points = perBasis.Select(c => (c.Basis.Label, costOf.GetValueOrDefault(c.Basis.Label) ?? double.NaN, c.Score)).ToList();
        Plots.Pareto(Path.Combine(dir, "pareto.png"), "Validation score against evaluation cost", "evaluation cost (µs/atom, energy + forces + stress)",
            "validation score (lower is better)", points, perBasis.FindIndex(c => c.Basis.Label == o.Chosen.Basis.Label));
        TrainingRun.WriteParityPlots(dir, o.TrainErrors, o.TestErrors);
        File.WriteAllText(Path.Combine(dir, "report.html.tmp"), Html(dir, o, perBasis, costOf));
        File.Move(Path.Combine(dir, "report.html.tmp"), Path.Combine(dir, "report.html"), overwrite: true);
    }

    /// <summary>Force errors by the element of the atom: (symbol, atoms, MAE, RMSE in eV/Å) over the force components.</summary>
    public static IReadOnlyList<(string Element, int Atoms, double Mae, double Rmse)> PerElement(Evaluation e)
    {
        var sums = new SortedDictionary<int, (int Atoms, double Abs, double Sq, long N)>();
        foreach (var c in e.Comparisons)
        {
            if (c.Structure.Forces is not { } f || c.Predicted.Forces is not { } pf) continue;
            for (int i = 0; i < f.Length; i++)
            {
                int z = c.Structure.AtomicNumbers[i];
                var (atoms, abs, sq, n) = sums.GetValueOrDefault(z);
                for (int k = 0; k < 3; k++)
                {
                    double d = pf[i][k] - f[i][k];
                    abs += Math.Abs(d); sq += d * d; n++;
                }
                sums[z] = (atoms + 1, abs, sq, n);
            }
        }
        return [.. sums.Select(kv => (Structures.Elements.Symbol(kv.Key), kv.Value.Atoms, kv.Value.Abs / kv.Value.N, Math.Sqrt(kv.Value.Sq / kv.Value.N)))];
    }

    private static JsonObject ElementJson(IReadOnlyList<(string Element, int Atoms, double Mae, double Rmse)> rows)
    {
        var o = new JsonObject();
        foreach (var (el, atoms, mae, rmse) in rows) o[el] = new JsonObject { ["atoms"] = atoms, ["force_mae_ev_per_a"] = mae, ["force_rmse_ev_per_a"] = rmse };
        return o;
    }

    private static JsonObject? PairJson(IReadOnlyList<ElementPairError> rows)
    {
        if (rows.Count == 0) return null;
        var o = new JsonObject
        {
            ["definition"] = $"bonded pairs: distance at most {ElementPairErrors.ShellFactor.ToString("G3", CultureInfo.InvariantCulture)} x the smaller nearest-neighbour distance of the two atoms; energy over the structures with such a bond, force over the atoms in one; groups overlap",
        };
        foreach (var r in rows)
            o[r.Pair] = new JsonObject
            {
                ["structures"] = r.Structures, ["energy_mae_mev_per_atom"] = r.EnergyMaeMevPerAtom, ["energy_rmse_mev_per_atom"] = r.EnergyRmseMevPerAtom,
                ["atoms"] = r.Atoms, ["force_mae_ev_per_a"] = r.ForceMaeEvPerA, ["force_rmse_ev_per_a"] = r.ForceRmseEvPerA,
            };
        return o;
    }

    private static string Html(string dir, FitOutcome o, List<FitCandidate> perBasis, Dictionary<string, double?> costOf)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        static string N(double? v, string f) => v is double x ? x.ToString(f, CultureInfo.InvariantCulture) : "–";
        string Img(string file, string alt) =>
            $"<figure><img alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, file)))}\"><figcaption>{E(alt)}</figcaption></figure>";
        var w = new StringBuilder();
        w.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlip fit report</title><style>")
         .Append("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}")
         .Append("td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}td:first-child{text-align:left}")
         .Append("tr.chosen{background:#ffe9d6}figure{display:inline-block;margin:0.5em}img{width:520px}</style></head><body>\n");
        w.Append("<h1>mlip fit</h1>\n");
        var c = o.Chosen;
        w.Append($"<h2>Chosen model</h2>\n<p id=\"chosen\"><b>{E(c.Basis.Label)}</b> ({E(c.Basis.Family)}, {E(c.Basis.Descriptor.Type)} descriptor), {E(c.Hyper.ToString())}.</p>\n");
        w.Append($"<p>Why: {E(o.Reason)}.</p>\n");
        w.Append($"<p>Time: {N(o.Seconds / 60, "F1")} of {N(o.BudgetSeconds / 60, "F1")} minutes. Model file: <code>{E(Path.GetFileName(o.ModelPath))}</code>.</p>\n");
        w.Append("<h2>Errors of the chosen model</h2>\n");
        void ErrorTable(string title, IEnumerable<KeyValuePair<string, ErrorMetrics>> rows)
        {
            w.Append($"<h3>{E(title)}</h3>\n<table><tr><th>group</th><th>structures</th><th>E MAE (meV/atom)</th><th>E RMSE</th><th>F MAE (eV/Å)</th><th>F RMSE</th><th>S MAE (GPa)</th><th>S RMSE</th></tr>\n");
            foreach (var (g, m) in rows)
                w.Append($"<tr><td>{E(g)}</td><td>{m.Structures}</td><td>{N(m.EnergyMaeMevPerAtom, "F2")}</td><td>{N(m.EnergyRmseMevPerAtom, "F2")}</td><td>{N(m.ForceMaeEvPerA, "F4")}</td><td>{N(m.ForceRmseEvPerA, "F4")}</td><td>{N(m.StressMaeGpa, "F3")}</td><td>{N(m.StressRmseGpa, "F3")}</td></tr>\n");
            w.Append("</table>\n");
        }
        if (c.Errors is { } ve) ErrorTable("Validation (the errors the choice was made on)", [.. ve.Groups, new("all", ve.Overall)]);
        ErrorTable("Training set (refitted on all of it)", [.. o.TrainErrors.Groups, new("all", o.TrainErrors.Overall)]);
        if (o.TestErrors is { } te) ErrorTable("Test set (evaluated once, after the choice)", [.. te.Groups, new("all", te.Overall)]);
        w.Append("<h3>Force errors by element</h3>\n<table><tr><th>set</th><th>element</th><th>atoms</th><th>F MAE (eV/Å)</th><th>F RMSE</th></tr>\n");
        foreach (var (set, ev) in new[] { ("training", o.TrainErrors), ("test", o.TestErrors) })
            if (ev is not null)
                foreach (var (el, atoms, mae, rmse) in PerElement(ev))
                    w.Append($"<tr><td>{set}</td><td>{E(el)}</td><td>{atoms}</td><td>{N(mae, "F4")}</td><td>{N(rmse, "F4")}</td></tr>\n");
        w.Append("</table>\n");
        var pairs = new[] { ("training", o.TrainErrors), ("test", o.TestErrors) }
            .Where(t => t.Item2 is not null).Select(t => (Set: t.Item1, Rows: ElementPairErrors.Of(t.Item2!))).Where(t => t.Rows.Count > 0).ToList();
        if (pairs.Count > 0)
        {
            w.Append("<h3 id=\"element-pairs\">Errors by bonded element pair</h3>\n<p>Two atoms are bonded when their distance is at most ")
             .Append(N(ElementPairErrors.ShellFactor, "G3"))
             .Append(" times the smaller of their nearest-neighbour distances. A pair's energy error is over the structures holding such a bond, its force error over the atoms in one; the groups overlap.</p>\n")
             .Append("<table><tr><th>set</th><th>pair</th><th>structures</th><th>E MAE (meV/atom)</th><th>E RMSE</th><th>atoms</th><th>F MAE (eV/Å)</th><th>F RMSE</th></tr>\n");
            foreach (var (set, rows) in pairs)
                foreach (var r in rows)
                    w.Append($"<tr><td>{set}</td><td>{E(r.Pair)}</td><td>{r.Structures}</td><td>{N(r.EnergyMaeMevPerAtom, "F2")}</td><td>{N(r.EnergyRmseMevPerAtom, "F2")}</td><td>{r.Atoms}</td><td>{N(r.ForceMaeEvPerA, "F4")}</td><td>{N(r.ForceRmseEvPerA, "F4")}</td></tr>\n");
            w.Append("</table>\n");
        }
        w.Append("<h2>Figures</h2>\n");
        w.Append(Img("pareto.png", "Pareto front: validation score against evaluation cost"));
        w.Append(Img("parity_energy.png", "Parity: energy per atom"));
        w.Append(Img("parity_forces.png", "Parity: force components"));
        w.Append("\n<h2>Bases</h2>\n<table><tr><th>basis</th><th>columns</th><th>build (s)</th><th>estimate (s)</th><th>cost (µs/atom)</th><th>best score</th><th>val E MAE</th><th>val F MAE</th><th>val S MAE</th><th>status</th></tr>\n");
        foreach (var b in o.Bases)
        {
            var best = perBasis.FirstOrDefault(p => p.Basis.Label == b.Basis.Label);
            string cls = b.Basis.Label == c.Basis.Label ? " class=\"chosen\"" : "";
            w.Append($"<tr{cls}><td>{E(b.Basis.Label)}</td><td>{b.Columns}</td><td>{N(b.BuildSeconds, "F1")}</td><td>{N(b.EstimateSeconds, "F0")}</td><td>{N(b.CostUsPerAtom, "F1")}</td>" +
                     $"<td>{N(best?.Score, "F4")}</td><td>{N(best?.Errors?.Overall.EnergyMaeMevPerAtom, "F2")}</td><td>{N(best?.Errors?.Overall.ForceMaeEvPerA, "F4")}</td><td>{N(best?.Errors?.Overall.StressMaeGpa, "F3")}</td><td>{E(b.Status)}</td></tr>\n");
        }
        w.Append("</table>\n<h2>Every candidate</h2>\n<table><tr><th>id</th><th>basis</th><th>force w</th><th>stress w</th><th>ridge</th><th>smoothness</th><th>val E MAE</th><th>val F MAE</th><th>val S MAE</th><th>score</th></tr>\n");
        foreach (var k in o.Candidates)
        {
            string cls = k.Id == c.Id ? " class=\"chosen\"" : "";
            var m = k.Errors?.Overall;
            w.Append($"<tr{cls}><td>{k.Id}</td><td>{E(k.Basis.Label)}</td><td>{N(k.Hyper.Force, "G3")}</td><td>{N(k.Hyper.Stress, "G3")}</td><td>{N(k.Hyper.Ridge, "G3")}</td><td>{N(k.Hyper.Smoothness, "G3")}</td>" +
                     $"<td>{N(m?.EnergyMaeMevPerAtom, "F2")}</td><td>{N(m?.ForceMaeEvPerA, "F4")}</td><td>{N(m?.StressMaeGpa, "F3")}</td><td>{(double.IsFinite(k.Score) ? N(k.Score, "F4") : E(k.Status))}</td></tr>\n");
        }
        // the page counts its figures that decoded (the browser test reads the count from the DOM)
        w.Append("</table>\n<script>window.addEventListener('load',function(){var n=0;for(const i of document.images){if(i.complete&&i.naturalWidth>0)n++;}document.body.setAttribute('data-figures-loaded',String(n));});</script>\n</body></html>\n");
        return w.ToString();
    }
}
