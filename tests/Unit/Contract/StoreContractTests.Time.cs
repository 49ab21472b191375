using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    private static DateTime Micro(DateTime t) => new(t.Ticks - t.Ticks % 10, DateTimeKind.Utc);

    public static TheoryData<string> Instants => new(
        "2024-02-29T23:59:59.1234567Z", "1970-01-01T00:00:00.0000019Z", "1969-12-31T23:59:59.9999999Z", "1901-06-15T08:30:00.5000005Z",
        "2038-01-19T03:14:08.0000001Z", "2262-04-12T00:00:00.0000001Z", "9999-12-31T23:59:59.9999989Z");

    [ContractTheory]
    [MemberData(nameof(Instants))]
    public async Task Times_are_stored_in_utc_truncated_to_microseconds(string instant)
    {
        var given = DateTime.Parse(instant, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);
        Assert.Equal(DateTimeKind.Utc, given.Kind);
        var expected = Micro(given);

        var t = await Store.CreateTrajectoryAsync("time", null, "t1", given);
        Assert.Equal(expected, t.StartTime);
        Assert.Equal(DateTimeKind.Utc, t.StartTime.Kind);

        var cp = await Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, GameState = [1, 2, 3], Timestamp = given });
        Assert.Equal(expected, cp.Timestamp);
        var step = await Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1, Timestamp = given });
        Assert.Equal(expected, step.Timestamp);

        foreach (var store in new[] { Store, await OpenStoreAsync() })
        {
            var read = (await store.GetTrajectoryAsync(t.Id))!;
            Assert.Equal(expected, read.StartTime);
            Assert.Equal(DateTimeKind.Utc, read.StartTime.Kind);
            var c = (await store.GetCheckpointAsync(t.Id, 0))!;
            Assert.Equal(expected, c.Timestamp);
            Assert.Equal(expected, c.StateTimestamp);
            Assert.Equal(DateTimeKind.Utc, c.Timestamp.Kind);
            Assert.Equal(DateTimeKind.Utc, c.StateTimestamp.Kind);
            var steps = await store.GetStepsAsync(t.Id).ToListAsync();
            Assert.All(steps, s => Assert.Equal(expected, s.Timestamp));
            Assert.All(steps, s => Assert.Equal(DateTimeKind.Utc, s.Timestamp.Kind));
        }

        // the stored instant is found by time queries at microsecond resolution
        async Task<int> Count(FleTrajectoryQuery q) => (await Store.QueryTrajectoriesAsync(q).ToListAsync()).Count;
        Assert.Equal(1, await Count(new FleTrajectoryQuery { After = expected }));
        Assert.Equal(0, await Count(new FleTrajectoryQuery { Before = expected }));
        if (expected < DateTime.MaxValue.AddTicks(-10))
        {
            Assert.Equal(1, await Count(new FleTrajectoryQuery { Before = expected.AddTicks(10) }));
            Assert.Equal(0, await Count(new FleTrajectoryQuery { After = expected.AddTicks(10) }));
        }
        Assert.Equal(1, await Count(new FleTrajectoryQuery { After = expected.AddTicks(-10) }));
    }

    [ContractFact]
    public async Task Local_and_unspecified_times_are_taken_as_what_they_mean()
    {
        var utc = new DateTime(2024, 7, 1, 10, 20, 30, DateTimeKind.Utc).AddTicks(1234567);
        var local = utc.ToLocalTime();
        Assert.Equal(DateTimeKind.Local, local.Kind);
        var a = await Store.CreateTrajectoryAsync("time", null, "local", local);
        Assert.Equal(Micro(utc), a.StartTime);
        Assert.Equal(Micro(utc), (await Store.GetTrajectoryAsync("local"))!.StartTime);

        var unspecified = DateTime.SpecifyKind(utc, DateTimeKind.Unspecified); // taken as UTC
        await Store.CreateTrajectoryAsync("time", null, "unspecified", unspecified);
        Assert.Equal(Micro(utc), (await Store.GetTrajectoryAsync("unspecified"))!.StartTime);

        var s = await Store.SaveStepAsync(new FleStepInput { TrajectoryId = "local", StepNumber = 0, Timestamp = local });
        Assert.Equal(Micro(utc), s.Timestamp);
        Assert.Equal(Micro(utc), (await Store.GetStepsAsync("local").ToListAsync()).Single().Timestamp);
    }

    [ContractFact]
    public async Task Default_timestamps_are_now_in_microseconds_and_read_back_exactly_as_returned()
    {
        var before = FleClock.UtcNow();
        var t = await Store.CreateTrajectoryAsync("time");
        var saved = new List<FleStep>();
        for (var i = 0; i < 20; i++)
        {
            saved.Add(i % 2 == 0
                ? await CheckpointAsync(t.Id, i, GameState(51, i, 2_000))
                : await StepAsync(t.Id, i));
        }
        var done = await Store.CompleteTrajectoryAsync(t.Id);
        var after = FleClock.UtcNow();

        Assert.All(saved, s => Assert.InRange(s.Timestamp, before, after));
        Assert.All(saved, s => Assert.Equal(0, s.Timestamp.Ticks % 10));
        Assert.All(saved, s => Assert.Equal(DateTimeKind.Utc, s.Timestamp.Kind));
        Assert.Equal(0, t.StartTime.Ticks % 10);
        Assert.Equal(0, done.EndTime!.Value.Ticks % 10);
        // FleClock.UtcNow only goes forward between calls on one machine, and so do saved timestamps
        Assert.Equal(saved.Select(s => s.Timestamp).Order(), saved.Select(s => s.Timestamp));

        var cold = await OpenStoreAsync();
        var read = await cold.GetStepsAsync(t.Id, includeGameState: true).ToListAsync();
        Assert.Equal(saved.Select(s => s.Timestamp), read.Select(s => s.Timestamp));
        foreach (var cp in saved.OfType<FleCheckpoint>())
        {
            var r = (await cold.GetCheckpointAsync(t.Id, cp.StepNumber))!;
            Assert.Equal(cp.Timestamp, r.Timestamp);
            Assert.Equal(cp.StateTimestamp, r.StateTimestamp);
        }
        var tr = (await cold.GetTrajectoryAsync(t.Id))!;
        Assert.Equal(t.StartTime, tr.StartTime);
        Assert.Equal(done.EndTime, tr.EndTime);
        Assert.True(tr.Duration >= TimeSpan.Zero);
    }
}
