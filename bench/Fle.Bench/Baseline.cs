using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fle.Bench;

/// <summary>
/// What a user would write by hand: one open connection, per step one transaction with two plain INSERTs (the steps
/// row with the state text in it, and a game_states row with the state again), uncompressed. SQLite in WAL mode with
/// the default synchronous setting (FULL) unless told otherwise. Two variants: commands created per step (the
/// providers' defaults, what most code does), or prepared once and reused (what a careful hand-written program does,
/// and what Fle's SQLite writer does).
/// </summary>
public interface IBaseline : IDisposable
{
    void Write(string trajectoryId, BenchStep s);
    BenchStep? Latest(string trajectoryId);
    BenchStep? At(string trajectoryId, long n);
    long BytesOnDisk();
}

public sealed class SqliteBaseline : IBaseline
{
    private const string StepSql = "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, game_state, timestamp, metadata) VALUES ($t, $n, $c, $f, $s, $ts, $m) RETURNING id";
    private const string StateSql = "INSERT INTO game_states (trajectory_id, step_id, state_data, timestamp) VALUES ($t, $id, $s, $ts)";
    private readonly SqliteConnection _c;
    private readonly string _path;
    private readonly SqliteCommand? _step, _state;

    /// <param name="synchronous">null: SQLite's default (FULL); else the PRAGMA synchronous value.</param>
    /// <param name="prepared">Prepare the two INSERTs once and reuse them (else create them per step).</param>
    public SqliteBaseline(string path, string? synchronous = null, bool prepared = false)
    {
        _path = path;
        _c = new SqliteConnection($"Data Source={path};Pooling=false");
        _c.Open();
        Exec("PRAGMA journal_mode=WAL");
        if (synchronous is not null) Exec($"PRAGMA synchronous={synchronous}");
        Exec("""
            CREATE TABLE IF NOT EXISTS trajectories (id TEXT PRIMARY KEY, task_id TEXT, start_time TEXT, end_time TEXT, status TEXT, metadata TEXT);
            CREATE TABLE IF NOT EXISTS steps (id INTEGER PRIMARY KEY, trajectory_id TEXT NOT NULL, step_number INTEGER NOT NULL, agent_code TEXT,
                environment_feedback TEXT, game_state TEXT, timestamp TEXT, metadata TEXT, UNIQUE (trajectory_id, step_number));
            CREATE TABLE IF NOT EXISTS game_states (id INTEGER PRIMARY KEY, trajectory_id TEXT NOT NULL, step_id INTEGER NOT NULL, state_data TEXT, timestamp TEXT);
            CREATE INDEX IF NOT EXISTS idx_gs_step ON game_states (step_id);
            """);
        if (prepared)
        {
            _step = Command(StepSql, "$t", "$n", "$c", "$f", "$s", "$ts", "$m");
            _state = Command(StateSql, "$t", "$id", "$s", "$ts");
        }
    }

    private SqliteCommand Command(string sql, params string[] names)
    {
        var cmd = _c.CreateCommand();
        cmd.CommandText = sql;
        foreach (var n in names) cmd.Parameters.Add(new SqliteParameter { ParameterName = n });
        cmd.Prepare();
        return cmd;
    }

    private void Exec(string sql)
    {
        using var cmd = _c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public void Write(string trajectoryId, BenchStep s)
    {
        var state = System.Text.Encoding.UTF8.GetString(s.State);
        var ts = DateTime.UtcNow.ToString("O");
        using var tx = _c.BeginTransaction();
        if (_step is not null && _state is not null)
        {
            _step.Transaction = tx;
            _step.Parameters["$t"].Value = trajectoryId;
            _step.Parameters["$n"].Value = s.StepNumber;
            _step.Parameters["$c"].Value = s.Code;
            _step.Parameters["$f"].Value = s.Feedback;
            _step.Parameters["$s"].Value = state;
            _step.Parameters["$ts"].Value = ts;
            _step.Parameters["$m"].Value = s.MetadataJson;
            var stepId = (long)_step.ExecuteScalar()!;
            _state.Transaction = tx;
            _state.Parameters["$t"].Value = trajectoryId;
            _state.Parameters["$id"].Value = stepId;
            _state.Parameters["$s"].Value = state;
            _state.Parameters["$ts"].Value = ts;
            _state.ExecuteNonQuery();
            tx.Commit();
            return;
        }
        using var step = _c.CreateCommand();
        step.Transaction = tx;
        step.CommandText = StepSql;
        step.Parameters.AddWithValue("$t", trajectoryId);
        step.Parameters.AddWithValue("$n", s.StepNumber);
        step.Parameters.AddWithValue("$c", s.Code);
        step.Parameters.AddWithValue("$f", s.Feedback);
        step.Parameters.AddWithValue("$s", state);
        step.Parameters.AddWithValue("$ts", ts);
        step.Parameters.AddWithValue("$m", s.MetadataJson);
        var id = (long)step.ExecuteScalar()!;
        using var gs = _c.CreateCommand();
        gs.Transaction = tx;
        gs.CommandText = StateSql;
        gs.Parameters.AddWithValue("$t", trajectoryId);
        gs.Parameters.AddWithValue("$id", id);
        gs.Parameters.AddWithValue("$s", state);
        gs.Parameters.AddWithValue("$ts", ts);
        gs.ExecuteNonQuery();
        tx.Commit();
    }

    public BenchStep? Latest(string trajectoryId) => Read("SELECT step_number, agent_code, environment_feedback, game_state, metadata FROM steps WHERE trajectory_id = $t ORDER BY step_number DESC LIMIT 1", trajectoryId, null);
    public BenchStep? At(string trajectoryId, long n) => Read("SELECT step_number, agent_code, environment_feedback, game_state, metadata FROM steps WHERE trajectory_id = $t AND step_number = $n", trajectoryId, n);

    private BenchStep? Read(string sql, string t, long? n)
    {
        using var cmd = _c.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$t", t);
        if (n is not null) cmd.Parameters.AddWithValue("$n", n);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return new BenchStep(r.GetInt64(0), r.GetString(1), r.GetString(2), System.Text.Encoding.UTF8.GetBytes(r.GetString(3)), r.GetString(4));
    }

    public long BytesOnDisk()
    {
        Exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return new FileInfo(_path).Length + (File.Exists(_path + "-wal") ? new FileInfo(_path + "-wal").Length : 0);
    }

    public void Dispose()
    {
        _step?.Dispose();
        _state?.Dispose();
        _c.Dispose();
    }
}

public sealed class PostgresBaseline : IBaseline
{
    private const string StepSql = "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, game_state, \"timestamp\", metadata) VALUES (@t, @n, @c, @f, @s, @ts, @m::jsonb) RETURNING id";
    private const string StateSql = "INSERT INTO game_states (trajectory_id, step_id, state_data, \"timestamp\") VALUES (@t, @id, @s, @ts)";
    private readonly NpgsqlConnection _c;
    private readonly NpgsqlCommand? _step, _state;

    /// <param name="prepared">Prepare the two INSERTs once on the server and reuse them (else create them per step).</param>
    public PostgresBaseline(string connectionString, bool prepared = false)
    {
        _c = new NpgsqlConnection(connectionString);
        _c.Open();
        using var cmd = new NpgsqlCommand("""
            CREATE TABLE IF NOT EXISTS trajectories (id text PRIMARY KEY, task_id text, start_time timestamptz, end_time timestamptz, status text, metadata jsonb);
            CREATE TABLE IF NOT EXISTS steps (id bigserial PRIMARY KEY, trajectory_id text NOT NULL, step_number bigint NOT NULL, agent_code text,
                environment_feedback text, game_state text, "timestamp" timestamptz, metadata jsonb, UNIQUE (trajectory_id, step_number));
            CREATE TABLE IF NOT EXISTS game_states (id bigserial PRIMARY KEY, trajectory_id text NOT NULL, step_id bigint NOT NULL, state_data text, "timestamp" timestamptz);
            CREATE INDEX IF NOT EXISTS idx_gs_step ON game_states (step_id);
            """, _c);
        cmd.ExecuteNonQuery();
        if (prepared)
        {
            _step = new NpgsqlCommand(StepSql, _c);
            _step.Parameters.Add(new NpgsqlParameter<string>("t", ""));
            _step.Parameters.Add(new NpgsqlParameter<long>("n", 0L));
            _step.Parameters.Add(new NpgsqlParameter<string>("c", ""));
            _step.Parameters.Add(new NpgsqlParameter<string>("f", ""));
            _step.Parameters.Add(new NpgsqlParameter<string>("s", ""));
            _step.Parameters.Add(new NpgsqlParameter<DateTime>("ts", DateTime.UtcNow));
            _step.Parameters.Add(new NpgsqlParameter<string>("m", ""));
            _step.Prepare();
            _state = new NpgsqlCommand(StateSql, _c);
            _state.Parameters.Add(new NpgsqlParameter<string>("t", ""));
            _state.Parameters.Add(new NpgsqlParameter<long>("id", 0L));
            _state.Parameters.Add(new NpgsqlParameter<string>("s", ""));
            _state.Parameters.Add(new NpgsqlParameter<DateTime>("ts", DateTime.UtcNow));
            _state.Prepare();
        }
    }

    public void Write(string trajectoryId, BenchStep s)
    {
        var state = System.Text.Encoding.UTF8.GetString(s.State);
        var ts = DateTime.UtcNow;
        using var tx = _c.BeginTransaction();
        if (_step is not null && _state is not null)
        {
            _step.Transaction = tx;
            ((NpgsqlParameter<string>)_step.Parameters["t"]).TypedValue = trajectoryId;
            ((NpgsqlParameter<long>)_step.Parameters["n"]).TypedValue = s.StepNumber;
            ((NpgsqlParameter<string>)_step.Parameters["c"]).TypedValue = s.Code;
            ((NpgsqlParameter<string>)_step.Parameters["f"]).TypedValue = s.Feedback;
            ((NpgsqlParameter<string>)_step.Parameters["s"]).TypedValue = state;
            ((NpgsqlParameter<DateTime>)_step.Parameters["ts"]).TypedValue = ts;
            ((NpgsqlParameter<string>)_step.Parameters["m"]).TypedValue = s.MetadataJson;
            var stepId = (long)_step.ExecuteScalar()!;
            _state.Transaction = tx;
            ((NpgsqlParameter<string>)_state.Parameters["t"]).TypedValue = trajectoryId;
            ((NpgsqlParameter<long>)_state.Parameters["id"]).TypedValue = stepId;
            ((NpgsqlParameter<string>)_state.Parameters["s"]).TypedValue = state;
            ((NpgsqlParameter<DateTime>)_state.Parameters["ts"]).TypedValue = ts;
            _state.ExecuteNonQuery();
            tx.Commit();
            return;
        }
        using var step = new NpgsqlCommand(StepSql, _c, tx);
        step.Parameters.AddWithValue("t", trajectoryId);
        step.Parameters.AddWithValue("n", s.StepNumber);
        step.Parameters.AddWithValue("c", s.Code);
        step.Parameters.AddWithValue("f", s.Feedback);
        step.Parameters.AddWithValue("s", state);
        step.Parameters.AddWithValue("ts", ts);
        step.Parameters.AddWithValue("m", s.MetadataJson);
        var id = (long)step.ExecuteScalar()!;
        using var gs = new NpgsqlCommand(StateSql, _c, tx);
        gs.Parameters.AddWithValue("t", trajectoryId);
        gs.Parameters.AddWithValue("id", id);
        gs.Parameters.AddWithValue("s", state);
        gs.Parameters.AddWithValue("ts", ts);
        gs.ExecuteNonQuery();
        tx.Commit();
    }

    public BenchStep? Latest(string trajectoryId) => Read("SELECT step_number, agent_code, environment_feedback, game_state, metadata::text FROM steps WHERE trajectory_id = @t ORDER BY step_number DESC LIMIT 1", trajectoryId, null);
    public BenchStep? At(string trajectoryId, long n) => Read("SELECT step_number, agent_code, environment_feedback, game_state, metadata::text FROM steps WHERE trajectory_id = @t AND step_number = @n", trajectoryId, n);

    private BenchStep? Read(string sql, string t, long? n)
    {
        using var cmd = new NpgsqlCommand(sql, _c);
        cmd.Parameters.AddWithValue("t", t);
        if (n is not null) cmd.Parameters.AddWithValue("n", n.Value);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return new BenchStep(r.GetInt64(0), r.GetString(1), r.GetString(2), System.Text.Encoding.UTF8.GetBytes(r.GetString(3)), r.GetString(4));
    }

    public long BytesOnDisk()
    {
        using var cmd = new NpgsqlCommand("SELECT pg_total_relation_size('trajectories') + pg_total_relation_size('steps') + pg_total_relation_size('game_states')", _c);
        return (long)cmd.ExecuteScalar()!;
    }

    public void Dispose()
    {
        _step?.Dispose();
        _state?.Dispose();
        _c.Dispose();
    }
}
