namespace Mlip.Cli.Commands;

/// <summary>Plain aligned text tables (first row is the header).</summary>
public static class TextTable
{
    public static void Write(TextWriter o, IReadOnlyList<string[]> rows)
    {
        if (rows.Count == 0) return;
        int cols = rows[0].Length;
        var width = new int[cols];
        foreach (var r in rows)
            for (int c = 0; c < cols; c++) width[c] = Math.Max(width[c], r[c].Length);
        for (int k = 0; k < rows.Count; k++)
        {
            var r = rows[k];
            var cells = new string[cols];
            for (int c = 0; c < cols; c++) cells[c] = c == 0 ? r[c].PadRight(width[c]) : r[c].PadLeft(width[c]);
            o.WriteLine(string.Join("  ", cells).TrimEnd());
            if (k == 0)
            {
                var rule = new string[cols];
                for (int c = 0; c < cols; c++) rule[c] = new string('-', width[c]);
                o.WriteLine(string.Join("  ", rule));
            }
        }
    }
}
