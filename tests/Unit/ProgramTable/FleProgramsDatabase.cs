using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>A fact that needs the PostgreSQL server of FLE_TEST_PG: skipped without it, except under CI=true (where it then fails).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("FLE_TEST_PG")) && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "FLE_TEST_PG is not set (run through ./build.ps1 -Task Test, which starts a throwaway PostgreSQL).";
    }
}

/// <summary>One row as FLE's create_program writes it (created_at given explicitly so the test knows it).</summary>
public sealed record ProgramRow
{
    public long Id { get; set; }
    public string? Code { get; init; } = "print(inspect_inventory())";
    public double? Value { get; init; }
    public int? Visits { get; init; } = 0;
    public long? ParentId { get; init; }
    public string? StateJson { get; init; }
    public string? ConversationJson { get; init; } = "{\"messages\":[]}";
    public int? CompletionTokens { get; init; }
    public int? PromptTokens { get; init; }
    public int? TotalTokens { get; init; }
    public string? Response { get; init; }
    public double? HoldoutValue { get; init; }
    public double? RawReward { get; init; }
    public int? Version { get; init; } = 1;
    public string? VersionDescription { get; init; } = "";
    public string? Model { get; init; } = "gpt-4o";
    public string? Meta { get; init; }
    public string? AchievementsJson { get; init; }
    public int? Instance { get; init; } = -1;
    public double? Depth { get; init; } = 0.0;
    public double? Advantage { get; init; } = 0.0;
    public int? Ticks { get; init; } = 0;
    public DateTime? CreatedAt { get; init; }
    public string? TimingMetricsJson { get; init; }
}

/// <summary>
/// A database holding FLE's <c>programs</c> table created with FLE's own DDL (fle/commons/db_client.py,
/// create_default_sqlite_db / create_default_postgres_db), in a SQLite file or a fresh PostgreSQL database.
/// </summary>
public abstract class FleProgramsDatabase : IAsyncDisposable
{
    public const string SqliteDdl = """
        CREATE TABLE programs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            code TEXT NOT NULL,
            value REAL DEFAULT 0.0,
            visits INTEGER DEFAULT 0,
            parent_id INTEGER,
            state_json TEXT,
            conversation_json TEXT NOT NULL,
            completion_token_usage INTEGER,
            prompt_token_usage INTEGER,
            token_usage INTEGER,
            response TEXT,
            holdout_value REAL,
            raw_reward REAL,
            version INTEGER DEFAULT 1,
            version_description TEXT DEFAULT '',
            model TEXT DEFAULT 'gpt-4o',
            meta TEXT,
            achievements_json TEXT,
            instance INTEGER DEFAULT -1,
            depth REAL DEFAULT 0.0,
            advantage REAL DEFAULT 0.0,
            ticks INTEGER DEFAULT 0,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            timing_metrics_json TEXT
        )
        """;

    /// <summary>FLE's PostgreSQL DDL; <paramref name="metaType"/> is TEXT (FLE) or JSONB (some deployments).</summary>
    public static string PostgresDdl(string metaType = "TEXT") => $"""
        CREATE TABLE programs (
            id SERIAL PRIMARY KEY,
            code TEXT NOT NULL,
            value REAL DEFAULT 0.0,
            visits INTEGER DEFAULT 0,
            parent_id INTEGER,
            state_json TEXT,
            conversation_json TEXT NOT NULL,
            completion_token_usage INTEGER,
            prompt_token_usage INTEGER,
            token_usage INTEGER,
            response TEXT,
            holdout_value REAL,
            raw_reward REAL,
            version INTEGER DEFAULT 1,
            version_description TEXT DEFAULT '',
            model TEXT DEFAULT 'gpt-4o',
            meta {metaType},
            achievements_json TEXT,
            instance INTEGER DEFAULT -1,
            depth REAL DEFAULT 0.0,
            advantage REAL DEFAULT 0.0,
            ticks INTEGER DEFAULT 0,
            created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
            timing_metrics_json TEXT
        )
        """;

    protected const string InsertColumns = "code, value, visits, parent_id, state_json, conversation_json, completion_token_usage, prompt_token_usage, " +
        "token_usage, response, holdout_value, raw_reward, version, version_description, model, meta, achievements_json, instance, depth, advantage, ticks, created_at, timing_metrics_json";

    public abstract bool MetaIsJsonb { get; }

    /// <summary>The folder of this test (SQLite files of source and target).</summary>
    public string Folder { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "fle-programs-" + Guid.NewGuid().ToString("N")[..10])).FullName;

    /// <summary>Insert rows (in order) and set their ids.</summary>
    public abstract Task InsertAsync(params ProgramRow[] rows);

    /// <summary>Run raw SQL against the source.</summary>
    public abstract Task ExecAsync(string sql);

    /// <summary>A new, empty Fle database of the given backend (a SQLite file in the folder, or a fresh PostgreSQL database).</summary>
    public Task<FleStore> NewTargetAsync(FleBackend backend, string name = "target") => TestTargets.NewAsync(Folder, backend, name);

    public virtual ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Folder, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    protected static object Db(object? v) => v ?? DBNull.Value;
}

public sealed class SqliteProgramsDatabase : FleProgramsDatabase
{
    private SqliteProgramsDatabase(string ddl)
    {
        Path = System.IO.Path.Combine(Folder, "data.db");
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = ddl;
        cmd.ExecuteNonQuery();
    }

    /// <summary>FLE's file (.fle/data.db in FLE).</summary>
    public string Path { get; }

    public override bool MetaIsJsonb => false;

    public static SqliteProgramsDatabase Create(string? ddl = null) => new(ddl ?? SqliteDdl);

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        c.Open();
        return c;
    }

    public override Task InsertAsync(params ProgramRow[] rows)
    {
        using var c = Open();
        foreach (var row in rows)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"INSERT INTO programs ({InsertColumns}) VALUES (@code, @value, @visits, @parent, @state, @conv, @ct, @pt, @tt, @resp, @hold, @raw, @ver, @vd, @model, @meta, @ach, @inst, @depth, @adv, @ticks, @created, @timing) RETURNING id";
            cmd.Parameters.AddWithValue("@code", Db(row.Code));
            cmd.Parameters.AddWithValue("@value", Db(row.Value));
            cmd.Parameters.AddWithValue("@visits", Db(row.Visits));
            cmd.Parameters.AddWithValue("@parent", Db(row.ParentId));
            cmd.Parameters.AddWithValue("@state", Db(row.StateJson));
            cmd.Parameters.AddWithValue("@conv", Db(row.ConversationJson));
            cmd.Parameters.AddWithValue("@ct", Db(row.CompletionTokens));
            cmd.Parameters.AddWithValue("@pt", Db(row.PromptTokens));
            cmd.Parameters.AddWithValue("@tt", Db(row.TotalTokens));
            cmd.Parameters.AddWithValue("@resp", Db(row.Response));
            cmd.Parameters.AddWithValue("@hold", Db(row.HoldoutValue));
            cmd.Parameters.AddWithValue("@raw", Db(row.RawReward));
            cmd.Parameters.AddWithValue("@ver", Db(row.Version));
            cmd.Parameters.AddWithValue("@vd", Db(row.VersionDescription));
            cmd.Parameters.AddWithValue("@model", Db(row.Model));
            cmd.Parameters.AddWithValue("@meta", Db(row.Meta));
            cmd.Parameters.AddWithValue("@ach", Db(row.AchievementsJson));
            cmd.Parameters.AddWithValue("@inst", Db(row.Instance));
            cmd.Parameters.AddWithValue("@depth", Db(row.Depth));
            cmd.Parameters.AddWithValue("@adv", Db(row.Advantage));
            cmd.Parameters.AddWithValue("@ticks", Db(row.Ticks));
            // What SQLite's CURRENT_TIMESTAMP writes: 'YYYY-MM-DD HH:MM:SS', UTC.
            cmd.Parameters.AddWithValue("@created", Db(row.CreatedAt?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)));
            cmd.Parameters.AddWithValue("@timing", Db(row.TimingMetricsJson));
            row.Id = (long)cmd.ExecuteScalar()!;
        }
        return Task.CompletedTask;
    }

    public override Task ExecAsync(string sql)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }
}

public sealed class PostgresProgramsDatabase : FleProgramsDatabase
{
    private PostgresProgramsDatabase(string connectionString, bool jsonb)
    {
        ConnectionString = connectionString;
        MetaIsJsonb = jsonb;
    }

    /// <summary>Npgsql connection string of FLE's database (with the password, as a user would pass it).</summary>
    public string ConnectionString { get; }

    public override bool MetaIsJsonb { get; }

    public static async Task<PostgresProgramsDatabase> CreateAsync(bool metaJsonb)
    {
        var cs = await PostgresTestServer.CreateDatabaseAsync("fle_src");
        var db = new PostgresProgramsDatabase(cs, metaJsonb);
        // Timestamps without time zone: the test fixes the zone FLE's server used, so created_at values are UTC.
        await db.ExecAsync($"ALTER DATABASE {new NpgsqlConnectionStringBuilder(cs).Database} SET timezone TO 'UTC'");
        NpgsqlConnection.ClearAllPools();
        await db.ExecAsync(PostgresDdl(metaJsonb ? "JSONB" : "TEXT"));
        return db;
    }

    public override async Task InsertAsync(params ProgramRow[] rows)
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        foreach (var row in rows)
        {
            var meta = MetaIsJsonb ? "@meta::jsonb" : "@meta";
            await using var cmd = new NpgsqlCommand($"INSERT INTO programs ({InsertColumns}) VALUES (@code, @value, @visits, @parent, @state, @conv, @ct, @pt, @tt, @resp, @hold, @raw, @ver, @vd, @model, {meta}, @ach, @inst, @depth, @adv, @ticks, @created, @timing) RETURNING id", c);
            cmd.Parameters.AddWithValue("code", NpgsqlTypes.NpgsqlDbType.Text, Db(row.Code));
            cmd.Parameters.AddWithValue("value", NpgsqlTypes.NpgsqlDbType.Real, row.Value is { } v ? (float)v : DBNull.Value);
            cmd.Parameters.AddWithValue("visits", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.Visits));
            cmd.Parameters.AddWithValue("parent", NpgsqlTypes.NpgsqlDbType.Integer, row.ParentId is { } p ? (int)p : DBNull.Value);
            cmd.Parameters.AddWithValue("state", NpgsqlTypes.NpgsqlDbType.Text, Db(row.StateJson));
            cmd.Parameters.AddWithValue("conv", NpgsqlTypes.NpgsqlDbType.Text, Db(row.ConversationJson));
            cmd.Parameters.AddWithValue("ct", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.CompletionTokens));
            cmd.Parameters.AddWithValue("pt", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.PromptTokens));
            cmd.Parameters.AddWithValue("tt", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.TotalTokens));
            cmd.Parameters.AddWithValue("resp", NpgsqlTypes.NpgsqlDbType.Text, Db(row.Response));
            cmd.Parameters.AddWithValue("hold", NpgsqlTypes.NpgsqlDbType.Real, row.HoldoutValue is { } h ? (float)h : DBNull.Value);
            cmd.Parameters.AddWithValue("raw", NpgsqlTypes.NpgsqlDbType.Real, row.RawReward is { } r ? (float)r : DBNull.Value);
            cmd.Parameters.AddWithValue("ver", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.Version));
            cmd.Parameters.AddWithValue("vd", NpgsqlTypes.NpgsqlDbType.Text, Db(row.VersionDescription));
            cmd.Parameters.AddWithValue("model", NpgsqlTypes.NpgsqlDbType.Text, Db(row.Model));
            cmd.Parameters.AddWithValue("meta", NpgsqlTypes.NpgsqlDbType.Text, Db(row.Meta));
            cmd.Parameters.AddWithValue("ach", NpgsqlTypes.NpgsqlDbType.Text, Db(row.AchievementsJson));
            cmd.Parameters.AddWithValue("inst", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.Instance));
            cmd.Parameters.AddWithValue("depth", NpgsqlTypes.NpgsqlDbType.Real, row.Depth is { } d ? (float)d : DBNull.Value);
            cmd.Parameters.AddWithValue("adv", NpgsqlTypes.NpgsqlDbType.Real, row.Advantage is { } a ? (float)a : DBNull.Value);
            cmd.Parameters.AddWithValue("ticks", NpgsqlTypes.NpgsqlDbType.Integer, Db(row.Ticks));
            cmd.Parameters.AddWithValue("created", NpgsqlTypes.NpgsqlDbType.Timestamp,
                row.CreatedAt is { } t ? DateTime.SpecifyKind(t, DateTimeKind.Unspecified) : DBNull.Value);
            cmd.Parameters.AddWithValue("timing", NpgsqlTypes.NpgsqlDbType.Text, Db(row.TimingMetricsJson));
            row.Id = Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }
    }

    public override async Task ExecAsync(string sql)
    {
        await using var c = new NpgsqlConnection(ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary>Fresh databases on the test server of FLE_TEST_PG (its role may CREATE DATABASE).</summary>
public static class PostgresTestServer
{
    public static string Admin => Environment.GetEnvironmentVariable("FLE_TEST_PG")
        ?? throw new InvalidOperationException("FLE_TEST_PG is not set: the PostgreSQL tests need the server that ./build.ps1 -Task Test starts (CI=true never skips them).");

    public static async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];
        await using (var c = new NpgsqlConnection(Admin))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await cmd.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(Admin) { Database = name }.ConnectionString;
    }
}

/// <summary>Realistic FLE values: GameState.to_raw() states, growing conversations, version descriptions.</summary>
public static class FleSamples
{
    public const string IronDescription = "model:gpt-4o\ntype:iron_plate_throughput\nnum_agents:1";
    public const string OpenPlayDescription = "model:claude-3-5-sonnet\ntype:open_play\nnum_agents:2";

    /// <summary>A state shaped like GameState.to_raw(): entities as base64 of zlib-compressed JSON, inventories, namespaces (pickled, hex), research.</summary>
    public static string State(int tick, int agents = 1)
    {
        var entities = new JsonArray();
        for (var i = 0; i < 40 + tick % 7; i++)
            entities.Add(new JsonObject
            {
                ["name"] = i % 3 == 0 ? "burner-mining-drill" : "iron-chest",
                ["position"] = new JsonObject { ["x"] = -28.5 + i, ["y"] = -61.0 + tick },
                ["direction"] = i % 4, ["status"] = "working", ["energy"] = 2666.6666666667,
            });
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true))
            z.Write(Encoding.UTF8.GetBytes(entities.ToJsonString()));
        var inventories = new JsonArray();
        for (var a = 0; a < agents; a++)
            inventories.Add(new JsonObject { ["iron-plate"] = 10 * tick + a, ["coal"] = 50, ["burner-mining-drill"] = 3, ["wooden-chest"] = 2 });
        var techs = new JsonObject();
        for (var t = 0; t < 180; t++)
            techs[$"technology-{t}"] = new JsonObject
            {
                ["name"] = $"technology-{t}", ["researched"] = t < tick, ["enabled"] = true, ["level"] = 1, ["research_unit_count"] = 10 + t,
                ["research_unit_energy"] = 15.0 * 60, ["prerequisites"] = new JsonArray(t == 0 ? [] : new JsonNode?[] { $"technology-{t - 1}" }),
                ["ingredients"] = new JsonArray(new JsonObject { ["name"] = "automation-science-pack", ["amount"] = 1 }),
            };
        var state = new JsonObject
        {
            ["entities"] = Convert.ToBase64String(ms.ToArray()),
            ["inventories"] = inventories,
            ["timestamp"] = 1735725600.25 + tick,
            ["namespaces"] = new JsonArray(Enumerable.Range(0, agents).Select(a => (JsonNode?)JsonValue.Create(Convert.ToHexString(Encoding.UTF8.GetBytes($"\u0080\u0004\u0095pickled namespace of agent {a} at tick {tick}")).ToLowerInvariant())).ToArray()),
            ["agent_messages"] = new JsonArray(),
            ["research"] = new JsonObject
            {
                ["technologies"] = techs, ["current_research"] = "automation", ["research_progress"] = 0.25 * (tick % 4),
                ["research_queue"] = new JsonArray("automation"), ["progress"] = new JsonObject(),
            },
        };
        // Python's json.dumps separators: ", " and ": ".
        return state.ToJsonString().Replace("\",\"", "\", \"", StringComparison.Ordinal);
    }

    /// <summary>The conversation so far (system prompt, then assistant/user pairs), as FLE's json.dumps(conversation.dict()).</summary>
    public static string Conversation(int steps)
    {
        var messages = new JsonArray
        {
            new JsonObject { ["role"] = "system", ["content"] = "You are an agent playing Factorio. Write Python.\nÜnïcödé ✓", ["metadata"] = new JsonObject() },
            new JsonObject { ["role"] = "assistant", ["content"] = "```python\nprint(f'Inventory: {inspect_inventory()}')\n```", ["metadata"] = new JsonObject() },
            new JsonObject { ["role"] = "user", ["content"] = "1: ('Inventory: {\"coal\": 50}')", ["metadata"] = new JsonObject() },
        };
        for (var s = 1; s < steps; s++)
        {
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = $"```python\nplace_entity(Prototype.BurnerMiningDrill)  # step {s}\n```", ["metadata"] = new JsonObject() });
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = $"{s}: ('placed drill {s}')", ["metadata"] = new JsonObject() });
        }
        return new JsonObject { ["messages"] = messages }.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default });
    }

    public static string Meta(object processId, bool error = false, string model = "gpt-4o", string? sweep = null)
    {
        var o = new JsonObject { ["model"] = model, ["process_id"] = JsonValue.Create(processId) };
        if (error) o["error_occurred"] = true;
        if (sweep is not null) o["sweep_id"] = sweep;
        o["production_score"] = 12.5;
        return o.ToJsonString();
    }

    public static string Timing(int step) => $"{{\"generate_program\": {{\"count\": 1, \"total\": {1.5 + step}}}, \"evaluate\": {{\"count\": 1, \"total\": 0.75}}}}";

    public static string Achievements(int step) => $"{{\"static\": {{\"iron-plate\": {step * 10}}}, \"dynamic\": {{\"iron-plate\": {step}}}}}";
}
