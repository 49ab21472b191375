using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>
    /// Bytes on disk as a fraction of the raw payload for trajectories of several lengths (--sizes, default 300,1000),
    /// each written through the engine (one checkpoint per step) into a fresh database, with the keyframes and roots
    /// it stored. SQLite: the file after wal_checkpoint(TRUNCATE), at the page size Fle creates files with, and with
    /// --page-size-study N also in a file created with PRAGMA page_size=N first (what a storage change would give).
    /// PostgreSQL: pg_total_relation_size of every table (TOAST and indexes included).
    /// </summary>
    public static async Task<int> Bytes(Args o)
    {
        var backend = o.Req("backend");
        var sizes = (o.Get("sizes") ?? "300,1000").Split(',').Select(int.Parse).ToArray();
        var study = o.Int("page-size-study", 0);
        var dir = o.Get("dir") ?? Path.Combine(Path.GetTempPath(), "fle-bench");
        Directory.CreateDirectory(dir);
        var rows = new JsonArray();
        foreach (var size in sizes)
            foreach (var pageSize in backend == "sqlite" && study > 0 ? new[] { 0, study } : new[] { 0 })
            {
                string target;
                if (backend == "sqlite")
                {
                    target = Path.Combine(dir, $"bytes-{size}-{pageSize}.db");
                    foreach (var x in new[] { target, target + "-wal", target + "-shm" }) File.Delete(x);
                    if (pageSize > 0)
                    {
                        using var c = new SqliteConnection($"Data Source={target};Pooling=false");
                        c.Open();
                        using var cmd = c.CreateCommand();
                        cmd.CommandText = $"PRAGMA page_size={pageSize}; CREATE TABLE bench_page_size (x); DROP TABLE bench_page_size;";
                        cmd.ExecuteNonQuery();
                    }
                }
                else target = Engine.FreshPgDatabase(o.Req("pg"), $"fle_bench_bytes_{size}");
                long raw = 0;
                await using (var store = await Engine.Open(backend, target))
                {
                    var t = await store.CreateTrajectoryAsync("iron_plate_throughput");
                    foreach (var s in new FleWorkload().Take(size))
                    {
                        await store.SaveCheckpointAsync(Engine.Input(t.Id, s));
                        raw += s.RawPayload;
                    }
                    var bytes = Engine.BytesOnDisk(store, backend, target);
                    var (keyframes, roots, page) = KeyframeCounts(backend, target);
                    var fraction = (double)bytes / raw;
                    Log($"  [{backend}] {size,5:N0} steps{(pageSize > 0 ? $", page_size {pageSize} (study)" : backend == "sqlite" ? $", page_size {page}" : "")}: " +
                        $"{bytes / (double)size,6:N0} B/step = {100 * fraction:F2} % of raw {raw / (double)size:N0} B/step; {keyframes} keyframes ({roots} roots) for {size} states");
                    rows.Add(new JsonObject
                    {
                        ["steps"] = size, ["page_size"] = backend == "sqlite" ? page : null, ["study"] = pageSize > 0,
                        ["bytes_per_step"] = Math.Round(bytes / (double)size), ["raw_payload_bytes_per_step"] = Math.Round(raw / (double)size),
                        ["fraction_of_raw"] = Math.Round(fraction, 5), ["keyframes"] = keyframes, ["roots"] = roots,
                    });
                }
                if (backend == "sqlite") SqliteConnection.ClearAllPools();
            }
        WriteJson(o, new JsonObject { ["backend"] = backend, ["runs"] = rows });
        return 0;
    }

    /// <summary>Keyframe dictionaries, how many of them are roots (plain rows, not "FLR1" rooted ones), and SQLite's page size.</summary>
    private static (long Keyframes, long Roots, long PageSize) KeyframeCounts(string backend, string target)
    {
        if (backend == "sqlite")
        {
            using var c = new SqliteConnection($"Data Source={target};Pooling=false;Mode=ReadOnly");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT (SELECT COUNT(*) FROM state_dictionaries), (SELECT COUNT(*) FROM state_dictionaries WHERE hex(substr(data, 1, 4)) <> '464C5231'), (SELECT page_size FROM pragma_page_size())";
            using var r = cmd.ExecuteReader();
            r.Read();
            return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
        }
        using var pc = new NpgsqlConnection(target);
        pc.Open();
        using var q = new NpgsqlCommand("SELECT COUNT(*), COUNT(*) FILTER (WHERE substring(data FROM 1 FOR 4) <> '\\x464c5231'::bytea) FROM state_dictionaries", pc);
        using var pr = q.ExecuteReader();
        pr.Read();
        return (pr.GetInt64(0), pr.GetInt64(1), 0);
    }
}
