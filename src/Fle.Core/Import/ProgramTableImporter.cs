using System.Buffers;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>What to import and how to report.</summary>
public sealed class FleProgramImportOptions
{
    /// <summary>FLE's SQLite file (one of this and <see cref="ConnectionString"/>).</summary>
    public string? SqlitePath { get; init; }

    /// <summary>An Npgsql connection string to FLE's PostgreSQL database.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Asked once per run before its first write; null imports everything.</summary>
    public Func<FleProgramRun, FleImportDecision>? Decide { get; init; }

    public IProgress<FleProgramImportProgress>? Progress { get; init; }

    /// <summary>Called for every row that is not imported, as it is met.</summary>
    public Action<FleSkippedProgramRow>? RowSkipped { get; init; }

    /// <summary>Called for a row that is imported with a caveat (a JSON column that is not JSON, kept as text).</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>
/// Imports FLE's <c>programs</c> table (one row per agent step) into a Fle database. See the README section
/// "Importing FLE's programs table" for the mapping. Two forward-only passes over the source, both ordered by
/// version, instance, created_at, id: the first reads only the small columns and decides each run's step
/// numbering; the second reads every column and writes one step per row. Memory does not grow with the table:
/// one row at a time, plus a few numbers per run, plus the program ids already imported for the runs of the
/// (version, instance) being read.
/// </summary>
public static class FleProgramTableImporter
{
    /// <summary>The name-space of the deterministic trajectory ids (UUID version 5, RFC 9562).</summary>
    public static readonly Guid TrajectoryNamespace = new("8f0c3a4e-5b1d-4c6e-9a2f-7e1d0b3c5a69");

    /// <summary>The task id of a run whose version_description has no "type:" line.</summary>
    public const string UnknownTask = "unknown";

    /// <summary>Step-metadata key that holds the source row's id.</summary>
    public const string ProgramIdKey = "program_id";

    private const int MaxListedSkips = 10_000;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task<FleProgramImportResult> ImportAsync(FleStore target, FleProgramImportOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        await using var source = await ProgramTableSource.OpenAsync(options.SqlitePath, options.ConnectionString, cancellationToken).ConfigureAwait(false);
        var run = new ImportRun(target, source, options, cancellationToken);
        try
        {
            await run.ExecuteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not FleException && e is not OperationCanceledException && e is DbException or InvalidCastException or IOException)
        {
            throw source.Translate(e);
        }
        return run.Result(clock.Elapsed);
    }

    /// <summary>The deterministic id of the trajectory of one run: UUIDv5 of the source fingerprint and the run's key.</summary>
    public static string TrajectoryId(string sourceFingerprint, string runKey)
        => NameUuid(TrajectoryNamespace, $"fle-programs/1|{sourceFingerprint}|{runKey}");

    /// <summary>RFC 9562 name-based UUID, version 5 (SHA-1), lowercase text.</summary>
    public static string NameUuid(Guid ns, string name)
    {
        var nsBytes = ns.ToByteArray();
        // Guid.ToByteArray is little-endian in its first three fields; the RFC wants network order.
        Array.Reverse(nsBytes, 0, 4); Array.Reverse(nsBytes, 4, 2); Array.Reverse(nsBytes, 6, 2);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[nsBytes.Length + nameBytes.Length];
        nsBytes.CopyTo(input, 0);
        nameBytes.CopyTo(input, nsBytes.Length);
        var hash = SHA1.HashData(input);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        var hex = Convert.ToHexString(hash, 0, 16).ToLowerInvariant();
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..32]}";
    }

    /// <summary>The step number a depth gives under a numbering, or null when it gives no whole, non-negative number.</summary>
    public static long? StepFromDepth(double? depth, FleStepNumbering numbering)
    {
        if (depth is not { } d || !double.IsFinite(d)) return null;
        var s = numbering switch
        {
            FleStepNumbering.Depth => ((d - 1) / 2) + 1,
            FleStepNumbering.HalvedDepth => ((2 * d - 1) / 2) + 1,
            _ => double.NaN,
        };
        if (!double.IsFinite(s) || s < 0 || s != Math.Floor(s) || s > 1e15) return null;
        return (long)s;
    }

    // ---------------------------------------------------------------------------------------------- values

    /// <summary>A canonical text of a grouping value: equal SQL values give equal texts (1 and 1.0 alike; '1' differs from 1).</summary>
    internal static string Canon(object? v) => v switch
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

    internal static double? AsDouble(object? v) => v switch
    {
        null or DBNull => null,
        double d => d,
        float f => f,
        long or int or short or byte or decimal => Convert.ToDouble(v, CultureInfo.InvariantCulture),
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    /// <summary>A plain value for a JSON document (numbers stay numbers, a float keeps its short form).</summary>
    internal static void WriteValue(Utf8JsonWriter w, object? v)
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
            case double or float: w.WriteStringValue(Convert.ToString(v, CultureInfo.InvariantCulture)); break;
            case bool b: w.WriteBooleanValue(b); break;
            case string str: w.WriteStringValue(str); break;
            case byte[] bytes: w.WriteBase64StringValue(bytes); break;
            default: w.WriteStringValue(Convert.ToString(v, CultureInfo.InvariantCulture)); break;
        }
    }

    internal static bool IsJson(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return false;
        var bytes = Encoding.UTF8.GetBytes(text);
        try
        {
            var r = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 256 });
            while (r.Read()) { }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The parsed <c>meta</c> of a row: null text is an empty object; anything but a JSON object is an error.</summary>
    internal static bool TryParseMeta(string? text, out JsonDocument? doc, out string? error)
    {
        doc = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 256 });
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

    internal static object? ProcessId(JsonDocument? meta)
    {
        if (meta is null || !meta.RootElement.TryGetProperty("process_id", out var p)) return null;
        return p.ValueKind switch
        {
            JsonValueKind.Number => p.TryGetInt64(out var l) ? l : p.GetDouble(),
            JsonValueKind.String => p.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => p.GetRawText(),
        };
    }

    /// <summary>meta.error_occurred is true, a non-zero number, or the text "true".</summary>
    internal static bool ErrorOccurred(JsonDocument? meta)
    {
        if (meta is null || !meta.RootElement.TryGetProperty("error_occurred", out var e)) return false;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.Number => e.GetDouble() != 0,
            JsonValueKind.String => string.Equals(e.GetString(), "true", StringComparison.OrdinalIgnoreCase) || e.GetString() == "1",
            _ => false,
        };
    }

    /// <summary>The key: value lines of a version_description ("model:gpt-4o\ntype:iron_plate_throughput\nnum_agents:1").</summary>
    internal static List<KeyValuePair<string, string>> DescriptionLines(string? description)
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

    // ---------------------------------------------------------------------------------------------- one import

    private sealed class RunPlan
    {
        public long Rows;
        public bool DepthOk = true, HalvedOk = true;
        public long LastDepthStep = -1, LastHalvedStep = -1;
        public DateTime? FirstCreatedAt;
        public long FirstRowId;

        public FleStepNumbering Numbering => DepthOk ? FleStepNumbering.Depth : HalvedOk ? FleStepNumbering.HalvedDepth : FleStepNumbering.Position;

        public void Add(double? depth)
        {
            Rows++;
            Check(ref DepthOk, ref LastDepthStep, StepFromDepth(depth, FleStepNumbering.Depth));
            Check(ref HalvedOk, ref LastHalvedStep, StepFromDepth(depth, FleStepNumbering.HalvedDepth));
        }

        private static void Check(ref bool ok, ref long last, long? step)
        {
            if (!ok) return;
            if (step is not { } s || s <= last) { ok = false; return; }
            last = s;
        }
    }

    private sealed class OpenRun
    {
        public required string Key;
        public required RunPlan Plan;
        public required string TrajectoryId;
        public required object? Version, ProcessId, Instance;
        public string? VersionDescription, ModelColumn, FirstMeta;
        public long Position;
        public bool Checked, Exists, CreatedHere, WasRunning, HasOtherSteps;
        public FleImportDecision? Decision;
        public HashSet<long> ImportedPrograms = [];
        public Dictionary<long, long?> TakenSteps = [];
        public long Written;
        public DateTime? LastCreatedAt;
        public bool LastError;
        public string TaskId = UnknownTask;
    }

    private sealed class ImportRun(FleStore target, ProgramTableSource source, FleProgramImportOptions options, CancellationToken ct)
    {
        private readonly Dictionary<string, RunPlan> _plans = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OpenRun> _open = new(StringComparer.Ordinal);
        private readonly List<FleSkippedProgramRow> _skipped = [];
        private readonly List<string> _trajectoryIds = [];
        private long _rows, _total, _steps, _checkpoints, _bytes, _already, _declined, _skippedCount;
        private int _created, _updated;
        private bool _dry;
        private string _fingerprint = "";

        public async Task ExecuteAsync()
        {
            var (count, maxId, fingerprint) = await source.SurveyAsync(ct).ConfigureAwait(false);
            _fingerprint = fingerprint;
            _total = count;
            if (count == 0) return;
            await ScanAsync(maxId).ConfigureAwait(false);
            await ImportRowsAsync(maxId).ConfigureAwait(false);
        }

        // First pass: runs, their first created_at and their step numbering.
        private async Task ScanAsync(long maxId)
        {
            await using var r = await source.ScanAsync(maxId, ct).ConfigureAwait(false);
            long read = 0;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var id = Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture);
                var version = r.GetValue(1);
                var instance = r.GetValue(2);
                var metaText = r.IsDBNull(3) ? null : r.GetString(3);
                var depth = AsDouble(r.GetValue(4));
                var created = source.ReadTime(r, 5);
                read++;
                if (TryParseMeta(metaText, out var meta, out _))
                {
                    using (meta)
                    {
                        var key = RunKey(version, ProcessId(meta), instance);
                        if (!_plans.TryGetValue(key, out var plan)) _plans[key] = plan = new RunPlan { FirstRowId = id };
                        plan.Add(depth);
                        plan.FirstCreatedAt ??= created;
                    }
                }
                if (read % 64 == 0 || read == _total)
                    options.Progress?.Report(new FleProgramImportProgress { Phase = "Scanning", RowsRead = read, TotalRows = _total });
            }
            _total = read;
        }

        private static string RunKey(object? version, object? processId, object? instance)
            => $"{Canon(version)}|{Canon(processId)}|{Canon(instance)}";

        // Second pass: one step per row.
        private async Task ImportRowsAsync(long maxId)
        {
            await using var r = await source.ReadAsync(maxId, ct).ConfigureAwait(false);
            string? prefix = null;
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                _rows++;
                var id = Convert.ToInt64(r.GetValue(ProgramTableSource.Id), CultureInfo.InvariantCulture);
                var version = r.GetValue(ProgramTableSource.Version);
                var instance = r.GetValue(ProgramTableSource.Instance);
                var rowPrefix = $"{Canon(version)}|{Canon(instance)}";
                if (rowPrefix != prefix)
                {
                    // Every run of the previous (version, instance) is complete: finish them.
                    await CloseAllAsync().ConfigureAwait(false);
                    prefix = rowPrefix;
                }
                var metaText = r.IsDBNull(ProgramTableSource.Meta) ? null : r.GetString(ProgramTableSource.Meta);
                if (!TryParseMeta(metaText, out var meta, out var metaError))
                {
                    Skip(id, FleProgramSkipReason.InvalidMeta, metaError + "; the row's run (process_id) is unknown", null);
                    Report(null);
                    continue;
                }
                using (meta)
                {
                    await ImportRowAsync(r, id, version, instance, metaText, meta).ConfigureAwait(false);
                }
            }
            await CloseAllAsync().ConfigureAwait(false);
        }

        private async Task ImportRowAsync(DbDataReader r, long id, object? version, object? instance, string? metaText, JsonDocument? meta)
        {
            var processId = ProcessId(meta);
            var key = RunKey(version, processId, instance);
            var depthValue = r.GetValue(ProgramTableSource.Depth);
            var createdAt = source.ReadTime(r, ProgramTableSource.CreatedAt);
            var code = r.IsDBNull(ProgramTableSource.Code) ? null : r.GetString(ProgramTableSource.Code);
            var response = r.IsDBNull(ProgramTableSource.Response) ? null : r.GetString(ProgramTableSource.Response);
            var state = source.ReadState(r, ProgramTableSource.State);
            var conversation = NullableString(r, ProgramTableSource.Conversation);
            var value = r.GetValue(ProgramTableSource.Value);
            var visits = r.GetValue(ProgramTableSource.Visits);
            var parentId = r.GetValue(ProgramTableSource.ParentId);
            var completionTokens = r.GetValue(ProgramTableSource.CompletionTokens);
            var promptTokens = r.GetValue(ProgramTableSource.PromptTokens);
            var totalTokens = r.GetValue(ProgramTableSource.TotalTokens);
            var holdout = r.GetValue(ProgramTableSource.HoldoutValue);
            var rawReward = r.GetValue(ProgramTableSource.RawReward);
            var description = NullableString(r, ProgramTableSource.VersionDescription);
            var model = NullableString(r, ProgramTableSource.Model);
            var achievements = NullableString(r, ProgramTableSource.Achievements);
            var advantage = r.GetValue(ProgramTableSource.Advantage);
            var ticks = r.GetValue(ProgramTableSource.Ticks);
            var timing = NullableString(r, ProgramTableSource.TimingMetrics);

            if (!_open.TryGetValue(key, out var run))
            {
                var plan = _plans.TryGetValue(key, out var p) ? p : new RunPlan { FirstRowId = id };
                run = new OpenRun
                {
                    Key = key, Plan = plan, TrajectoryId = TrajectoryId(_fingerprint, key),
                    Version = Plain(version), ProcessId = processId, Instance = Plain(instance),
                    VersionDescription = description, ModelColumn = model, FirstMeta = metaText,
                };
                run.TaskId = TaskOf(description);
                _open[key] = run;
            }
            run.Position++;
            run.LastCreatedAt = createdAt ?? run.LastCreatedAt;
            run.LastError = ErrorOccurred(meta);

            var depth = AsDouble(depthValue);
            var step = run.Plan.Numbering == FleStepNumbering.Position ? run.Position : StepFromDepth(depth, run.Plan.Numbering) ?? run.Position;

            await CheckExistingAsync(run).ConfigureAwait(false);
            if (run.ImportedPrograms.Contains(id))
            {
                _already++;
                Report(run);
                return;
            }
            if (code is null)
            {
                Skip(id, FleProgramSkipReason.NullCode, "code is null", run.TrajectoryId);
                Report(run);
                return;
            }
            if (createdAt is null)
            {
                Skip(id, FleProgramSkipReason.InvalidTimestamp, "created_at is null or not a date and time", run.TrajectoryId);
                Report(run);
                return;
            }
            if (run.TakenSteps.TryGetValue(step, out var holder))
            {
                Skip(id, FleProgramSkipReason.StepConflict,
                    $"step {step} of trajectory '{run.TrajectoryId}' already holds {(holder is { } h ? $"program {h}" : "a step that was not imported")}",
                    run.TrajectoryId);
                Report(run);
                return;
            }

            run.Decision ??= Decide(run);
            if (run.Decision == FleImportDecision.Decline)
            {
                _declined++;
                Report(run);
                return;
            }

            var metadata = StepMetadata(id, parentId, value, rawReward, holdout, advantage, visits, ticks, completionTokens, promptTokens,
                totalTokens, model, depthValue, metaText, achievements, timing, conversation);
            var hasState = state is { Length: > 0 };
            if (run.Decision == FleImportDecision.Import)
            {
                if (!run.Exists)
                {
                    await CreateTrajectoryAsync(run).ConfigureAwait(false);
                }
                var input = new FleStepInput
                {
                    TrajectoryId = run.TrajectoryId, StepNumber = step, AgentCode = code, EnvironmentFeedback = response ?? "",
                    MetadataJson = metadata, GameState = hasState ? state : null, Timestamp = createdAt,
                };
                try
                {
                    if (hasState) await target.SaveCheckpointAsync(input, ct).ConfigureAwait(false);
                    else await target.SaveStepAsync(input, ct).ConfigureAwait(false);
                }
                catch (FleException e) when (e.Kind is FleErrorKind.InvalidArgument or FleErrorKind.InvalidData or FleErrorKind.AlreadyExists)
                {
                    var reason = e.ErrorId == FleErrorIds.StepAlreadyExists ? FleProgramSkipReason.StepConflict : FleProgramSkipReason.Rejected;
                    Skip(id, reason, $"{e.ErrorId}: {e.Message}", run.TrajectoryId);
                    Report(run);
                    return;
                }
            }
            run.TakenSteps[step] = id;
            run.ImportedPrograms.Add(id);
            if (run.Written++ == 0)
            {
                if (run.Exists && !run.CreatedHere) _updated++;
                else _created++;
                _trajectoryIds.Add(run.TrajectoryId);
            }
            _steps++;
            if (hasState)
            {
                _checkpoints++;
                _bytes += state!.LongLength;
            }
            Report(run);
        }

        private static string? NullableString(DbDataReader r, int ordinal)
        {
            if (r.IsDBNull(ordinal)) return null;
            var v = r.GetValue(ordinal);
            return v as string ?? Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        private static object? Plain(object? v) => v is DBNull ? null : v;

        private static string TaskOf(string? description)
        {
            var type = DescriptionLines(description).FirstOrDefault(kv => kv.Key == "type").Value;
            if (string.IsNullOrWhiteSpace(type)) return UnknownTask;
            try
            {
                FleIds.Validate(type, "task id");
                return type;
            }
            catch (FleException)
            {
                return UnknownTask;
            }
        }

        private FleImportDecision Decide(OpenRun run)
        {
            var decision = options.Decide?.Invoke(new FleProgramRun
            {
                TrajectoryId = run.TrajectoryId, TaskId = run.TaskId, Version = run.Version, ProcessId = run.ProcessId,
                Instance = run.Instance, Rows = run.Plan.Rows, StepNumbering = run.Plan.Numbering, Exists = run.Exists,
            }) ?? FleImportDecision.Import;
            if (decision == FleImportDecision.DryRun) _dry = true;
            return decision;
        }

        // A trajectory from an earlier import: which programs it holds, at which step numbers.
        private async Task CheckExistingAsync(OpenRun run)
        {
            if (run.Checked) return;
            run.Checked = true;
            var existing = await target.GetTrajectoryAsync(run.TrajectoryId, ct).ConfigureAwait(false);
            if (existing is null) return;
            run.Exists = true;
            run.WasRunning = existing.Status == FleTrajectoryStatus.Running;
            await foreach (var s in target.GetStepsAsync(run.TrajectoryId, default, false, ct).ConfigureAwait(false))
            {
                long? program = s.Metadata.TryGetValue(ProgramIdKey, out var v) ? v switch
                {
                    long l => l,
                    double d when d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
                    _ => null,
                } : null;
                run.TakenSteps[s.StepNumber] = program;
                if (program is { } p) run.ImportedPrograms.Add(p);
                else run.HasOtherSteps = true;
            }
        }

        private async Task CreateTrajectoryAsync(OpenRun run)
        {
            var start = run.Plan.FirstCreatedAt ?? run.LastCreatedAt ?? FleClock.UtcNow();
            try
            {
                await target.CreateTrajectoryAsync(run.TaskId, TrajectoryMetadata(run), run.TrajectoryId, start, ct).ConfigureAwait(false);
            }
            catch (FleException e) when (e.ErrorId == FleErrorIds.TrajectoryAlreadyExists)
            {
                // Another import of the same source created it meanwhile: add to it.
            }
            run.Exists = true;
            run.CreatedHere = true;
        }

        private string TrajectoryMetadata(OpenRun run)
        {
            using var meta = run.FirstMeta is null ? null : JsonDocument.Parse(run.FirstMeta);
            var lines = DescriptionLines(run.VersionDescription);
            var buffer = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer, WriterOptions))
            {
                w.WriteStartObject();
                var model = lines.FirstOrDefault(kv => kv.Key == "model").Value;
                if (string.IsNullOrEmpty(model) && meta is not null && meta.RootElement.TryGetProperty("model", out var mm) && mm.ValueKind == JsonValueKind.String)
                    model = mm.GetString();
                if (string.IsNullOrEmpty(model)) model = run.ModelColumn;
                w.WritePropertyName("model"); WriteValue(w, model);
                w.WritePropertyName("version"); WriteValue(w, run.Version);
                w.WritePropertyName("version_description"); WriteValue(w, run.VersionDescription);
                w.WritePropertyName("process_id"); WriteValue(w, run.ProcessId);
                w.WritePropertyName("instance"); WriteValue(w, run.Instance);
                if (meta is not null && meta.RootElement.TryGetProperty("sweep_id", out var sweep))
                {
                    w.WritePropertyName("sweep_id");
                    sweep.WriteTo(w);
                }
                string[] reserved = ["model", "version", "version_description", "process_id", "instance", "sweep_id", "imported_from"];
                foreach (var (k, v) in lines)
                {
                    if (reserved.Contains(k)) continue;
                    w.WritePropertyName(k);
                    if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) w.WriteNumberValue(n);
                    else w.WriteStringValue(v);
                }
                w.WriteStartObject("imported_from");
                w.WriteString("format", "fle-programs");
                w.WriteString("source", source.Description);
                w.WriteString("source_fingerprint", _fingerprint);
                w.WriteString("step_numbering", run.Plan.Numbering.ToString());
                w.WriteNumber("first_program_id", run.Plan.FirstRowId);
                w.WriteNumber("rows", run.Plan.Rows);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }

        private string StepMetadata(long id, object parentId, object value, object rawReward, object holdout, object advantage, object visits,
            object ticks, object completionTokens, object promptTokens, object totalTokens, string? model, object depth, string? metaText,
            string? achievements, string? timing, string? conversation)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer, WriterOptions))
            {
                w.WriteStartObject();
                w.WriteNumber(ProgramIdKey, id);
                void Put(string name, object? v) { w.WritePropertyName(name); WriteValue(w, v); }
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
                if (metaText is null) w.WriteNullValue();
                else w.WriteRawValue(metaText, skipInputValidation: true); // validated by TryParseMeta
                JsonColumn(w, id, "achievements", achievements);
                JsonColumn(w, id, "timing_metrics", timing);
                JsonColumn(w, id, "conversation", conversation);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }

        // A JSON text column: embedded as JSON under its short name, or (not valid JSON) kept as text under <name>_json.
        private void JsonColumn(Utf8JsonWriter w, long id, string name, string? text)
        {
            if (text is null)
            {
                w.WriteNull(name);
                return;
            }
            if (IsJson(text))
            {
                w.WritePropertyName(name);
                w.WriteRawValue(text, skipInputValidation: true);
                return;
            }
            w.WriteString(name + "_json", text);
            options.Warning?.Invoke($"Row {id}: {name}_json is not valid JSON; it is kept as text in the step metadata under '{name}_json'.");
        }

        private async Task CloseAllAsync()
        {
            foreach (var run in _open.Values)
            {
                // Finish what this import wrote to, and a trajectory an interrupted import left running (unless steps
                // were added to it in Fle since: then it was resumed on purpose and stays as it is).
                var interrupted = run.Written == 0 && run.WasRunning && !run.HasOtherSteps && run.ImportedPrograms.Count > 0;
                if (run.Written == 0 && !interrupted) continue;
                run.Decision ??= Decide(run);
                if (run.Decision != FleImportDecision.Import) continue;
                var status = run.LastError ? FleTrajectoryStatus.Failed : FleTrajectoryStatus.Completed;
                var end = run.LastCreatedAt ?? FleClock.UtcNow();
                await target.SetTrajectoryEndAsync(run.TrajectoryId, status, end, ct).ConfigureAwait(false);
            }
            _open.Clear();
        }

        private void Skip(long id, FleProgramSkipReason reason, string message, string? trajectoryId)
        {
            var row = new FleSkippedProgramRow(id, reason, message, trajectoryId);
            _skippedCount++;
            if (_skipped.Count < MaxListedSkips) _skipped.Add(row);
            options.RowSkipped?.Invoke(row);
        }

        private void Report(OpenRun? run) => options.Progress?.Report(new FleProgramImportProgress
        {
            Phase = "Importing", RowsRead = _rows, TotalRows = _total, Trajectories = _created + _updated, Steps = _steps,
            CurrentTrajectoryId = run?.TrajectoryId, CurrentTaskId = run?.TaskId,
        });

        public FleProgramImportResult Result(TimeSpan elapsed) => new()
        {
            Source = source.Description, Target = target.Location, WhatIf = _dry, Rows = _rows, Runs = _plans.Count,
            Trajectories = _created, TrajectoriesUpdated = _updated, Steps = _steps, Checkpoints = _checkpoints, Bytes = _bytes,
            AlreadyImported = _already, DeclinedRows = _declined, SkippedRows = _skipped.ToArray(), SkippedCount = _skippedCount,
            TrajectoryIds = _trajectoryIds.ToArray(), Duration = elapsed,
        };
    }
}
