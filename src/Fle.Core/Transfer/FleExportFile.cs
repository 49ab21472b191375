using System.Globalization;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Fle.Core.Transfer;

/// <summary>
/// Fle's portable export format ("fle-export", version 1): UTF-8 JSON lines, gzip-compressed when the
/// file name ends in .gz. Line 1 is the header; then, per trajectory, a "trajectory" line, one "step"
/// line per step (game state as base64 of the raw bytes) and an "end" line with the counts; the last
/// line is a "footer". Timestamps are ISO-8601 UTC with microseconds. An importer applies a
/// trajectory only when its "end" line is present and the counts match, so a truncated file (a
/// killed export) never yields a half trajectory. See docs/export-format.md.
/// </summary>
public static class FleExportFormat
{
    public const string Name = "fle-export";
    /// <summary>2: a trajectory line may name its parent (parent_id, fork_step_number); version 1 files still import.</summary>
    public const int Version = 2;
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    public static string FormatTime(DateTime t) => FleClock.Truncate(t).ToString(TimeFormat, CultureInfo.InvariantCulture);

    public static DateTime ParseTime(string s)
    {
        if (DateTime.TryParseExact(s, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            || DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out t))
            return FleClock.Truncate(DateTime.SpecifyKind(t, DateTimeKind.Utc));
        throw new FormatException($"'{s}' is not an ISO-8601 timestamp.");
    }

    internal static bool IsGzipName(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when the file starts like an export file (gzip or a JSON header line).</summary>
    public static bool LooksLikeExport(string path)
    {
        using var fs = File.OpenRead(path);
        Span<byte> head = stackalloc byte[2];
        var n = fs.Read(head);
        if (n == 2 && head[0] == 0x1f && head[1] == 0x8b) return true;
        return n >= 1 && head[0] == (byte)'{';
    }
}

/// <summary>Writes an export file, streaming: one trajectory at a time, one step at a time.</summary>
public sealed class FleExportWriter : IAsyncDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
    private readonly Stream _file;
    private readonly GZipStream? _gzip;
    private readonly Stream _stream;
    private readonly Utf8JsonWriter _json;
    private long _trajectories;
    private bool _finished;

    private FleExportWriter(Stream file, GZipStream? gzip)
    {
        _file = file;
        _gzip = gzip;
        _stream = new BufferedStream((Stream?)gzip ?? file, 1 << 16);
        _json = new Utf8JsonWriter(_stream, WriterOptions);
    }

    /// <summary>Create the file (owner-only on Unix), gzip when <paramref name="gzip"/> (default: the name ends in .gz), and write the header.</summary>
    public static FleExportWriter Create(string path, string sourceBackend, string sourceLocation, int schemaVersion, bool? gzip = null)
    {
        var file = FleFiles.CreateOwnerOnly(path);
        var zip = (gzip ?? FleExportFormat.IsGzipName(path)) ? new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true) : null;
        var w = new FleExportWriter(file, zip);
        w.WriteHeader(sourceBackend, sourceLocation, schemaVersion);
        return w;
    }

    public long BytesWritten => _file.Position;

    private void WriteHeader(string backend, string location, int schemaVersion)
    {
        _json.WriteStartObject();
        _json.WriteString("format", FleExportFormat.Name);
        _json.WriteNumber("version", FleExportFormat.Version);
        _json.WriteString("created", FleExportFormat.FormatTime(DateTime.UtcNow));
        _json.WriteString("generator", "Fle " + typeof(FleExportWriter).Assembly.GetName().Version?.ToString(3));
        _json.WriteString("source_backend", backend);
        _json.WriteString("source", location);
        _json.WriteNumber("schema_version", schemaVersion);
        _json.WriteEndObject();
        EndLine();
    }

    public void WriteTrajectory(FleExportRecord t)
    {
        _json.WriteStartObject();
        _json.WriteString("type", "trajectory");
        _json.WriteString("id", t.Id);
        _json.WriteString("task_id", t.TaskId);
        _json.WriteString("status", t.Status.ToString().ToLowerInvariant());
        _json.WriteString("start_time", FleExportFormat.FormatTime(t.StartTime));
        if (t.EndTime is { } e) _json.WriteString("end_time", FleExportFormat.FormatTime(e)); else _json.WriteNull("end_time");
        _json.WritePropertyName("metadata");
        _json.WriteRawValue(FleJson.NormalizeObject(t.MetadataJson), skipInputValidation: true);
        if (t.ParentId is { } parent)
        {
            _json.WriteString("parent_id", parent);
            _json.WriteNumber("fork_step_number", t.ForkStepNumber ?? 0);
        }
        _json.WriteEndObject();
        EndLine();
    }

    public void WriteStep(string trajectoryId, FleExportStep s)
    {
        _json.WriteStartObject();
        _json.WriteString("type", "step");
        _json.WriteString("trajectory_id", trajectoryId);
        _json.WriteNumber("step_number", s.StepNumber);
        _json.WriteString("agent_code", s.AgentCode);
        _json.WriteString("environment_feedback", s.EnvironmentFeedback);
        _json.WriteString("timestamp", FleExportFormat.FormatTime(s.Timestamp));
        _json.WritePropertyName("metadata");
        _json.WriteRawValue(FleJson.NormalizeObject(s.MetadataJson), skipInputValidation: true);
        if (s.GameState is { } g)
        {
            _json.WriteBase64String("game_state", g);
            _json.WriteString("state_timestamp", FleExportFormat.FormatTime(s.StateTimestamp ?? s.Timestamp));
        }
        else
        {
            _json.WriteNull("game_state");
        }
        _json.WriteEndObject();
        EndLine();
    }

    public void WriteEnd(string trajectoryId, long steps, long states)
    {
        _json.WriteStartObject();
        _json.WriteString("type", "end");
        _json.WriteString("trajectory_id", trajectoryId);
        _json.WriteNumber("steps", steps);
        _json.WriteNumber("states", states);
        _json.WriteEndObject();
        EndLine();
        _trajectories++;
    }

    /// <summary>Write the footer and flush everything to disk.</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        _json.WriteStartObject();
        _json.WriteString("type", "footer");
        _json.WriteNumber("trajectories", _trajectories);
        _json.WriteEndObject();
        EndLine();
        await _json.FlushAsync(ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
        if (_gzip is not null) await _gzip.DisposeAsync().ConfigureAwait(false); // writes the gzip trailer; the file stays open
        await _file.FlushAsync(ct).ConfigureAwait(false);
        if (_file is FileStream fs) fs.Flush(flushToDisk: true);
        _finished = true;
    }

    private void EndLine()
    {
        _json.Flush();
        _stream.WriteByte((byte)'\n');
        _json.Reset();
    }

    public async ValueTask DisposeAsync()
    {
        await _json.DisposeAsync().ConfigureAwait(false);
        if (!_finished && _gzip is not null)
        {
            try { await _gzip.DisposeAsync().ConfigureAwait(false); } catch (IOException) { } catch (ObjectDisposedException) { }
        }
        await _file.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Reads an export file as records whose steps stream from the file.</summary>
public sealed class FleExportReader : IAsyncDisposable
{
    private readonly string _path;
    private readonly Stream _file;
    private readonly StreamReader _reader;
    private long _line;

    private FleExportReader(string path, Stream file, StreamReader reader)
    {
        _path = path;
        _file = file;
        _reader = reader;
    }

    /// <summary>Total size of the file and the bytes read so far (for progress).</summary>
    public long Length => _file.Length;
    public long Position => _file.Position;

    public string SourceBackend { get; private set; } = "";
    public string SourceLocation { get; private set; } = "";

    /// <summary>Open and check the header.</summary>
    public static FleExportReader Open(string path)
    {
        Stream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FleException(FleErrorIds.ImportFileInvalid, FleErrorKind.NotFound, $"Cannot read the export file '{path}': {e.Message}", e, path);
        }
        var head = new byte[2];
        var n = file.Read(head, 0, 2);
        file.Position = 0;
        Stream s = n == 2 && head[0] == 0x1f && head[1] == 0x8b ? new GZipStream(file, CompressionMode.Decompress, leaveOpen: true) : file;
        var r = new FleExportReader(path, file, new StreamReader(s, new UTF8Encoding(false, true), false, 1 << 16));
        try
        {
            r.ReadHeader();
        }
        catch
        {
            r._reader.Dispose();
            file.Dispose();
            throw;
        }
        return r;
    }

    private void ReadHeader()
    {
        using var doc = ReadLine() ?? throw Invalid("the file is empty (line 1 should be a header)");
        var root = doc.RootElement;
        if (Str(root, "format") != FleExportFormat.Name)
            throw Invalid($"line {_line} is not a '{FleExportFormat.Name}' header");
        var version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var vi) ? vi : 0;
        if (version < 1)
            throw Invalid($"line {_line} (the header) has no valid format version");
        if (version > FleExportFormat.Version)
            throw new FleException(FleErrorIds.ImportFileInvalid, FleErrorKind.NotSupported,
                $"The export file '{_path}' has format version {version} (line {_line}, the header); this Fle reads versions up to {FleExportFormat.Version}. Update the Fle module.", target: _path);
        SourceBackend = Str(root, "source_backend") ?? "";
        SourceLocation = Str(root, "source") ?? "";
    }

    private JsonDocument? ReadLine()
    {
        string? line;
        do
        {
            try { line = _reader.ReadLine(); }
            catch (Exception e) when (e is InvalidDataException or DecoderFallbackException or IOException)
            {
                throw Invalid($"it could not be read after line {_line} ({e.Message}); the file is damaged or truncated");
            }
            if (line is null) return null;
            _line++;
        } while (line.Length == 0);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw Invalid($"line {_line} is not valid JSON ({e.Message}); the file is damaged or truncated"); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw Invalid($"line {_line} is a JSON {kind.ToString().ToLowerInvariant()}, not an object; the file is damaged");
        }
        return doc;
    }

    private FleException Invalid(string why) => new(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
        $"The export file '{_path}' cannot be imported: {why}.", target: _path)
    { RecommendedAction = "Export the data to a file again, or import the trajectories before the damaged line." };

    private JsonDocument? _pending;

    /// <summary>
    /// The trajectories in the file. Each record's steps must be consumed (or not) before the next record is
    /// requested; steps not consumed are skipped. A record whose "end" line is missing or disagrees throws
    /// FleImportFileInvalid from its step enumeration.
    /// </summary>
    public async IAsyncEnumerable<FleExportRecord> ReadAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var doc = _pending ?? ReadLine();
            _pending = null;
            if (doc is null) throw Invalid($"it ends after line {_line} without a footer line (the export was interrupted or the file truncated)");
            using (doc)
            {
                var root = doc.RootElement;
                var type = Str(root, "type");
                if (type == "footer") yield break;
                if (type != "trajectory") throw Invalid($"line {_line} is a '{type}' line where a trajectory was expected");
                var record = ReadTrajectory(root);
                var state = new RecordState();
                var rec = new FleExportRecord(c => ReadStepsAsync(record.Id, state, c))
                {
                    Id = record.Id, TaskId = record.TaskId, Status = record.Status, StartTime = record.StartTime, EndTime = record.EndTime,
                    MetadataJson = record.MetadataJson, Source = _path, ParentId = record.ParentId, ForkStepNumber = record.ForkStepNumber,
                };
                yield return rec;
                if (!state.Done)
                {
                    // The consumer did not read (all) the steps: skip to this trajectory's end line.
                    await foreach (var _ in ReadStepsAsync(record.Id, state, ct).ConfigureAwait(false)) { }
                }
            }
        }
    }

    private sealed class RecordState
    {
        public bool Started;
        public bool Done;
    }

    private async IAsyncEnumerable<FleExportStep> ReadStepsAsync(string trajectoryId, RecordState state, [EnumeratorCancellation] CancellationToken ct)
    {
        if (state.Started) throw new InvalidOperationException("The steps of a record read from an export file can be enumerated once.");
        state.Started = true;
        long steps = 0, states = 0;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            using var doc = ReadLine() ?? throw Invalid($"it ends after line {_line}, inside trajectory '{trajectoryId}' (no end line: the export was interrupted or the file truncated)");
            var root = doc.RootElement;
            var type = Str(root, "type");
            if (type == "end")
            {
                long? es = Int(root, "steps"), est = Int(root, "states");
                if (es is null || est is null)
                    throw Invalid($"line {_line} (the end line of trajectory '{trajectoryId}') has no valid 'steps' and 'states' counts");
                if (Str(root, "trajectory_id") != trajectoryId)
                    throw Invalid($"line {_line} is the end line of another trajectory inside '{trajectoryId}'");
                if (es != steps || est != states)
                    throw Invalid($"line {_line} (the end line of trajectory '{trajectoryId}') says {es} steps and {est} states, but {steps} and {states} were read");
                state.Done = true;
                yield break;
            }
            if (type != "step") throw Invalid($"line {_line} is a '{type}' line inside trajectory '{trajectoryId}'");
            if (Str(root, "trajectory_id") != trajectoryId) throw Invalid($"line {_line} is a step of another trajectory inside '{trajectoryId}'");
            FleExportStep step;
            try
            {
                byte[]? gs = null;
                DateTime? sts = null;
                if (root.TryGetProperty("game_state", out var g) && g.ValueKind == JsonValueKind.String)
                {
                    gs = g.GetBytesFromBase64();
                    sts = root.TryGetProperty("state_timestamp", out var st) && st.ValueKind == JsonValueKind.String
                        ? FleExportFormat.ParseTime(st.GetString()!) : null;
                }
                step = new FleExportStep
                {
                    StepNumber = root.GetProperty("step_number").GetInt64(),
                    AgentCode = root.GetProperty("agent_code").GetString() ?? "",
                    EnvironmentFeedback = root.GetProperty("environment_feedback").GetString() ?? "",
                    Timestamp = FleExportFormat.ParseTime(root.GetProperty("timestamp").GetString()!),
                    MetadataJson = Meta(root),
                    GameState = gs,
                    StateTimestamp = gs is null ? null : sts ?? FleExportFormat.ParseTime(root.GetProperty("timestamp").GetString()!),
                };
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw Invalid($"line {_line} (a step of '{trajectoryId}') is incomplete or malformed ({e.Message})");
            }
            steps++;
            if (step.GameState is not null) states++;
            yield return step;
        }
#pragma warning disable CS0162
        await Task.CompletedTask.ConfigureAwait(false);
#pragma warning restore CS0162
    }

    private FleExportRecord ReadTrajectory(JsonElement root)
    {
        try
        {
            var status = Str(root, "status") switch
            {
                "running" => FleTrajectoryStatus.Running,
                "completed" => FleTrajectoryStatus.Completed,
                "failed" => FleTrajectoryStatus.Failed,
                var s => throw new FormatException($"unknown status '{s}'"),
            };
            var id = root.GetProperty("id").GetString()!;
            FleIds.Validate(id);
            return new FleExportRecord(_ => throw new InvalidOperationException())
            {
                Id = id,
                TaskId = root.GetProperty("task_id").GetString()!,
                Status = status,
                StartTime = FleExportFormat.ParseTime(root.GetProperty("start_time").GetString()!),
                EndTime = root.TryGetProperty("end_time", out var e) && e.ValueKind == JsonValueKind.String ? FleExportFormat.ParseTime(e.GetString()!) : null,
                MetadataJson = Meta(root),
                ParentId = Parent(root),
                ForkStepNumber = root.TryGetProperty("fork_step_number", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetInt64() : null,
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException
            || (e is FleException fe && fe.ErrorId != FleErrorIds.ImportFileInvalid))
        {
            throw Invalid($"line {_line} (a trajectory) is incomplete or malformed ({e.Message})");
        }
    }

    private static string Meta(JsonElement root) => root.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object ? m.GetRawText() : "{}";

    /// <summary>The parent of a fork (version 2), validated; null for a root.</summary>
    private static string? Parent(JsonElement root)
    {
        if (!root.TryGetProperty("parent_id", out var p) || p.ValueKind == JsonValueKind.Null) return null;
        var id = p.GetString() ?? throw new FormatException("parent_id is not a string");
        FleIds.Validate(id);
        return id;
    }

    private static long? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public ValueTask DisposeAsync()
    {
        _pending?.Dispose();
        _reader.Dispose();
        _file.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>File helpers: owner-only creation (0600 on Unix).</summary>
public static class FleFiles
{
    /// <summary>Create (or truncate) a file readable and writable by its owner only.</summary>
    public static FileStream CreateOwnerOnly(string path, FileMode mode = FileMode.Create)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.ReadWrite, Share = FileShare.Read, BufferSize = 1 << 16 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var fs = new FileStream(path, options);
        RestrictToOwner(path);
        return fs;
    }

    /// <summary>chmod 0600 (no-op on Windows).</summary>
    public static void RestrictToOwner(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path)) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(fs)).ToLowerInvariant();
    }
}
