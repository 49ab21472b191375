using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>
    /// Large histories for bench section 8, built fast: (1) one database with a trajectory of each --steps size (small
    /// states; its first 64 steps written through the engine, the rest copies of those engine rows inserted by SQL, as
    /// section 3 does); (2) a database per --trajectories size with that many trajectories (64 written through the
    /// engine with 2 steps each, the rest copies of their trajectory rows, with new ids, inserted by SQL; the copies have
    /// no steps). Prints a JSON object naming the databases and trajectory ids.
    /// </summary>
    public static async Task<int> History(Args o)
    {
        var backend = o.Req("backend");
        var stepSizes = (o.Get("steps") ?? "10000,100000").Split(',').Select(int.Parse).ToArray();
        var trajSizes = (o.Get("trajectories") ?? "10000,100000").Split(',').Select(int.Parse).ToArray();
        var dir = o.Get("dir") ?? Path.Combine(Path.GetTempPath(), "fle-bench");
        Directory.CreateDirectory(dir);
        string Fresh(string name)
        {
            if (backend != "sqlite") return Engine.FreshPgDatabase(o.Req("pg"), "fle_bench_" + name.Replace('-', '_'));
            var f = Path.Combine(dir, name + ".db");
            foreach (var x in new[] { f, f + "-wal", f + "-shm" }) File.Delete(x);
            return f;
        }
        var template = new FleWorkload(WorkloadOptions.Small).Take(TemplateSteps).ToList();

        var stepsTarget = Fresh("history-steps");
        var steps = new List<object>();
        await using (var store = await Engine.Open(backend, stepsTarget))
        {
            foreach (var size in stepSizes)
            {
                var t = await store.CreateTrajectoryAsync("history", new Dictionary<string, object?> { ["size"] = size });
                foreach (var s in template.Take(size)) await store.SaveCheckpointAsync(Engine.Input(t.Id, s));
                var sw = System.Diagnostics.Stopwatch.StartNew();
                if (size > TemplateSteps) Fill(backend, stepsTarget, t.Id, size);
                Console.Error.WriteLine($"  [{backend}] a trajectory of {size:N0} steps filled in {sw.Elapsed.TotalSeconds:F1} s");
                steps.Add(new { size, id = t.Id });
            }
        }
        Analyze(backend, stepsTarget);

        var trajectories = new List<object>();
        foreach (var size in trajSizes)
        {
            var target = Fresh($"history-trajectories-{size}");
            await using (var store = await Engine.Open(backend, target))
                for (var i = 0; i < Math.Min(size, TemplateSteps); i++)
                {
                    var t = await store.CreateTrajectoryAsync($"task_{i % 8}", new Dictionary<string, object?> { ["model"] = "bench", ["i"] = i });
                    foreach (var s in template.Take(2)) await store.SaveCheckpointAsync(Engine.Input(t.Id, s));
                }
            var sw = System.Diagnostics.Stopwatch.StartNew();
            if (size > TemplateSteps) FillTrajectories(backend, target, size);
            Analyze(backend, target);
            Console.Error.WriteLine($"  [{backend}] {size:N0} trajectories filled in {sw.Elapsed.TotalSeconds:F1} s");
            trajectories.Add(new { size, target });
        }
        Console.WriteLine(JsonSerializer.Serialize(new { backend, steps_target = stepsTarget, steps, trajectories }));
        return 0;
    }

    /// <summary>Trajectory rows 64..n-1: copies of the engine's rows (id i mod 64) with new UUIDv7-shaped ids, one transaction.</summary>
    private static void FillTrajectories(string backend, string target, int size)
    {
        if (backend == "sqlite")
        {
            using var c = new SqliteConnection($"Data Source={target};Pooling=false");
            c.Open();
            using var tx = c.BeginTransaction();
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "WITH RECURSIVE seq(x) AS (SELECT @k UNION ALL SELECT x + 1 FROM seq WHERE x < @n - 1), " +
                "tpl AS (SELECT row_number() OVER (ORDER BY id) - 1 AS k, task_id, start_time, end_time, status, metadata FROM trajectories) " +
                "INSERT INTO trajectories (id, task_id, start_time, end_time, status, metadata) " +
                "SELECT printf('01b00000-0000-7000-8000-%012x', seq.x), tpl.task_id, tpl.start_time, tpl.end_time, tpl.status, tpl.metadata FROM seq JOIN tpl ON tpl.k = seq.x % @k";
            cmd.Parameters.AddWithValue("@k", TemplateSteps);
            cmd.Parameters.AddWithValue("@n", size);
            cmd.ExecuteNonQuery();
            tx.Commit();
            return;
        }
        using var pc = new NpgsqlConnection(target);
        pc.Open();
        using var ptx = pc.BeginTransaction();
        using var pcmd = new NpgsqlCommand("WITH tpl AS (SELECT row_number() OVER (ORDER BY id) - 1 AS k, task_id, start_time, end_time, status, metadata FROM trajectories) " +
            "INSERT INTO trajectories (id, task_id, start_time, end_time, status, metadata) " +
            "SELECT '01b00000-0000-7000-8000-' || lpad(to_hex(x), 12, '0'), tpl.task_id, tpl.start_time, tpl.end_time, tpl.status, tpl.metadata " +
            "FROM generate_series(@k::bigint, @n::bigint - 1) x JOIN tpl ON tpl.k = x % @k", pc, ptx);
        pcmd.Parameters.AddWithValue("k", (long)TemplateSteps);
        pcmd.Parameters.AddWithValue("n", (long)size);
        pcmd.ExecuteNonQuery();
        ptx.Commit();
    }

    /// <summary>Planner statistics after a bulk fill (PostgreSQL's autovacuum would get there later).</summary>
    private static void Analyze(string backend, string target)
    {
        if (backend == "sqlite") { SqliteConnection.ClearAllPools(); return; }
        using var c = new NpgsqlConnection(target);
        c.Open();
        using var a = new NpgsqlCommand("ANALYZE", c);
        a.ExecuteNonQuery();
    }
}
