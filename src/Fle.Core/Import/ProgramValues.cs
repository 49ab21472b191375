using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Fle.Core.Import;

/// <summary>How the values of a <c>programs</c> row are read: grouping keys, numbers, FLE's JSON columns, version_description.</summary>
internal static class ProgramValues
{
    /// <summary>A canonical text of a grouping value: equal SQL values give equal texts (1 and 1.0 alike; '1' differs from 1).</summary>
    public static string Canon(object? v) => v switch
    {
        null or DBNull => "null",
        long or int or short or byte => Convert.ToString(v, CultureInfo.InvariantCulture)!,
        double d => CanonDouble(d),
        float f => CanonDouble(f),
        decimal m => m == decimal.Truncate(m) && Math.Abs(m) < 1e15m ? ((long)m).ToString(CultureInfo.InvariantCulture) : m.ToString(CultureInfo.InvariantCulture),
        string s => JsonSerializer.Serialize(s),
        bool b => b ? "true" : "false",
        byte[] bytes => "x" + Convert.ToHexString(bytes),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "null",
    };

    private static string CanonDouble(double d) => double.IsFinite(d) && d == Math.Floor(d) && Math.Abs(d) < 1e15
        ? ((long)d).ToString(CultureInfo.InvariantCulture) : d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The key of a run: its version, process id and instance.</summary>
    public static string RunKey(object? version, object? processId, object? instance) => $"{Canon(version)}|{Canon(processId)}|{Canon(instance)}";

    public static double? AsDouble(object? v) => v switch
    {
        null or DBNull => null,
        double d => d,
        float f => f,
        long or int or short or byte or decimal => Convert.ToDouble(v, CultureInfo.InvariantCulture),
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    /// <summary>A whole number from a JSON element or a database value (a program id read back from step metadata).</summary>
    public static long? AsWhole(object? v) => v switch
    {
        long l => l,
        int i => i,
        double d when double.IsFinite(d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
        decimal m when m == decimal.Truncate(m) && Math.Abs(m) < 1e15m => (long)m,
        string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
        _ => null,
    };

    /// <summary>
    /// A plain value for a JSON document: numbers stay numbers (a float keeps its short form), a non-finite number becomes
    /// the string "NaN", "Infinity" or "-Infinity" (<see cref="PythonJson.NonFinite"/>).
    /// </summary>
    public static void WriteValue(Utf8JsonWriter w, object? v)
    {
        switch (v)
        {
            case null or DBNull: w.WriteNullValue(); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue(i); break;
            case short s: w.WriteNumberValue(s); break;
            case byte b: w.WriteNumberValue(b); break;
            case decimal m: w.WriteNumberValue(m); break;
            case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
            case float f when float.IsFinite(f): w.WriteNumberValue(f); break;
            case double d: w.WriteStringValue(PythonJson.NonFinite(d)); break;
            case float f: w.WriteStringValue(PythonJson.NonFinite(f)); break;
            case bool b: w.WriteBooleanValue(b); break;
            case string str: w.WriteStringValue(str); break;
            case byte[] bytes: w.WriteBase64StringValue(bytes); break;
            default: w.WriteStringValue(Convert.ToString(v, CultureInfo.InvariantCulture)); break;
        }
    }

    /// <summary>
    /// One of FLE's JSON text columns (written by json.dumps) as standard JSON (non-finite numbers as strings), or null
    /// when it is not valid JSON.
    /// </summary>
    public static string? AsJson(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var json = PythonJson.ToStandardJson(text);
        var bytes = Encoding.UTF8.GetBytes(json);
        try
        {
            var r = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 256 });
            while (r.Read()) { }
            return json;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The parsed <c>meta</c> of a row, read as Python writes it (NaN, Infinity, -Infinity accepted: see
    /// <see cref="PythonJson"/>): null text is an empty object; anything but a JSON object is an error.
    /// <paramref name="json"/> is the standard JSON text of it.
    /// </summary>
    public static bool TryParseMeta(string? text, out JsonDocument? doc, out string? json, out string? error)
    {
        doc = null;
        json = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        json = PythonJson.ToStandardJson(text);
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            error = $"meta is not valid JSON ({e.Message})";
            return false;
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            error = $"meta is a JSON {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object";
            doc.Dispose();
            doc = null;
            return false;
        }
        return true;
    }

    /// <summary>A JSON value as a plain .NET value (long, double, string, or its JSON text).</summary>
    public static object? Plain(JsonElement p) => p.ValueKind switch
    {
        JsonValueKind.Number => p.TryGetInt64(out var l) ? l : p.GetDouble(),
        JsonValueKind.String => p.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        _ => p.GetRawText(),
    };

    /// <summary>meta.process_id: a number, a string, null, or (anything else) its JSON text.</summary>
    public static object? ProcessId(JsonDocument? meta)
    {
        if (meta is null || !meta.RootElement.TryGetProperty("process_id", out var p)) return null;
        return p.ValueKind switch
        {
            JsonValueKind.Number or JsonValueKind.String or JsonValueKind.Null => Plain(p),
            _ => p.GetRawText(),
        };
    }

    /// <summary>meta.error_occurred is true, a non-zero number, or the text "true" or "1".</summary>
    public static bool ErrorOccurred(JsonElement meta)
    {
        if (meta.ValueKind != JsonValueKind.Object || !meta.TryGetProperty("error_occurred", out var e)) return false;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.Number => e.GetDouble() != 0,
            JsonValueKind.String => string.Equals(e.GetString(), "true", StringComparison.OrdinalIgnoreCase) || e.GetString() == "1",
            _ => false,
        };
    }

    /// <summary>The key: value lines of a version_description ("model:gpt-4o\ntype:iron_plate_throughput\nnum_agents:1").</summary>
    public static List<KeyValuePair<string, string>> DescriptionLines(string? description)
    {
        var list = new List<KeyValuePair<string, string>>();
        if (string.IsNullOrEmpty(description)) return list;
        foreach (var raw in description.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) continue;
            var key = line[..colon].Trim();
            if (key.Length == 0 || list.Any(kv => kv.Key == key)) continue;
            list.Add(new(key, line[(colon + 1)..].Trim()));
        }
        return list;
    }

    /// <summary>The task id: the "type:" line of version_description, or <see cref="FleProgramTableImporter.UnknownTask"/>.</summary>
    public static string TaskOf(string? description)
    {
        var type = DescriptionLines(description).FirstOrDefault(kv => kv.Key == "type").Value;
        if (string.IsNullOrWhiteSpace(type)) return FleProgramTableImporter.UnknownTask;
        try
        {
            FleIds.Validate(type, "task id");
            return type;
        }
        catch (FleException)
        {
            return FleProgramTableImporter.UnknownTask;
        }
    }
}
