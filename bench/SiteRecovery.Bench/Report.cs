using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Bench;

/// <summary>One row of the result table: a figure, its target (if it has one) and how it was scaled.</summary>
public sealed record Figure(string Id, string Name, double Value, string Unit, string Target, bool? Met, string Scale)
{
    public string ValueText => Unit switch
    {
        "x" => Value.ToString("0.00", CultureInfo.InvariantCulture),
        "ms" => Value.ToString("0", CultureInfo.InvariantCulture),
        _ => Value.ToString(Value >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture),
    } + (Unit == "x" ? "x" : " " + Unit);
}

/// <summary>Collects figures and notes; prints the table and writes the JSON results.</summary>
public sealed class Report
{
    public List<Figure> Figures { get; } = [];
    public List<string> Notes { get; } = [];
    public JsonObject Machine { get; } = [];
    public JsonObject Details { get; } = [];

    public Figure Add(Figure f) { Figures.Add(f); return f; }

    public void Note(string line) => Notes.Add(line);

    public string Table()
    {
        string[] head = ["#", "figure", "value", "target", "met", "scaling"];
        var rows = Figures.Select(f => new[] { f.Id, f.Name, f.ValueText, f.Target, f.Met switch { true => "yes", false => "NO", null => "-" }, f.Scale }).ToList();
        var widths = head.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        string Line(string[] cells) => string.Join(" | ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        sb.AppendLine(Line(head));
        sb.AppendLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var r in rows) sb.AppendLine(Line(r));
        return sb.ToString();
    }

    public JsonObject ToJson(string mode, DateTime startedUtc, TimeSpan elapsed)
    {
        var figures = new JsonArray();
        foreach (var f in Figures)
            figures.Add(new JsonObject
            {
                ["id"] = f.Id, ["name"] = f.Name, ["value"] = Math.Round(f.Value, 3), ["unit"] = f.Unit,
                ["target"] = f.Target, ["met"] = f.Met is null ? null : JsonValue.Create(f.Met.Value), ["scale"] = f.Scale,
            });
        return new JsonObject
        {
            ["mode"] = mode,
            ["startedUtc"] = startedUtc.ToString("o", CultureInfo.InvariantCulture),
            ["elapsedSeconds"] = Math.Round(elapsed.TotalSeconds, 1),
            ["units"] = "MB = 10^6 bytes, MiB = 2^20 bytes",
            ["machine"] = Machine.DeepClone(),
            ["figures"] = figures,
            ["details"] = Details.DeepClone(),
            ["notes"] = new JsonArray(Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
        };
    }

    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
