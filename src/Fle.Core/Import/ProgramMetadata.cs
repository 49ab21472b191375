using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fle.Core.Import;

/// <summary>The metadata Import-FleProgramTable writes: a trajectory's (from its run) and a step's (from its row).</summary>
internal static class ProgramMetadata
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly string[] Reserved = ["model", "version", "version_description", "process_id", "instance", "sweep_id", "imported_from"];

    /// <summary>
    /// A trajectory's metadata: from its run's first row, model (version_description's model: line, else meta.model, else
    /// the model column), version, version_description, process_id, instance, meta.sweep_id, the other key:value lines of
    /// version_description; and imported_from {format, source, step_numbering and position_from_step (when the depth
    /// scheme stopped) of its chain, first_program_id and rows of the table's rows in it}. Everything but <c>source</c>
    /// follows from the table's rows, so an incremental import and a fresh one write the same.
    /// </summary>
    public static string Trajectory(ProgramTrajectoryWork work, string source)
    {
        var chain = work.Owner;
        var plan = chain.Run;
        using var meta = plan.FirstMetaJson is null ? null : JsonDocument.Parse(plan.FirstMetaJson);
        var lines = ProgramValues.DescriptionLines(plan.VersionDescription);
        return Write(w =>
        {
            var model = lines.FirstOrDefault(kv => kv.Key == "model").Value;
            if (string.IsNullOrEmpty(model) && meta is not null && meta.RootElement.TryGetProperty("model", out var mm) && mm.ValueKind == JsonValueKind.String)
                model = mm.GetString();
            if (string.IsNullOrEmpty(model)) model = plan.ModelColumn;
            w.WritePropertyName("model"); ProgramValues.WriteValue(w, model);
            w.WritePropertyName("version"); ProgramValues.WriteValue(w, plan.Version);
            w.WritePropertyName("version_description"); ProgramValues.WriteValue(w, plan.VersionDescription);
            w.WritePropertyName("process_id"); ProgramValues.WriteValue(w, plan.ProcessId);
            w.WritePropertyName("instance"); ProgramValues.WriteValue(w, plan.Instance);
            if (meta is not null && meta.RootElement.TryGetProperty("sweep_id", out var sweep))
            {
                w.WritePropertyName("sweep_id");
                sweep.WriteTo(w);
            }
            foreach (var (k, v) in lines)
            {
                if (Reserved.Contains(k)) continue;
                w.WritePropertyName(k);
                if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) w.WriteNumberValue(n);
                else w.WriteStringValue(v);
            }
            w.WriteStartObject("imported_from");
            w.WriteString("format", Storage.FleStore.ProgramImportFormat);
            w.WriteString(SourceKey, source);
            w.WriteString("step_numbering", chain.Numbering.ToString());
            if (chain.PositionFromStep is { } p) w.WriteNumber("position_from_step", p);
            w.WriteNumber("first_program_id", work.FirstRowId);
            w.WriteNumber("rows", work.Rows);
            w.WriteEndObject();
        });
    }

    /// <summary>imported_from.source: where the rows were last imported from (not compared: a moved or copied file is the same run).</summary>
    public const string SourceKey = "source";

    /// <summary>One row's step metadata: the row's own columns under FLE's names (program_id for id), JSON columns embedded.</summary>
    public static string Step(long id, object parentId, object value, object rawReward, object holdout, object advantage, object visits,
        object ticks, object completionTokens, object promptTokens, object totalTokens, string? model, object depth, string? metaJson,
        string? achievements, string? timing, string? conversation, Action<string>? warning) => Write(w =>
    {
        w.WriteNumber(FleProgramTableImporter.ProgramIdKey, id);
        void Put(string name, object? v) { w.WritePropertyName(name); ProgramValues.WriteValue(w, v); }
        Put("parent_id", parentId);
        Put("value", value);
        Put("raw_reward", rawReward);
        Put("holdout_value", holdout);
        Put("advantage", advantage);
        Put("visits", visits);
        Put("ticks", ticks);
        Put("completion_token_usage", completionTokens);
        Put("prompt_token_usage", promptTokens);
        Put("token_usage", totalTokens);
        Put("model", model);
        Put("depth", depth);
        w.WritePropertyName("meta");
        if (metaJson is null) w.WriteNullValue();
        else w.WriteRawValue(metaJson, skipInputValidation: true); // parsed by TryParseMeta
        JsonColumn(w, id, "achievements", achievements, warning);
        JsonColumn(w, id, "timing_metrics", timing, warning);
        JsonColumn(w, id, "conversation", conversation, warning);
    });

    // A JSON text column: embedded as JSON under its short name, or (not valid JSON) kept as text under <name>_json.
    private static void JsonColumn(Utf8JsonWriter w, long id, string name, string? text, Action<string>? warning)
    {
        if (text is null)
        {
            w.WriteNull(name);
            return;
        }
        if (ProgramValues.AsJson(text) is { } json)
        {
            w.WritePropertyName(name);
            w.WriteRawValue(json, skipInputValidation: true);
            return;
        }
        w.WriteString(name + "_json", text);
        warning?.Invoke($"Row {id}: {name}_json is not valid JSON; it is kept as text in the step metadata under '{name}_json'.");
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// Whether two trajectory metadata documents say the same, apart from imported_from.source: objects by key (in any
    /// order, as PostgreSQL's jsonb reorders them), numbers by value (jsonb rewrites 1E+20 as 100000000000000000000).
    /// </summary>
    public static bool SameRecord(string stored, string fresh)
    {
        JsonNode? a, b;
        try
        {
            a = JsonNode.Parse(stored);
            b = JsonNode.Parse(fresh);
        }
        catch (JsonException)
        {
            return false;
        }
        if (a?["imported_from"] is JsonObject fa) fa.Remove(SourceKey);
        if (b?["imported_from"] is JsonObject fb) fb.Remove(SourceKey);
        return Same(a, b);
    }

    private static bool Same(JsonNode? a, JsonNode? b)
    {
        switch (a, b)
        {
            case (null, null): return true;
            case (JsonObject x, JsonObject y):
                return x.Count == y.Count && x.All(p => y.TryGetPropertyValue(p.Key, out var v) && Same(p.Value, v));
            case (JsonArray x, JsonArray y):
                return x.Count == y.Count && x.Zip(y).All(p => Same(p.First, p.Second));
            case (JsonValue x, JsonValue y):
                var (ex, ey) = (x.GetValue<JsonElement>(), y.GetValue<JsonElement>());
                if (ex.ValueKind != ey.ValueKind) return false;
                return ex.ValueKind switch
                {
                    JsonValueKind.Number => ex.TryGetDecimal(out var dx) && ey.TryGetDecimal(out var dy) ? dx == dy : ex.GetDouble().Equals(ey.GetDouble()),
                    JsonValueKind.String => ex.GetString() == ey.GetString(),
                    _ => true, // true, false, null: the kind says it all
                };
            default:
                return false;
        }
    }
}
