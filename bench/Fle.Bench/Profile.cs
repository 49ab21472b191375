using System.Diagnostics;
using Fle.Core.Codec;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>Where a checkpoint's time goes: encode alone (delta vs keyframe steps), then whole saves.</summary>
    public static async Task<int> Profile(Args o)
    {
        var steps = o.Int("steps", 1000);
        var workload = new FleWorkload().Take(steps).ToList();
        // 1. encode only
        using var codec = new StateCodec();
        long nextId = 1;
        var delta = new List<double>();
        var key = new List<double>();
        for (var pass = 0; pass < 2; pass++)
        {
            delta.Clear(); key.Clear();
            codec.Forget("t");
            foreach (var s in workload)
            {
                var t0 = Stopwatch.GetTimestamp();
                var e = codec.Encode("t", s.State, () => null);
                var ms = Engine.Ms(Stopwatch.GetTimestamp() - t0);
                if (e.NewDictionaryData is not null) { key.Add(ms); codec.Committed("t", e, nextId++); }
                else delta.Add(ms);
            }
        }
        Log($"zstd: {Fle.Core.Codec.Zstd.Implementation}");
        Log($"encode: {delta.Count} deltas median {Engine.Median(delta):F3} ms mean {delta.Average():F3}; {key.Count} keyframes median {Engine.Median(key):F3} ms mean {key.Average():F3}; total {delta.Sum() + key.Sum():F0} ms = {(delta.Sum() + key.Sum()) / steps:F3} ms/step");

        // 2. whole saves
        var backend = o.Get("backend") ?? "sqlite";
        var target = backend == "sqlite" ? Path.Combine(Path.GetTempPath(), "fle-profile.db") : Engine.FreshPgDatabase(o.Req("pg"), "fle_bench_profile");
        if (backend == "sqlite") foreach (var x in new[] { "", "-wal", "-shm" }) File.Delete(target + x);
        await using var store = await Engine.Open(backend, target);
        var traj = await store.CreateTrajectoryAsync("p", null);
        var all = new List<double>();
        var g0 = GC.CollectionCount(0); var g1 = GC.CollectionCount(1); var g2 = GC.CollectionCount(2); var pause = GC.GetTotalPauseDuration();
        foreach (var s in workload)
        {
            var t0 = Stopwatch.GetTimestamp();
            await store.SaveCheckpointAsync(Engine.Input(traj.Id, s));
            all.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
        }
        var sorted = all.OrderBy(x => x).ToList();
        Log($"save [{backend}]: mean {all.Average():F3} ms median {sorted[sorted.Count / 2]:F3} p90 {sorted[(int)(sorted.Count * 0.9)]:F3} p99 {sorted[(int)(sorted.Count * 0.99)]:F3}; time in saves > 2 ms: {all.Where(x => x > 2).Sum():F0} of {all.Sum():F0} ms; GC gen0/1/2 {GC.CollectionCount(0) - g0}/{GC.CollectionCount(1) - g1}/{GC.CollectionCount(2) - g2}, pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F0} ms");
        return 0;
    }
}
