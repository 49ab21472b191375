// A worker of Compare-WritePath.ps1, run from a Fle.Bench output folder (so it uses that build's Fle.Core): it opens a
// fresh PostgreSQL database, creates a trajectory and, for each line "<n>" on stdin, saves the next n steps of the
// bench's workload (generated first, untimed) through FleStore.SaveCheckpointAsync and answers with that block's
// checkpoints/s. Mode "listen": a connection named 'Fle watch' LISTENs on the database all along (what a writer sees of
// a watch); mode "watch": a second store of this process watches the trajectory (WatchStepsAsync, as
// Watch-FleTrajectory does). At the end of stdin it prints "heard <n>" (notifications or steps the watch returned).
using System.Diagnostics;
using System.Globalization;
using Fle.Bench;
using Npgsql;

var admin = args[0];
var db = args[1];
var total = int.Parse(args[2], CultureInfo.InvariantCulture);
var mode = args.Length > 3 ? args[3] : "none";
var target = Engine.FreshPgDatabase(admin, db);
await using var store = await Engine.Open("postgres", target);
var traj = await store.CreateTrajectoryAsync("iron_plate_throughput", new Dictionary<string, object?> { ["model"] = "watch-ab" });
using var steps = new FleWorkload().Take(total).GetEnumerator();
var heard = 0;
using var stop = new CancellationTokenSource();
var watching = mode switch
{
    "listen" => await ListenAsync(),
    "watch" => await WatchAsync(),
    _ => Task.CompletedTask,
};
if (mode != "none") await Task.Delay(1_100); // a writer looks for watches once a second
Console.WriteLine("ready " + typeof(Fle.Core.Storage.FleStore).Assembly.Location);
while (Console.ReadLine() is { } line)
{
    var n = int.Parse(line, CultureInfo.InvariantCulture);
    var block = new List<BenchStep>(n);
    for (var i = 0; i < n && steps.MoveNext(); i++) block.Add(steps.Current);
    var clock = Stopwatch.StartNew();
    foreach (var s in block) await store.SaveCheckpointAsync(Engine.Input(traj.Id, s));
    Console.WriteLine((n / clock.Elapsed.TotalSeconds).ToString("F2", CultureInfo.InvariantCulture));
}
await Task.Delay(1_000);
await stop.CancelAsync();
await watching;
Console.WriteLine($"heard {heard}");
return 0;

async Task<Task> ListenAsync()
{
    var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(target) { ApplicationName = "Fle watch", Pooling = false }.ConnectionString);
    await conn.OpenAsync();
    conn.Notification += (_, _) => Interlocked.Increment(ref heard);
    await using (var cmd = new NpgsqlCommand("LISTEN fle_watch", conn)) await cmd.ExecuteNonQueryAsync();
    return Task.Run(async () =>
    {
        try { while (true) await conn.WaitAsync(TimeSpan.FromMilliseconds(200), stop.Token); }
        catch (OperationCanceledException) { }
        finally { await conn.DisposeAsync(); }
    });
}

async Task<Task> WatchAsync()
{
    var watcher = await Engine.Open("postgres", target);
    var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var run = Task.Run(async () =>
    {
        try
        {
            await foreach (var _ in watcher.WatchStepsAsync(traj.Id, progress: new Ready(ready), cancellationToken: stop.Token))
                Interlocked.Increment(ref heard);
        }
        catch (OperationCanceledException) { }
        finally { await watcher.DisposeAsync(); }
    });
    await Task.WhenAny(ready.Task, run);
    return run;
}

internal sealed class Ready(TaskCompletionSource ready) : IProgress<Fle.Core.FleProgress>
{
    public void Report(Fle.Core.FleProgress value) => ready.TrySetResult();
}
