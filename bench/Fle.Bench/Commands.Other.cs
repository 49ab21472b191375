using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fle.Bench;

public static partial class Commands
{
    private const int TemplateSteps = 64;

    /// <summary>
    /// Latest / random checkpoint latency for trajectories of several sizes (small states). The first 64 steps of each
    /// are written through the engine; the rest are copies of those rows (step n gets the stored row of step n mod 64:
    /// same codec, same keyframe, exact engine format), inserted by SQL in one transaction.
    /// </summary>
    public static async Task<int> Latency(Args o)
    {
        var backend = o.Req("backend");
        var sizes = (o.Get("sizes") ?? "1000,100000").Split(',').Select(int.Parse).ToArray();
        var samples = o.Int("samples", 1000);
        string target;
        if (backend == "sqlite")
        {
            var dir = o.Get("dir") ?? Path.Combine(Path.GetTempPath(), "fle-bench");
            Directory.CreateDirectory(dir);
            target = Path.Combine(dir, "latency.db");
            foreach (var x in new[] { target, target + "-wal", target + "-shm" }) File.Delete(x);
        }
        else target = Engine.FreshPgDatabase(o.Req("pg"), "fle_bench_latency");

        await using var store = await Engine.Open(backend, target);
        var template = new FleWorkload(WorkloadOptions.Small).Take(TemplateSteps).ToList();
        var ids = new List<(int Size, string Id)>();
        foreach (var size in sizes)
        {
            var t = await store.CreateTrajectoryAsync("latency", new Dictionary<string, object?> { ["size"] = size });
            foreach (var s in template.Take(size)) await store.SaveCheckpointAsync(Engine.Input(t.Id, s));
            var sw = Stopwatch.StartNew();
            if (size > TemplateSteps) Fill(backend, target, t.Id, size);
            Log($"[{backend}] trajectory of {size:N0} steps (mean state {template.Average(s => s.State.Length):N0} B) filled in {sw.Elapsed.TotalSeconds:F1} s");
            ids.Add((size, t.Id));
        }
        if (backend == "postgres")
        {
            await using var c = new NpgsqlConnection(target);
            await c.OpenAsync();
            await using var a = new NpgsqlCommand("ANALYZE", c);
            await a.ExecuteNonQueryAsync();
        }
        var results = new JsonObject { ["backend"] = backend, ["samples"] = samples };
        var byStep = new List<(int Size, Latencies L)>();
        // interleave the sizes: two passes over all sizes, keep the per-size medians of both passes
        var passes = new Dictionary<int, List<Latencies>>();
        for (var pass = 0; pass < 2; pass++)
            foreach (var (size, id) in ids)
            {
                var l = await ReadLatency(store, id, size, samples / 2);
                (passes.TryGetValue(size, out var list) ? list : passes[size] = new()).Add(l);
            }
        foreach (var (size, _) in ids)
        {
            var ls = passes[size];
            var l = new Latencies(ls.Average(x => x.LatestMedian), ls.Max(x => x.LatestP99), ls.Average(x => x.RandomMedian), ls.Max(x => x.RandomP99));
            byStep.Add((size, l));
            Log($"  {size,7:N0} steps: latest median {l.LatestMedian:F3} ms p99 {l.LatestP99:F3} ms; random step median {l.RandomMedian:F3} ms p99 {l.RandomP99:F3} ms");
            results[$"steps_{size}"] = new JsonObject
            {
                ["latest_ms_median"] = Math.Round(l.LatestMedian, 4), ["latest_ms_p99"] = Math.Round(l.LatestP99, 4),
                ["random_ms_median"] = Math.Round(l.RandomMedian, 4), ["random_ms_p99"] = Math.Round(l.RandomP99, 4),
            };
        }
        if (byStep.Count >= 2)
        {
            var (small, large) = (byStep[0].L, byStep[^1].L);
            Log($"  ratio {byStep[^1].Size:N0}/{byStep[0].Size:N0} steps: latest {large.LatestMedian / small.LatestMedian:F2}x, random {large.RandomMedian / small.RandomMedian:F2}x");
            results["ratio_latest"] = Math.Round(large.LatestMedian / small.LatestMedian, 3);
            results["ratio_random"] = Math.Round(large.RandomMedian / small.RandomMedian, 3);
        }
        WriteJson(o, results);
        return 0;
    }

    internal static void Fill(string backend, string target, string trajectoryId, int size)
    {
        const string steps = "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, timestamp, metadata) ";
        const string states = "INSERT INTO game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, timestamp) " +
            "SELECT s.trajectory_id, s.id, s.step_number, g.codec, g.dictionary_id, g.raw_size, g.state_data, g.timestamp FROM steps s " +
            "JOIN game_states g ON g.trajectory_id = s.trajectory_id AND g.step_number = s.step_number % @k WHERE s.trajectory_id = @t AND s.step_number >= @k";
        if (backend == "sqlite")
        {
            using var c = new SqliteConnection($"Data Source={target};Pooling=false");
            c.Open();
            using var tx = c.BeginTransaction();
            foreach (var sql in new[]
            {
                "WITH RECURSIVE seq(x) AS (SELECT @k UNION ALL SELECT x + 1 FROM seq WHERE x < @n - 1) " + steps +
                "SELECT @t, seq.x, s.agent_code, s.environment_feedback, s.timestamp, s.metadata FROM seq JOIN steps s ON s.trajectory_id = @t AND s.step_number = seq.x % @k",
                states,
            })
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = sql;
                cmd.Parameters.AddWithValue("@k", TemplateSteps);
                cmd.Parameters.AddWithValue("@n", size);
                cmd.Parameters.AddWithValue("@t", trajectoryId);
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
        else
        {
            using var c = new NpgsqlConnection(target);
            c.Open();
            using var tx = c.BeginTransaction();
            foreach (var sql in new[]
            {
                steps.Replace("timestamp", "\"timestamp\"") + "SELECT @t, x, s.agent_code, s.environment_feedback, s.\"timestamp\", s.metadata FROM generate_series(@k::bigint, @n::bigint - 1) x " +
                "JOIN steps s ON s.trajectory_id = @t AND s.step_number = x % @k",
                states.Replace("timestamp", "\"timestamp\"").Replace("g.\"timestamp\" FROM", "g.\"timestamp\" FROM"),
            })
            {
                using var cmd = new NpgsqlCommand(sql, c, tx);
                cmd.Parameters.AddWithValue("k", (long)TemplateSteps);
                cmd.Parameters.AddWithValue("n", (long)size);
                cmd.Parameters.AddWithValue("t", trajectoryId);
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    /// <summary>
    /// One block of baseline writes (for the pwsh loop's same-run comparison); prints {"rate": ...}. --prepared: the
    /// like-for-like variant (statements prepared once; SQLite at Fle's synchronous=NORMAL).
    /// </summary>
    public static Task<int> BaselineBlock(Args o)
    {
        var backend = o.Req("backend");
        var from = o.Int("from", 0);
        var count = o.Int("count", 50);
        var prepared = o.Flag("prepared");
        var all = new FleWorkload().Take(from + count).Skip(from).ToList();
        IBaseline b;
        if (backend == "sqlite") b = prepared ? new SqliteBaseline(o.Req("target"), "NORMAL", prepared: true) : new SqliteBaseline(o.Req("target"));
        else
        {
            var cs = new NpgsqlConnectionStringBuilder(o.Req("pg")) { Database = o.Get("name") ?? "fle_bench_pwsh_baseline" }.ConnectionString;
            if (o.Flag("fresh")) cs = Engine.FreshPgDatabase(o.Req("pg"), o.Get("name") ?? "fle_bench_pwsh_baseline");
            b = new PostgresBaseline(cs, prepared);
        }
        using (b)
        {
            // warm up (JIT, connection, statements) on a scratch trajectory, untimed: this process is fresh per block
            var warm = "warmup-" + Guid.NewGuid().ToString("n");
            foreach (var s in new FleWorkload().Take(3)) b.Write(warm, s);
            var sw = Stopwatch.StartNew();
            foreach (var s in all) b.Write("pwsh-baseline", s);
            Console.WriteLine(JsonSerializer.Serialize(new { rate = all.Count / sw.Elapsed.TotalSeconds }));
        }
        return Task.FromResult(0);
    }

    /// <summary>The workload as JSON lines (n, code, feedback, state, meta) for the pwsh loop.</summary>
    public static int DumpWorkload(Args o)
    {
        var steps = o.Int("steps", 200);
        using var f = new StreamWriter(o.Req("out"));
        foreach (var s in new FleWorkload().Take(steps))
            f.WriteLine(JsonSerializer.Serialize(new { n = s.StepNumber, code = s.Code, feedback = s.Feedback, state = System.Text.Encoding.UTF8.GetString(s.State), meta = s.MetadataJson }));
        return 0;
    }

    /// <summary>A SQLite database of generated trajectories written through the engine (export/import source); prints its raw payload.</summary>
    public static async Task<int> Populate(Args o)
    {
        var target = o.Req("target");
        var steps = o.Int("steps", 1000);
        var per = o.Int("per-trajectory", 250);
        foreach (var x in new[] { target, target + "-wal", target + "-shm" }) File.Delete(x);
        await using var store = await Engine.Open("sqlite", target);
        long raw = 0;
        var written = 0;
        var seed = 1;
        while (written < steps)
        {
            var t = await store.CreateTrajectoryAsync("iron_plate_throughput");
            foreach (var s in new FleWorkload(new WorkloadOptions { Seed = seed++ }).Take(Math.Min(per, steps - written)))
            {
                await store.SaveCheckpointAsync(Engine.Input(t.Id, s));
                raw += s.RawPayload;
                written++;
            }
        }
        Console.WriteLine(JsonSerializer.Serialize(new { steps = written, raw_bytes = raw, file_bytes = Engine.BytesOnDisk(store, "sqlite", target) }));
        return 0;
    }

    /// <summary>Bytes on disk of a Fle database (SQLite: the file after wal_checkpoint(TRUNCATE); PostgreSQL: every table); prints {"bytes": ...}.</summary>
    public static int Disk(Args o)
    {
        var backend = o.Req("backend");
        Console.WriteLine(JsonSerializer.Serialize(new { bytes = Engine.BytesOnDisk(null, backend, o.Req("target")) }));
        return 0;
    }

    /// <summary>Create a fresh PostgreSQL database and print its connection string.</summary>
    public static int PgDb(Args o)
    {
        Console.WriteLine(Engine.FreshPgDatabase(o.Req("pg"), o.Req("name")));
        return 0;
    }
}
