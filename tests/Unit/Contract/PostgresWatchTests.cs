using System.Diagnostics;
using Fle.Core;
using Fle.Core.Storage;
using Fle.Core.Storage.Postgres;
using Fle.Tests.Infrastructure;
using Npgsql;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

/// <summary>
/// LISTEN/NOTIFY on the PostgreSQL server of FLE_TEST_PG: which saves notify, that a watch hears a notification at once
/// (not at its once-a-second look, which these tests push out to a minute), and that it keeps its connection in order.
/// </summary>
[RequiresPostgres]
public sealed class PostgresWatchTests(PostgresBackendFixture fixture) : IClassFixture<PostgresBackendFixture>, IAsyncLifetime
{
    private PostgresTestDatabase _db = null!;
    private readonly List<FleStore> _stores = [];

    public async Task InitializeAsync() => _db = (PostgresTestDatabase)await fixture.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        foreach (var s in _stores) await s.DisposeAsync();
    }

    /// <summary>A store whose watches look for changes by themselves only once a minute: whatever comes sooner was notified.</summary>
    private async Task<FleStore> OpenAsync()
    {
        var store = await _db.OpenAsync();
        ((PostgresProvider)store.Provider).WatchFallback = TimeSpan.FromMinutes(1);
        _stores.Add(store);
        return store;
    }

    private static FleStepInput Step(string trajectoryId, long n, byte[]? state = null, bool overwrite = false) => new()
    {
        TrajectoryId = trajectoryId, StepNumber = n, AgentCode = $"print({n})", EnvironmentFeedback = $"ok {n}", GameState = state, Overwrite = overwrite,
    };

    /// <summary>A raw connection of the test database (not the engine's), named <paramref name="applicationName"/>.</summary>
    private async Task<NpgsqlConnection> ConnectAsync(string applicationName)
    {
        var b = new NpgsqlConnectionStringBuilder(fixture.ConnectionStringFor(_db.Database, _db.Schema, pooling: false)) { ApplicationName = applicationName };
        var conn = new NpgsqlConnection(b.ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    private async Task<long> WatchConnectionsAsync()
    {
        await using var conn = await ConnectAsync("fle test");
        await using var cmd = new NpgsqlCommand("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = @n", conn);
        cmd.Parameters.AddWithValue("n", PostgresProvider.WatcherName);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Wait (up to 10 s) until no watch is connected to the test database: a closed connection's backend exits a moment later.</summary>
    private async Task AssertNoWatchConnectedAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (await WatchConnectionsAsync() > 0 && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
        Assert.Equal(0, await WatchConnectionsAsync());
    }

    /// <summary>A LISTEN fle_watch connection that is not a watch (another application name): it hears without making saves notify.</summary>
    private sealed class Listener(NpgsqlConnection conn) : IAsyncDisposable
    {
        private readonly List<string> _payloads = [];

        public static async Task<Listener> StartAsync(NpgsqlConnection conn)
        {
            var l = new Listener(conn);
            conn.Notification += (_, e) => { lock (l._payloads) l._payloads.Add(e.Payload); };
            await using var cmd = new NpgsqlCommand("LISTEN " + PostgresProvider.Channel, conn);
            await cmd.ExecuteNonQueryAsync();
            return l;
        }

        /// <summary>True when a notification with this payload arrives within <paramref name="within"/> (the ones before are forgotten).</summary>
        public async Task<bool> HeardAsync(string payload, TimeSpan within)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                lock (_payloads)
                {
                    if (_payloads.Remove(payload)) { _payloads.Clear(); return true; }
                }
                var left = within - clock.Elapsed;
                if (left <= TimeSpan.Zero) return false;
                await conn.WaitAsync(left < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : left);
            }
        }

        public ValueTask DisposeAsync() => conn.DisposeAsync();
    }

    [ContractFact]
    public async Task A_save_notifies_while_a_watch_is_connected_and_only_then_and_completing_always_does()
    {
        var store = await OpenAsync();
        var t = await store.CreateTrajectoryAsync("notify");
        await using var listener = await Listener.StartAsync(await ConnectAsync("fle test listener"));

        await store.SaveStepAsync(Step(t.Id, 0)); // no watch connected: the plain statement
        Assert.False(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(1.5)), "a save notified with no watch connected");

        await using (var watch = await ConnectAsync(PostgresProvider.WatcherName)) // a watch, as far as a writer can tell
        {
            await Task.Delay(1_100); // the writer looks again after a second
            await store.SaveStepAsync(Step(t.Id, 1)); // this one looks, finds the watch and notifies
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "a save did not notify while a watch was connected");
            await store.SaveCheckpointAsync(Step(t.Id, 2, GameState(9, 2, 8_000))); // a new keyframe
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "a checkpoint (new keyframe) did not notify");
            await store.SaveCheckpointAsync(Step(t.Id, 3, GameState(9, 3, 8_000))); // a delta
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "a checkpoint (delta) did not notify");
            await store.SaveCheckpointAsync(Step(t.Id, 3, GameState(9, 4, 8_000), overwrite: true));
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "an overwrite did not notify");
            await store.SaveStepAsync(Step(t.Id, 2, overwrite: true));
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "an overwrite without a state did not notify");
            await Task.Delay(1_100); // a save that looks again, and the next one
            await store.SaveStepAsync(Step(t.Id, 2, overwrite: true));
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "a save that looked again did not notify");
            await store.SaveCheckpointAsync(Step(t.Id, 1, GameState(9, 1, 8_000), overwrite: true));
            Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "the save after it did not notify");
        }
        await AssertNoWatchConnectedAsync();
        await Task.Delay(1_100); // until the writer looks again, its saves notify (the watch was there at its last look)
        await store.SaveStepAsync(Step(t.Id, 4)); // this one finds that nobody watches any more
        await store.SaveStepAsync(Step(t.Id, 5)); // and this one is plain again
        Assert.False(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(1.5)), "a save notified after the watch left");

        await store.CompleteTrajectoryAsync(t.Id);
        Assert.True(await listener.HeardAsync(t.Id, TimeSpan.FromSeconds(10)), "completing did not notify");
        Assert.Equal(6, await store.CountStepsAsync(t.Id));
        SameBytes(GameState(9, 4, 8_000), (await store.GetCheckpointAsync(t.Id, 3))!.GameState, "the overwritten step");
        SameBytes(GameState(9, 1, 8_000), (await store.GetCheckpointAsync(t.Id, 1))!.GameState, "the step overwritten with a state");
    }

    [ContractFact]
    public async Task A_watch_hears_each_save_and_the_completion_at_once_and_closes_its_connection()
    {
        var watching = await OpenAsync();
        var writer = await OpenAsync();
        var t = await watching.CreateTrajectoryAsync("listen");
        var got = new List<(long Step, long At)>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = Task.Run(async () =>
        {
            await foreach (var s in watching.WatchStepsAsync(t.Id, progress: new Ready(ready)))
                lock (got) got.Add((s.StepNumber, Stopwatch.GetTimestamp()));
        });
        await Task.WhenAny(ready.Task, run).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await WatchConnectionsAsync());
        int Count() { lock (got) return got.Count; }

        // A watch looks by itself once a minute here: each step that arrives before the next save came by a notification.
        for (var n = 0; n < 6; n++)
        {
            await writer.SaveCheckpointAsync(Step(t.Id, n, GameState(3, n, 4_000)));
            var saved = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(saved) < TimeSpan.FromSeconds(5) && Count() <= n) await Task.Delay(5);
            Assert.True(Count() == n + 1, $"step {n} did not come within 5 s of its save");
            var latency = Stopwatch.GetElapsedTime(saved, got[n].At);
            Assert.True(latency < TimeSpan.FromSeconds(5), $"step {n} came {latency.TotalSeconds:0.000} s after its save");
        }
        await writer.CompleteTrajectoryAsync(t.Id);
        var completed = Stopwatch.GetTimestamp();
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        var ended = Stopwatch.GetElapsedTime(completed);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5 }, got.Select(g => g.Step));
        Assert.True(ended < TimeSpan.FromSeconds(5), $"the watch ended {ended.TotalSeconds:0.000} s after the completion");
        await AssertNoWatchConnectedAsync();
    }

    [ContractFact]
    public async Task A_watch_whose_connection_is_killed_listens_again_and_misses_nothing()
    {
        var watching = await OpenAsync();
        var t = await watching.CreateTrajectoryAsync("killed");
        var got = new List<long>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        var run = Task.Run(async () =>
        {
            await foreach (var s in watching.WatchStepsAsync(t.Id, progress: new Ready(ready), cancellationToken: cancel.Token))
                lock (got) got.Add(s.StepNumber);
        });
        await Task.WhenAny(ready.Task, run).WaitAsync(TimeSpan.FromSeconds(30));

        await using (var admin = await ConnectAsync("fle test"))
        await using (var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = @n", admin))
        {
            kill.Parameters.AddWithValue("n", PostgresProvider.WatcherName);
            Assert.True((bool)(await kill.ExecuteScalarAsync())!);
        }
        var writer = await OpenAsync();
        await writer.SaveStepAsync(Step(t.Id, 0)); // saved while the watch may still be reconnecting
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15) && got.Count == 0 && !run.IsCompleted) await Task.Delay(20);
        await writer.SaveStepAsync(Step(t.Id, 1));
        while (clock.Elapsed < TimeSpan.FromSeconds(15) && got.Count < 2 && !run.IsCompleted) await Task.Delay(20);
        Assert.False(run.IsFaulted, run.Exception?.ToString());
        lock (got) Assert.Equal(new long[] { 0, 1 }, got);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"it took {clock.Elapsed.TotalSeconds:0.000} s");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
        await AssertNoWatchConnectedAsync();
    }

    private sealed class Ready(TaskCompletionSource ready) : IProgress<FleProgress>
    {
        public void Report(FleProgress value) => ready.TrySetResult();
    }
}
