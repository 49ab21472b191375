using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Fle.Core.Storage;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>
    /// Checkpoints/s through the engine vs the hand-written baseline in two variants (SQLite's default synchronous=FULL
    /// with commands created per step; Fle's synchronous=NORMAL with prepared statements; on PostgreSQL per-step and
    /// prepared commands), interleaved in blocks (the order rotates every round), then bytes on disk per step and the
    /// latest/random checkpoint latency on the written trajectory.
    /// </summary>
    public static async Task<int> Write(Args o)
    {
        var backend = o.Req("backend");
        var steps = o.Int("steps", 1000);
        var rounds = o.Int("rounds", 5);
        var dir = o.Get("dir") ?? Path.Combine(Path.GetTempPath(), "fle-bench");
        Directory.CreateDirectory(dir);
        var workload = new FleWorkload().Take(steps).ToList();
        var rawPerStep = workload.Average(s => (double)s.RawPayload);
        var statePerStep = workload.Average(s => (double)s.State.Length);
        var textPerStep = rawPerStep - statePerStep;
        Log($"[{backend}] zstd: {Fle.Core.Codec.Zstd.Implementation}");
        Log($"[{backend}] {steps} steps, mean raw payload {rawPerStep:N0} B/step (state {statePerStep:N0} B, code+feedback {textPerStep:N0} B); {rounds} interleaved rounds");

        string engineTarget, baseTarget, basePreparedTarget;
        if (backend == "sqlite")
        {
            engineTarget = Path.Combine(dir, "engine.db");
            baseTarget = Path.Combine(dir, "baseline.db");
            basePreparedTarget = Path.Combine(dir, "baseline-prepared.db");
            foreach (var f in new[] { engineTarget, baseTarget, basePreparedTarget })
                foreach (var x in new[] { f, f + "-wal", f + "-shm" }) File.Delete(x);
            // a study: the engine's file created with another page size first (the engine keeps a file's page size)
            if (o.Int("page-size", 0) is > 0 and var pageSize)
            {
                using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={engineTarget};Pooling=false");
                c.Open();
                using var cmd = c.CreateCommand();
                cmd.CommandText = $"PRAGMA page_size={pageSize}; CREATE TABLE bench_page_size (x); DROP TABLE bench_page_size;";
                cmd.ExecuteNonQuery();
                Log($"[{backend}] engine file created with page_size {pageSize} (study)");
            }
        }
        else
        {
            var admin = o.Req("pg");
            engineTarget = Engine.FreshPgDatabase(admin, "fle_bench_engine");
            baseTarget = Engine.FreshPgDatabase(admin, "fle_bench_baseline");
            basePreparedTarget = Engine.FreshPgDatabase(admin, "fle_bench_baseline_prepared");
        }

        await using var store = await Engine.Open(backend, engineTarget);
        using IBaseline baseline = backend == "sqlite" ? new SqliteBaseline(baseTarget) : new PostgresBaseline(baseTarget);
        // the like-for-like baseline: Fle's synchronous setting (NORMAL in WAL) and statements prepared once
        using IBaseline basePrepared = backend == "sqlite" ? new SqliteBaseline(basePreparedTarget, "NORMAL", prepared: true) : new PostgresBaseline(basePreparedTarget, prepared: true);
        var traj = await store.CreateTrajectoryAsync("iron_plate_throughput", new Dictionary<string, object?> { ["model"] = "bench" });
        var baseTraj = Guid.NewGuid().ToString();

        var engineRates = new List<double>();
        var baseRates = new List<double>();
        var basePreparedRates = new List<double>();
        var engineWriteMs = new List<double>();
        var block = (steps + rounds - 1) / rounds;
        for (var r = 0; r < rounds; r++)
        {
            var slice = workload.Skip(r * block).Take(block).ToList();
            if (slice.Count == 0) break;
            async Task RunEngine()
            {
                var sw = Stopwatch.StartNew();
                foreach (var s in slice)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    await store.SaveCheckpointAsync(Engine.Input(traj.Id, s));
                    engineWriteMs.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
                }
                engineRates.Add(slice.Count / sw.Elapsed.TotalSeconds);
            }
            void RunBaseline(IBaseline b, List<double> rates)
            {
                var sw = Stopwatch.StartNew();
                foreach (var s in slice) b.Write(baseTraj, s);
                rates.Add(slice.Count / sw.Elapsed.TotalSeconds);
            }
            // the three take turns: each goes first, second and third as often as the rounds allow
            var order = new Func<Task>[] { RunEngine, () => { RunBaseline(baseline, baseRates); return Task.CompletedTask; }, () => { RunBaseline(basePrepared, basePreparedRates); return Task.CompletedTask; } };
            for (var k = 0; k < order.Length; k++) await order[(r + k) % order.Length]();
            Log($"  round {r + 1}: engine {engineRates[^1],8:N1}/s   baseline {baseRates[^1],8:N1}/s   baseline {PreparedName(backend)} {basePreparedRates[^1],8:N1}/s");
        }
        var engineMed = Engine.Median(engineRates);
        var baseMed = Engine.Median(baseRates);
        var basePreparedMed = Engine.Median(basePreparedRates);
        var (wMed, wP99) = Engine.Stats(engineWriteMs);
        Log($"  checkpoints/s (median of rounds): engine {engineMed:N1}, baseline {baseMed:N1} (ratio {engineMed / baseMed:F2}x), baseline {PreparedName(backend)} {basePreparedMed:N1} (ratio {engineMed / basePreparedMed:F2}x); engine save latency median {wMed:F3} ms, p99 {wP99:F3} ms");

        // bytes on disk
        var engineBytes = Engine.BytesOnDisk(store, backend, engineTarget);
        var baseBytes = baseline.BytesOnDisk();
        var zlibState = workload.Where((_, i) => i % 5 == 0).Average(s => (double)ZLibSize(s.State));
        var zlibFraction = (textPerStep + zlibState) / rawPerStep;
        Log($"  bytes on disk per step: engine {engineBytes / (double)steps:N0} B = {100.0 * engineBytes / steps / rawPerStep:F2}% of raw; " +
            $"baseline {baseBytes / (double)steps:N0} B = {100.0 * baseBytes / steps / rawPerStep:F1}% of raw; " +
            $"zlib per state + raw text (computed) {100 * zlibFraction:F2}% (zlib state alone {100 * zlibState / statePerStep:F2}% of the state)");

        // latency on this (engine-written, full-size) trajectory
        var lat = await ReadLatency(store, traj.Id, steps, o.Int("samples", 500), verify: workload);
        var rng = new Random(7);
        var bl = new List<double>();
        var br = new List<double>();
        for (var i = 0; i < o.Int("samples", 500); i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            _ = baseline.Latest(baseTraj);
            bl.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
            t0 = Stopwatch.GetTimestamp();
            _ = baseline.At(baseTraj, rng.Next(steps));
            br.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
        }
        var (blm, blp) = Engine.Stats(bl);
        var (brm, brp) = Engine.Stats(br);
        Log($"  read, {steps} full-size steps: engine latest median {lat.LatestMedian:F3} ms p99 {lat.LatestP99:F3}; random median {lat.RandomMedian:F3} ms p99 {lat.RandomP99:F3} | baseline latest {blm:F3}/{blp:F3}, random {brm:F3}/{brp:F3}");

        WriteJson(o, new JsonObject
        {
            ["backend"] = backend, ["steps"] = steps, ["rounds"] = rounds, ["zstd"] = Fle.Core.Codec.Zstd.Implementation,
            ["raw_payload_bytes_per_step"] = Math.Round(rawPerStep), ["raw_state_bytes_per_step"] = Math.Round(statePerStep),
            ["engine_checkpoints_per_s"] = Math.Round(engineMed, 1), ["baseline_checkpoints_per_s"] = Math.Round(baseMed, 1),
            ["engine_to_baseline"] = Math.Round(engineMed / baseMed, 3),
            ["baseline_prepared"] = PreparedName(backend),
            ["baseline_prepared_checkpoints_per_s"] = Math.Round(basePreparedMed, 1), ["engine_to_baseline_prepared"] = Math.Round(engineMed / basePreparedMed, 3),
            ["baseline_prepared_rounds"] = new JsonArray(basePreparedRates.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
            ["engine_rounds"] = new JsonArray(engineRates.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
            ["baseline_rounds"] = new JsonArray(baseRates.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
            ["engine_save_ms_median"] = Math.Round(wMed, 4), ["engine_save_ms_p99"] = Math.Round(wP99, 4),
            ["engine_bytes_per_step"] = Math.Round(engineBytes / (double)steps), ["engine_fraction_of_raw"] = Math.Round(engineBytes / (double)steps / rawPerStep, 4),
            ["baseline_bytes_per_step"] = Math.Round(baseBytes / (double)steps), ["baseline_fraction_of_raw"] = Math.Round(baseBytes / (double)steps / rawPerStep, 4),
            ["zlib_per_state_fraction_of_raw"] = Math.Round(zlibFraction, 4),
            ["full_states_latest_ms_median"] = Math.Round(lat.LatestMedian, 4), ["full_states_latest_ms_p99"] = Math.Round(lat.LatestP99, 4),
            ["full_states_random_ms_median"] = Math.Round(lat.RandomMedian, 4), ["full_states_random_ms_p99"] = Math.Round(lat.RandomP99, 4),
            ["baseline_latest_ms_median"] = Math.Round(blm, 4), ["baseline_random_ms_median"] = Math.Round(brm, 4),
        });
        return 0;
    }

    /// <summary>The like-for-like baseline's label.</summary>
    public static string PreparedName(string backend) => backend == "sqlite" ? "(synchronous=NORMAL, prepared)" : "(prepared)";

    private static int ZLibSize(byte[] s)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, true)) z.Write(s);
        return (int)ms.Length;
    }

    public sealed record Latencies(double LatestMedian, double LatestP99, double RandomMedian, double RandomP99);

    /// <summary>Latest and random-step checkpoint reads through the engine (after a short warm-up); optionally checks bytes.</summary>
    public static async Task<Latencies> ReadLatency(FleStore store, string trajectoryId, int steps, int samples, List<BenchStep>? verify = null)
    {
        var rng = new Random(11);
        for (var i = 0; i < 20; i++) { await store.GetLatestCheckpointAsync(trajectoryId); await store.GetCheckpointAsync(trajectoryId, rng.Next(steps)); }
        var latest = new List<double>(samples);
        var random = new List<double>(samples);
        for (var i = 0; i < samples; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            var cp = await store.GetLatestCheckpointAsync(trajectoryId);
            latest.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
            if (cp is null || cp.StepNumber != steps - 1) throw new InvalidOperationException("latest checkpoint is wrong");
            var n = rng.Next(steps);
            t0 = Stopwatch.GetTimestamp();
            var at = await store.GetCheckpointAsync(trajectoryId, n);
            random.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
            if (at is null || at.StepNumber != n) throw new InvalidOperationException($"checkpoint {n} is missing");
            if (verify is not null && i % 25 == 0 && !at.GameState!.AsSpan().SequenceEqual(verify[n].State))
                throw new InvalidOperationException($"checkpoint {n} did not read back byte-exact");
        }
        var (lm, lp) = Engine.Stats(latest);
        var (rm, rp) = Engine.Stats(random);
        return new Latencies(lm, lp, rm, rp);
    }
}
