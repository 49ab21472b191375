using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>
    /// Forks (issue 14), through the engine on a fresh database: a parent of --steps full-size steps; --forks forks of it
    /// at steps spread over it (each fork's own steps come from a copy of the generator at its fork point that goes its
    /// own way, so they are as close to the parent's state as a real fork's are); the time of each fork and the bytes it
    /// adds before it has steps; the bytes per step of --fork-steps steps in each fork vs the parent's bytes per step;
    /// the latest checkpoint of a fork vs of the root (interleaved), and of a fork without steps of its own.
    /// Every fork's latest state is checked byte for byte.
    /// </summary>
    public static async Task<int> Forks(Args o)
    {
        var backend = o.Req("backend");
        var steps = o.Int("steps", 1000);
        var forks = o.Int("forks", 100);
        var forkSteps = o.Int("fork-steps", 5);
        var samples = o.Int("samples", 500);
        var dir = o.Get("dir") ?? Path.Combine(Path.GetTempPath(), "fle-bench");
        Directory.CreateDirectory(dir);
        string target;
        if (backend == "sqlite")
        {
            target = Path.Combine(dir, "forks.db");
            foreach (var x in new[] { target, target + "-wal", target + "-shm" }) File.Delete(x);
        }
        else target = Engine.FreshPgDatabase(o.Req("pg"), "fle_bench_forks");

        // fork j at step j*steps/forks + steps/(2*forks): spread over the run, as a search's branch points are
        var points = Enumerable.Range(0, forks).Select(j => (long)(j * steps / forks + steps / (2 * forks))).ToArray();
        var branches = new Dictionary<long, FleWorkload>();
        await using var store = await Engine.Open(backend, target);
        var parent = await store.CreateTrajectoryAsync("iron_plate_throughput");
        var gen = new FleWorkload();
        long parentRaw = 0;
        var emptyBytes = Engine.BytesOnDisk(store, backend, target);
        for (var i = 0; i < steps; i++)
        {
            var s = gen.Next();
            await store.SaveCheckpointAsync(Engine.Input(parent.Id, s));
            parentRaw += s.RawPayload;
            if (points.Contains(s.StepNumber)) branches[s.StepNumber] = gen.Branch(1000 + (int)s.StepNumber);
        }
        var parentBytes = Engine.BytesOnDisk(store, backend, target) - emptyBytes;

        // the forks, without steps: time of each, bytes of all
        var forkMs = new List<double>(forks);
        var forkIds = new List<(string Id, long At)>(forks);
        foreach (var at in points)
        {
            var t0 = Stopwatch.GetTimestamp();
            var f = await store.CreateForkAsync(parent.Id, at);
            forkMs.Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
            forkIds.Add((f.Id, at));
        }
        var afterForks = Engine.BytesOnDisk(store, backend, target);
        var bytesPerFork = (afterForks - emptyBytes - parentBytes) / (double)forks;

        // a fork's own steps
        long forkRaw = 0;
        var lastState = new Dictionary<string, byte[]>();
        foreach (var (id, at) in forkIds)
            foreach (var s in branches[at].Take(forkSteps))
            {
                await store.SaveCheckpointAsync(Engine.Input(id, s));
                forkRaw += s.RawPayload;
                lastState[id] = s.State;
            }
        var forkStepBytes = Engine.BytesOnDisk(store, backend, target) - afterForks;
        var ownSteps = (double)forks * forkSteps;
        foreach (var (id, at) in forkIds)
        {
            var cp = await store.GetLatestCheckpointAsync(id) ?? throw new InvalidOperationException($"fork {id} has no latest checkpoint");
            if (cp.StepNumber != at + forkSteps || !cp.GameState!.AsSpan().SequenceEqual(lastState[id]))
                throw new InvalidOperationException($"the latest checkpoint of fork {id} did not read back byte for byte");
        }

        // latest checkpoint: a fork (its own steps), the root, and a fork with no steps of its own (the parent's step), interleaved
        var bare = await store.CreateForkAsync(parent.Id, steps / 2);
        var probe = forkIds[forks / 2].Id;
        var times = new Dictionary<string, List<double>> { ["fork"] = new(), ["root"] = new(), ["bare"] = new(), ["root_at"] = new() };
        var ids = new Dictionary<string, string> { ["fork"] = probe, ["root"] = parent.Id, ["bare"] = bare.Id };
        // the bare fork's latest is the parent's step at the fork point: compare it with reading that step of the root too
        Task<Fle.Core.FleCheckpoint?> Read(string kind) => kind == "root_at" ? store.GetCheckpointAsync(parent.Id, steps / 2) : store.GetLatestCheckpointAsync(ids[kind]);
        for (var i = 0; i < 20; i++) foreach (var kind in times.Keys) await Read(kind);
        for (var i = 0; i < samples; i++)
            foreach (var kind in i % 2 == 0 ? new[] { "fork", "root", "bare", "root_at" } : new[] { "root_at", "bare", "root", "fork" })
            {
                var t0 = Stopwatch.GetTimestamp();
                var cp = await Read(kind);
                times[kind].Add(Engine.Ms(Stopwatch.GetTimestamp() - t0));
                if (cp?.GameState is null) throw new InvalidOperationException($"no latest checkpoint for the {kind}");
            }
        var (fm, fp) = Engine.Stats(times["fork"]);
        var (rm, rp) = Engine.Stats(times["root"]);
        var (bm, bp) = Engine.Stats(times["bare"]);
        var (am, ap) = Engine.Stats(times["root_at"]);
        var (cm, cmax) = (Engine.Median(forkMs), forkMs.Max());
        var parentPerStep = parentBytes / (double)steps;
        var forkPerStep = forkStepBytes / ownSteps;
        Log($"  [{backend}] parent: {steps:N0} steps, {parentBytes:N0} B = {parentPerStep:N0} B/step ({100.0 * parentBytes / parentRaw:F2} % of raw {parentRaw / (double)steps:N0} B/step)");
        Log($"  [{backend}] a fork of it: median {cm:F3} ms (max {cmax:F3} ms over {forks} forks), {bytesPerFork:N0} B each before steps of its own ({100 * bytesPerFork / parentBytes:F3} % of the parent)");
        Log($"  [{backend}] {forks} forks x {forkSteps} steps: {forkPerStep:N0} B/step ({100.0 * forkStepBytes / forkRaw:F2} % of raw) vs the parent's {parentPerStep:N0} B/step = {forkPerStep / parentPerStep:N2}x");
        Log($"  [{backend}] latest checkpoint: fork median {fm:F3} ms p99 {fp:F3} | root {rm:F3} ms p99 {rp:F3} | fork/root {fm / rm:N2}x | fork without steps of its own {bm:F3} ms vs the root's step {steps / 2} {am:F3} ms = {bm / am:N2}x");
        WriteJson(o, new JsonObject
        {
            ["backend"] = backend, ["parent_steps"] = steps, ["forks"] = forks, ["fork_steps"] = forkSteps,
            ["parent_bytes"] = parentBytes, ["parent_bytes_per_step"] = Math.Round(parentPerStep), ["parent_fraction_of_raw"] = Math.Round((double)parentBytes / parentRaw, 5),
            ["fork_ms_median"] = Math.Round(cm, 4), ["fork_ms_max"] = Math.Round(cmax, 4), ["bytes_per_fork"] = Math.Round(bytesPerFork),
            ["fork_bytes_per_step"] = Math.Round(forkPerStep), ["fork_fraction_of_raw"] = Math.Round((double)forkStepBytes / forkRaw, 5),
            ["fork_to_parent_bytes_per_step"] = Math.Round(forkPerStep / parentPerStep, 3),
            ["latest_fork_ms_median"] = Math.Round(fm, 4), ["latest_fork_ms_p99"] = Math.Round(fp, 4),
            ["latest_root_ms_median"] = Math.Round(rm, 4), ["latest_root_ms_p99"] = Math.Round(rp, 4),
            ["latest_bare_fork_ms_median"] = Math.Round(bm, 4), ["latest_bare_fork_ms_p99"] = Math.Round(bp, 4),
            ["latest_fork_to_root"] = Math.Round(fm / rm, 3), ["root_at_fork_step_ms_median"] = Math.Round(am, 4), ["root_at_fork_step_ms_p99"] = Math.Round(ap, 4),
            ["latest_bare_fork_to_root_at_fork_step"] = Math.Round(bm / am, 3),
        });
        return 0;
    }
}
