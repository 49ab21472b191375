using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>
/// FLE's own Python client (fle/commons/db_client.py of FLE 0.4.3: create_program, update_program, its models and
/// GameState.to_raw()), driven by tests/FleClient/fle_programs.py. FLE's code is not in this repository: the script
/// extracts it from FLE_SOURCE_GIT at run time (see TOOLCHAIN.md). Every run is bounded: a timeout, and ulimit -f.
/// </summary>
public static class FleClient
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private static readonly Lazy<string?> ProblemOnce = new(Probe);

    public static string Script { get; } = Path.Combine(RepositoryRoot(), "tests", "FleClient", "fle_programs.py");

    /// <summary>The interpreter: FLE_PYTHON, else python3 on PATH (it must have pydantic 2).</summary>
    public static string Python => Environment.GetEnvironmentVariable("FLE_PYTHON") is { Length: > 0 } p ? p : "python3";

    /// <summary>Null when FLE's client can run here; else exactly what is missing.</summary>
    public static string? Problem => ProblemOnce.Value;

    private static string? Probe()
    {
        try
        {
            var (code, stdout, stderr) = RunAsync(["--check"], null).GetAwaiter().GetResult();
            if (code == 0 && stdout.Trim() == "ok") return null;
            var line = stderr.Split('\n').FirstOrDefault(l => l.StartsWith("FLE client unavailable:", StringComparison.Ordinal));
            return line ?? $"{Python} {Script} --check failed (exit {code}): {stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"FLE client unavailable: {Python} could not be started ({e.Message}); FLE's client needs Python >= 3.10 with pydantic 2 (set FLE_PYTHON to use another).";
        }
    }

    /// <summary>Run operations through FLE's client (see the script's doc); returns what it wrote, one entry per "program" op.</summary>
    public static async Task<List<FleWrittenRow>> RunAsync(object db, IEnumerable<object> ops)
    {
        if (Problem is { } problem)
            throw new InvalidOperationException(problem + (Environment.GetEnvironmentVariable("CI") == "true" ? " (CI=true: this test is never skipped)" : ""));
        var input = JsonSerializer.Serialize(new { db, ops });
        var (code, stdout, stderr) = await RunAsync([], input);
        if (code != 0) throw new InvalidOperationException($"FLE's client failed (exit {code}): {stderr}");
        return JsonSerializer.Deserialize<List<FleWrittenRow>>(stdout, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args, string? stdin)
    {
        // bash: a file-size limit for everything the writer writes (1 GiB), then exec the interpreter.
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "-c", "ulimit -f 1048576 && exec \"$0\" \"$@\"", Python, Script }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("bash could not be started");
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(Timeout);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"FLE's client ran longer than {Timeout.TotalMinutes} minutes and was killed.");
        }
        return (p.ExitCode, await output, await error);
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "fle-ps.sln"))) return d.FullName;
        throw new InvalidOperationException($"The repository root (with fle-ps.sln) was not found above {AppContext.BaseDirectory}.");
    }
}

/// <summary>What FLE's client wrote for one Program: the row's id and created_at as it returned them, the wall clock around the call, and the texts it sent.</summary>
public sealed record FleWrittenRow(long Id, string CreatedAt, double T0, double T1, string? StateJson, string ConversationJson, string Meta,
    string AchievementsJson, double Depth, long? ParentId = null)
{
    public DateTime Before => DateTime.UnixEpoch.AddSeconds(T0);
    public DateTime After => DateTime.UnixEpoch.AddSeconds(T1);
}

/// <summary>
/// A fact that drives FLE's Python client (and, with postgres: true, the PostgreSQL server of FLE_TEST_PG). Outside CI it
/// is skipped, with the reason, when either is missing; under CI=true it never is (it then fails saying what is missing).
/// </summary>
public sealed class FleClientFactAttribute : FactAttribute
{
    public FleClientFactAttribute(bool postgres = false) => Skip = FleClientSkip.Reason(postgres);
}

/// <summary>The theory counterpart of <see cref="FleClientFactAttribute"/>.</summary>
public sealed class FleClientTheoryAttribute : TheoryAttribute
{
    public FleClientTheoryAttribute(bool postgres = false) => Skip = FleClientSkip.Reason(postgres);
}

internal static class FleClientSkip
{
    public static string? Reason(bool postgres)
    {
        if (Environment.GetEnvironmentVariable("CI") == "true") return null;
        if (FleClient.Problem is { } p) return p;
        if (postgres && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("FLE_TEST_PG")))
            return "FLE_TEST_PG is not set (run through ./build.ps1 -Task Test, which starts a throwaway PostgreSQL).";
        return null;
    }
}

/// <summary>The kinds of FLE database the tests write with FLE's client.</summary>
public enum FleSourceKind
{
    Sqlite,

    /// <summary>PostgreSQL, meta TEXT as FLE creates it; the database's time zone is not UTC.</summary>
    PostgresText,

    /// <summary>PostgreSQL, meta converted to JSONB (some deployments); the database's time zone is not UTC.</summary>
    PostgresJsonb,
}

/// <summary>
/// An FLE database created and written by FLE's own client: a SQLite file (.fle/data.db in FLE) or a fresh PostgreSQL
/// database whose time zone is Asia/Kolkata (UTC+05:30), so that TIMESTAMP created_at values are local times.
/// </summary>
public sealed class FleClientSource : IAsyncDisposable
{
    public const string TimeZone = "Asia/Kolkata";

    private FleClientSource(FleSourceKind kind, string folder, string? path, string? connectionString)
    {
        Kind = kind;
        Folder = folder;
        Path = path;
        ConnectionString = connectionString;
    }

    public FleSourceKind Kind { get; }
    public string Folder { get; }
    public string? Path { get; }
    public string? ConnectionString { get; }
    public bool IsPostgres => Kind != FleSourceKind.Sqlite;

    public static async Task<FleClientSource> CreateAsync(FleSourceKind kind)
    {
        var folder = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fle-client-" + Guid.NewGuid().ToString("N")[..10])).FullName;
        FleClientSource source;
        if (kind == FleSourceKind.Sqlite)
        {
            source = new FleClientSource(kind, folder, System.IO.Path.Combine(folder, ".fle", "data.db"), null);
        }
        else
        {
            var cs = await PostgresTestServer.CreateDatabaseAsync("fle_cli");
            source = new FleClientSource(kind, folder, null, cs);
            await source.ExecAsync($"ALTER DATABASE {new NpgsqlConnectionStringBuilder(cs).Database} SET timezone TO '{TimeZone}'");
            NpgsqlConnection.ClearAllPools();
        }
        await source.WriteAsync(new { op = "create_table" });
        if (kind == FleSourceKind.PostgresJsonb) await source.ExecAsync("ALTER TABLE programs ALTER COLUMN meta TYPE JSONB USING meta::jsonb");
        return source;
    }

    /// <summary>The database as the script takes it.</summary>
    public object Db => Kind == FleSourceKind.Sqlite
        ? new { type = "sqlite", file = Path }
        : PgDb(new NpgsqlConnectionStringBuilder(ConnectionString));

    private static object PgDb(NpgsqlConnectionStringBuilder b) => new { type = "postgres", host = b.Host, port = b.Port, dbname = b.Database, user = b.Username, password = b.Password };

    /// <summary>Write through FLE's client.</summary>
    public Task<List<FleWrittenRow>> WriteAsync(params object[] ops) => FleClient.RunAsync(Db, ops);

    /// <summary>The user's own SQL on FLE's database (pruning, a JSONB column), not FLE's client.</summary>
    public async Task ExecAsync(string sql)
    {
        if (Kind == FleSourceKind.Sqlite)
        {
            await using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
            await c.OpenAsync();
            await using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            await cmd.ExecuteNonQueryAsync();
            return;
        }
        await using var pg = new NpgsqlConnection(ConnectionString);
        await pg.OpenAsync();
        await using var pc = new NpgsqlCommand(sql, pg);
        await pc.ExecuteNonQueryAsync();
    }

    public Fle.Core.Import.FleProgramImportOptions Options(Func<Fle.Core.FleProgramRun, Fle.Core.FleImportDecision>? decide = null,
        List<Fle.Core.FleSkippedProgramRow>? skipped = null, string? sqlitePath = null) => new()
    {
        SqlitePath = Kind == FleSourceKind.Sqlite ? sqlitePath ?? Path : null,
        ConnectionString = Kind == FleSourceKind.Sqlite ? null : ConnectionString,
        Decide = decide,
        RowSkipped = skipped is null ? null : r => { lock (skipped) skipped.Add(r); },
    };

    /// <summary>A new, empty Fle database (a SQLite file in the folder, or a fresh PostgreSQL database).</summary>
    public Task<FleStore> NewTargetAsync(FleBackend backend, string name = "target", long? maxStateBytes = null)
        => TestTargets.NewAsync(Folder, backend, name, maxStateBytes);

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Folder, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return ValueTask.CompletedTask;
    }
}

/// <summary>Fresh Fle databases for the import tests.</summary>
public static class TestTargets
{
    public static async Task<FleStore> NewAsync(string folder, FleBackend backend, string name, long? maxStateBytes = null)
    {
        var overrides = new FleSettingsOverrides { WorkingDirectory = folder, Environment = new Dictionary<string, string?>(), MaxStateBytes = maxStateBytes };
        if (backend == FleBackend.Sqlite) overrides.SqlitePath = System.IO.Path.Combine(folder, name + ".db");
        else overrides.ConnectionString = await PostgresTestServer.CreateDatabaseAsync("fle_tgt");
        return await FleStore.OpenAsync(FleSettingsResolver.Resolve(overrides));
    }
}

/// <summary>FLE programs as the trajectory runner makes them (fle/eval/algorithms/independent/trajectory_runner.py).</summary>
public static class FleOps
{
    public const string IronDescription = "model:gpt-4o\ntype:iron_plate_throughput\nnum_agents:1";

    /// <summary>
    /// One Program of a run: depth is Program.depth (create_program stores half of it), turns the conversation's length.
    /// Floats may be "__nan__", "__inf__", "__-inf__".
    /// </summary>
    public static Dictionary<string, object?> Program(int version, object processId, int instance, int depth, string code, int? stateTick,
        string description = IronDescription, bool error = false, object? productionScore = null, object? value = null,
        object? rawReward = null, object? holdout = null, string? response = null, Dictionary<string, object?>? metaExtra = null,
        int technologies = 40) => new()
    {
        ["op"] = "program", ["version"] = version, ["process_id"] = processId, ["instance"] = instance, ["depth"] = depth, ["code"] = code,
        ["state"] = stateTick is { } t ? new { tick = t, technologies } : null, ["version_description"] = description,
        ["error_occurred"] = error, ["production_score"] = productionScore ?? 12.5, ["value"] = value ?? 0.5 * depth, ["raw_reward"] = rawReward,
        ["holdout_value"] = holdout, ["response"] = response ?? $"{depth}: ('placed drill {code.Length}')",
        ["meta_extra"] = metaExtra ?? new Dictionary<string, object?>(), ["turns"] = Math.Max(1, depth / 2),
        ["token_usage"] = 3150 + depth, ["completion_token_usage"] = 150 + depth, ["prompt_token_usage"] = 3000, ["ticks"] = 600 * depth,
        ["achievements"] = new { @static = new Dictionary<string, int> { ["iron-plate"] = depth * 10 }, dynamic = new Dictionary<string, int>() },
    };

    public const string SearchDescription = "model:gpt-4o\ntype:iron_plate_throughput\nsearch:mcts";

    /// <summary>
    /// One Program as FLE's search algorithms write it (fle/eval/algorithms/mcts/mcts.py, beam/beam_search.py): meta
    /// {text_response, model} without process_id (<paramref name="chunk"/>: none at all, as chunked_mcts.py), instance -1
    /// unless given, depth the conversation's length (MCTS) or 2 × the beam depth; the parent either as <paramref name="parent"/>,
    /// the index of an earlier program op of the same write, or as <paramref name="parentId"/>.
    /// </summary>
    public static Dictionary<string, object?> Search(int version, int depth, string code, int? stateTick, int? parent = null, long? parentId = null,
        int instance = -1, bool chunk = false, double value = 1.0, int technologies = 40, string description = SearchDescription) => new()
    {
        ["op"] = "program", ["version"] = version, ["instance"] = instance, ["depth"] = depth, ["code"] = code, ["meta"] = chunk ? "none" : "search",
        ["state"] = stateTick is { } t ? new { tick = t, technologies } : null, ["version_description"] = description, ["value"] = value,
        ["raw_reward"] = value, ["response"] = $"('{code}' ran)", ["turns"] = Math.Max(1, depth / 2), ["parent"] = parent, ["parent_id"] = parentId,
        ["token_usage"] = 3150 + depth, ["completion_token_usage"] = 150 + depth, ["prompt_token_usage"] = 3000, ["ticks"] = 600 * depth,
    };

    public static object Update(long id, object set) => new { op = "update", id, set };

    public static string Timestamp(DateTime t) => t.ToString("O", CultureInfo.InvariantCulture);
}
