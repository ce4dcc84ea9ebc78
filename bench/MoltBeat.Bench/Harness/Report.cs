using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MoltBeat.Bench.Harness;

/// <summary>The table (median and min–max of the runs, ratio to the best peer), a JSON file and an SVG chart.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Table(IReadOnlyList<Measurement> all)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | metric | peer | median | min–max | vs best peer |");
        sb.AppendLine("| --- | --- | --- | ---: | ---: | ---: |");
        foreach (var group in all.GroupBy(m => (m.Scenario, m.Metric)))
        {
            var byPeer = group.GroupBy(m => m.Peer).Select(p => (Peer: p.Key, Median: Median(p.Select(m => m.Value)), Min: p.Min(m => m.Value), Max: p.Max(m => m.Value), First: p.First(), Notes: string.Join("; ", p.Select(m => m.Note).Where(n => n.Length > 0).Distinct()))).ToList();
            var peers = byPeer.Where(p => p.Peer != "moltbeat").ToList();
            double? best = peers.Count == 0 ? null : group.First().HigherIsBetter ? peers.Max(p => p.Median) : peers.Min(p => p.Median);
            foreach (var p in byPeer)
            {
                var ratio = best is { } b && b != 0 && p.Peer == "moltbeat"
                    ? (p.First.HigherIsBetter ? p.Median / b : b / Math.Max(p.Median, 1e-9)).ToString("0.00", CultureInfo.InvariantCulture) + "×"
                    : "";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Scenario} | {group.Key.Metric} ({p.First.Unit}) | {p.Peer} | {Format(p.Median)} | {Format(p.Min)}–{Format(p.Max)} | {ratio} {p.Notes} |");
            }
        }
        return sb.ToString();
    }

    public static void Write(string directory, IReadOnlyList<Measurement> all)
    {
        Directory.CreateDirectory(directory);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(directory, $"bench-{stamp}.json"), JsonSerializer.Serialize(all, Indented));
        File.WriteAllText(Path.Combine(directory, $"bench-{stamp}.md"), Table(all));
        File.WriteAllText(Path.Combine(directory, $"bench-{stamp}.svg"), Chart(all));
    }

    /// <summary>A bar chart of deliveries/s per fanout-burst size and peer (medians).</summary>
    private static string Chart(IReadOnlyList<Measurement> all)
    {
        var rows = all.Where(m => m.Metric == "deliveries/s").GroupBy(m => (m.Scenario, m.Peer))
            .Select(g => (Label: $"{g.Key.Scenario} · {g.Key.Peer}", Value: Median(g.Select(m => m.Value)), Ours: g.Key.Peer == "moltbeat")).ToList();
        var max = rows.Count == 0 ? 1 : rows.Max(r => r.Value);
        var sb = new StringBuilder();
        var height = 30 + rows.Count * 26;
        sb.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.AppendLine("<text x=\"10\" y=\"18\" font-weight=\"bold\">fanout-burst: deliveries per second (median)</text>");
        for (var i = 0; i < rows.Count; i++)
        {
            var (label, value, ours) = rows[i];
            var y = 30 + i * 26;
            var width = 380 * value / max;
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"10\" y=\"{y + 15}\">{label}</text>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<rect x=\"280\" y=\"{y}\" width=\"{width:0}\" height=\"20\" fill=\"{(ours ? "#2b7bd6" : "#999")}\"/>");
            sb.AppendLine(CultureInfo.InvariantCulture, $"<text x=\"{285 + width:0}\" y=\"{y + 15}\">{value:N0}</text>");
        }
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static string Format(double v) => v >= 1000 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.##", CultureInfo.InvariantCulture);
}
