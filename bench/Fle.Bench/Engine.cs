using System.Diagnostics;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Npgsql;

namespace Fle.Bench;

public static class Engine
{
    /// <summary>A fresh PostgreSQL database (dropped first if present) on the server of <paramref name="admin"/>.</summary>
    public static string FreshPgDatabase(string admin, string name)
    {
        using (var c = new NpgsqlConnection(admin))
        {
            c.Open();
            // After a large import, autovacuum may still be working in the old database: its worker runs as the superuser,
            // which DROP ... WITH (FORCE) from the bench's role may not terminate (42501). It finishes soon: retry.
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", c);
                    drop.ExecuteNonQuery();
                    break;
                }
                catch (PostgresException e) when (e.SqlState is "42501" or "55006" && attempt < 60)
                {
                    Thread.Sleep(500);
                }
            }
            using var create = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            create.ExecuteNonQuery();
        }
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public static Task<FleStore> Open(string backend, string target) => FleStore.OpenAsync(Settings(backend, target));

    public static FleSettings Settings(string backend, string target) => FleSettingsResolver.Resolve(new FleSettingsOverrides
    {
        Backend = backend == "sqlite" ? FleBackend.Sqlite : FleBackend.Postgres,
        SqlitePath = backend == "sqlite" ? target : null,
        ConnectionString = backend == "sqlite" ? null : target,
        Environment = new Dictionary<string, string?>(),
        WorkingDirectory = Path.GetTempPath(),
    });

    public static FleStepInput Input(string trajectoryId, BenchStep s) => new()
    {
        TrajectoryId = trajectoryId, StepNumber = s.StepNumber, AgentCode = s.Code, EnvironmentFeedback = s.Feedback,
        GameState = s.State, MetadataJson = s.MetadataJson,
    };

    public static long BytesOnDisk(FleStore? store, string backend, string target)
    {
        if (backend == "sqlite")
        {
            // The store's own background checkpoint may hold the WAL for a moment: then TRUNCATE reports busy and leaves
            // the WAL as it is (a run once measured 84 % of raw that way). Retry until it truncated.
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={target};Pooling=false"))
            {
                c.Open();
                for (var i = 0; ; i++)
                {
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
                    using var r = cmd.ExecuteReader();
                    var busy = r.Read() && r.GetInt64(0) != 0;
                    if (!busy && (!File.Exists(target + "-wal") || new FileInfo(target + "-wal").Length == 0)) break;
                    if (i == 200) throw new InvalidOperationException($"The WAL of {target} could not be truncated (busy for 10 s).");
                    Thread.Sleep(50);
                }
            }
            return new FileInfo(target).Length + (File.Exists(target + "-wal") ? new FileInfo(target + "-wal").Length : 0);
        }
        using var pc = new NpgsqlConnection(target);
        pc.Open();
        using var q = new NpgsqlCommand("SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'", pc);
        return (long)q.ExecuteScalar()!;
    }

    /// <summary>Median and p99 of a list of milliseconds.</summary>
    public static (double Median, double P99) Stats(List<double> ms)
    {
        if (ms.Count == 0) return (double.NaN, double.NaN);
        var s = ms.OrderBy(x => x).ToList();
        return (s[s.Count / 2], s[Math.Min(s.Count - 1, (int)Math.Ceiling(s.Count * 0.99) - 1)]);
    }

    public static double Median(IEnumerable<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count == 0 ? double.NaN : s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    public static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
