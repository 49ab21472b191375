using System.Collections.Concurrent;
using System.Diagnostics;
using Fle.Core;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

/// <summary>WatchStepsAsync: the steps other writers save, as they are saved, on every backend.</summary>
public abstract partial class StoreContractTests
{
    /// <summary>A generous bound on "soon after its save" for a shared, loaded machine (typical: 0.1 s SQLite, milliseconds PostgreSQL).</summary>
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(3);

    [ContractFact]
    public async Task A_watch_returns_each_step_saved_after_it_started_in_order_soon_after_its_save_and_ends_when_the_trajectory_is_completed()
    {
        var t = await NewTrajectoryAsync();
        for (var n = 0; n < 3; n++) await CheckpointAsync(t.Id, n, GameState(5, n, 6_000)); // history: not returned
        var other = await OpenStoreAsync(); // another store, as another process: its own connections and writer
        var watch = await StartWatchAsync(Store, t.Id, includeGameState: true);

        var saved = new Dictionary<long, long>();
        for (var n = 3; n < 13; n++)
        {
            var writer = n % 2 == 0 ? other : Store; // the watching store's own saves count as well
            if (n % 4 == 0) await StepAsync(t.Id, n, $"step {n}", writer);
            else await CheckpointAsync(t.Id, n, GameState(5, n, 6_000), writer);
            saved[n] = Stopwatch.GetTimestamp();
            await Task.Delay(100);
        }
        Assert.False(watch.Run.IsCompleted, "the watch ended before the trajectory did");
        await other.CompleteTrajectoryAsync(t.Id);
        var completed = Stopwatch.GetTimestamp();
        await watch.Run.WaitAsync(TimeSpan.FromSeconds(30)); // ends by itself
        var ended = Stopwatch.GetElapsedTime(completed);

        var got = watch.Got.ToArray();
        Assert.Equal(Enumerable.Range(3, 10).Select(i => (long)i), got.Select(g => g.Step.StepNumber));
        foreach (var (step, at) in got)
        {
            Assert.Equal(t.Id, step.TrajectoryId);
            Assert.Equal(step.StepNumber % 4 == 0 ? $"feedback {step.StepNumber}" : $"ok {step.StepNumber}", step.EnvironmentFeedback);
            if (step.StepNumber % 4 == 0) Assert.False(step.HasGameState, $"step {step.StepNumber} has no state");
            else SameBytes(GameState(5, (int)step.StepNumber, 6_000), Assert.IsType<FleCheckpoint>(step).GameState, $"step {step.StepNumber}");
            var latency = Stopwatch.GetElapsedTime(saved[step.StepNumber], at);
            Assert.True(latency < Soon, $"step {step.StepNumber} came {latency.TotalSeconds:0.000} s after its save");
        }
        Assert.True(ended < Soon, $"the watch ended {ended.TotalSeconds:0.000} s after the trajectory was completed");
        Assert.Contains(watch.Progress, p => p.Status.StartsWith("10 new steps; the last: step 12, saved ", StringComparison.Ordinal));
    }

    [ContractFact]
    public async Task A_watch_ends_at_its_timeout_without_an_error()
    {
        var t = await NewTrajectoryAsync();
        await StepAsync(t.Id, 0);
        var clock = Stopwatch.StartNew();
        var got = await Store.WatchStepsAsync(t.Id, timeout: TimeSpan.FromMilliseconds(700)).ToListAsync();
        Assert.Empty(got);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.65, 10);
    }

    [ContractFact]
    public async Task Cancelling_a_watch_ends_it_at_once()
    {
        var t = await NewTrajectoryAsync();
        var watch = await StartWatchAsync(Store, t.Id);
        var clock = Stopwatch.StartNew();
        await watch.Cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => watch.Run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(clock.Elapsed < Soon, $"it took {clock.Elapsed.TotalSeconds:0.000} s");
        await StepAsync(t.Id, 0); // the store goes on
    }

    [ContractFact]
    public async Task Watching_a_trajectory_that_does_not_exist_is_TrajectoryNotFound_and_a_bad_timeout_is_refused()
    {
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.WatchStepsAsync("no-such-trajectory", timeout: TimeSpan.FromSeconds(30)).ToListAsync());
        var t = await NewTrajectoryAsync();
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.WatchStepsAsync(t.Id, timeout: TimeSpan.Zero).ToListAsync());
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.WatchStepsAsync(t.Id, timeout: TimeSpan.FromSeconds(-1)).ToListAsync());
    }

    [ContractFact]
    public async Task A_watch_of_a_finished_trajectory_ends_at_once()
    {
        var t = await NewTrajectoryAsync();
        await StepAsync(t.Id, 0);
        await Store.CompleteTrajectoryAsync(t.Id, FleTrajectoryStatus.Failed);
        var clock = Stopwatch.StartNew();
        Assert.Empty(await Store.WatchStepsAsync(t.Id, timeout: TimeSpan.FromSeconds(60)).ToListAsync());
        Assert.True(clock.Elapsed < Soon, $"it took {clock.Elapsed.TotalSeconds:0.000} s");
    }

    [ContractFact]
    public async Task A_trajectory_deleted_while_watched_ends_the_watch_with_TrajectoryNotFound()
    {
        var t = await NewTrajectoryAsync();
        var watch = await StartWatchAsync(Store, t.Id);
        var other = await OpenStoreAsync();
        Assert.True(await other.DeleteTrajectoryAsync(t.Id));
        var e = await Assert.ThrowsAsync<FleException>(() => watch.Run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(FleErrorIds.TrajectoryNotFound, e.ErrorId);
        Assert.Contains("deleted while it was watched", e.Message, StringComparison.Ordinal);
    }

    [ContractFact]
    public async Task A_watch_of_a_fork_returns_the_forks_new_steps_not_its_parents()
    {
        var root = await NewTrajectoryAsync();
        for (var n = 0; n < 6; n++) await CheckpointAsync(root.Id, n, GameState(8, n, 6_000));
        var fork = await Store.CreateForkAsync(root.Id, 3);
        var other = await OpenStoreAsync();
        var watch = await StartWatchAsync(Store, fork.Id, includeGameState: true);
        Assert.Contains(watch.Progress, p => p.Status.Contains("(step 3 is the last saved)", StringComparison.Ordinal));

        await CheckpointAsync(root.Id, 6, GameState(8, 6, 6_000), other);           // the parent goes on: not the fork's
        for (var n = 4; n < 7; n++) await CheckpointAsync(fork.Id, n, GameState(8, 100 + n, 6_000), other);
        await other.CompleteTrajectoryAsync(fork.Id);
        await watch.Run.WaitAsync(TimeSpan.FromSeconds(30));

        var got = watch.Got.Select(g => g.Step).ToList();
        Assert.Equal(new long[] { 4, 5, 6 }, got.Select(s => s.StepNumber));
        Assert.All(got, s => Assert.Equal(fork.Id, s.TrajectoryId));
        Assert.All(got, s => Assert.Equal(fork.Id, s.StoredIn));
        foreach (var s in got) SameBytes(GameState(8, 100 + (int)s.StepNumber, 6_000), Assert.IsType<FleCheckpoint>(s).GameState, $"fork step {s.StepNumber}");
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>A watch running on the thread pool: what it returned (and when), its progress reports.</summary>
    protected sealed class RunningWatch
    {
        public ConcurrentQueue<(FleStep Step, long At)> Got { get; } = new();
        public ConcurrentQueue<FleProgress> Progress { get; } = new();
        public CancellationTokenSource Cancel { get; } = new();
        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Task Run { get; set; } = Task.CompletedTask;
    }

    /// <summary>Start a watch and wait until it has read where the trajectory stands (its first progress report).</summary>
    protected static async Task<RunningWatch> StartWatchAsync(FleStore store, string trajectoryId, bool includeGameState = false, TimeSpan? timeout = null)
    {
        var w = new RunningWatch();
        var progress = new Reports(p =>
        {
            w.Progress.Enqueue(p);
            w.Ready.TrySetResult();
        });
        w.Run = Task.Run(async () =>
        {
            await foreach (var step in store.WatchStepsAsync(trajectoryId, includeGameState, timeout, progress, w.Cancel.Token))
                w.Got.Enqueue((step, Stopwatch.GetTimestamp()));
        });
        await Task.WhenAny(w.Ready.Task, w.Run).WaitAsync(TimeSpan.FromSeconds(30));
        if (w.Run.IsFaulted) await w.Run; // its error, not a timeout
        Assert.True(w.Ready.Task.IsCompleted, "the watch did not start");
        return w;
    }

    /// <summary>An IProgress that reports on the reporting thread (Progress&lt;T&gt; posts them later).</summary>
    private sealed class Reports(Action<FleProgress> report) : IProgress<FleProgress>
    {
        public void Report(FleProgress value) => report(value);
    }
}
