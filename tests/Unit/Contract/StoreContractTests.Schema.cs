using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task A_new_database_gets_every_schema_version_recorded_once()
    {
        Assert.Equal(2, Store.SchemaVersion);
        Assert.Equal(2, await Db.CountAsync("SELECT MAX(version) FROM fle_schema_version"));
        Assert.Equal(2, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
        foreach (var v in new[] { 1, 2 })
        {
            Assert.NotNull(await Db.ScalarAsync($"SELECT description FROM fle_schema_version WHERE version = {v}"));
            Assert.NotNull(await Db.ScalarAsync($"SELECT applied_at FROM fle_schema_version WHERE version = {v}"));
        }
        foreach (var table in new[] { "trajectories", "steps", "game_states", "state_dictionaries" })
            Assert.Equal(0, await Db.CountAsync($"SELECT COUNT(*) FROM {table}"));

        // opening again neither re-applies nor records the migration twice, and keeps the data
        var t = await NewTrajectoryAsync();
        await CheckpointAsync(t.Id, 0, GameState(61, 0, 3_000));
        var again = await OpenStoreAsync();
        Assert.Equal(2, again.SchemaVersion);
        Assert.Equal(2, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
        SameBytes(GameState(61, 0, 3_000), (await again.GetLatestCheckpointAsync(t.Id))!.GameState, "after reopening");
    }

    [ContractFact]
    public async Task A_database_with_a_newer_schema_version_is_refused_with_SchemaTooNew()
    {
        await NewTrajectoryAsync("task", "keep-me");
        await Db.ExecAsync("INSERT INTO fle_schema_version (version, description, applied_at) VALUES (999, 'from the future', '2099-01-01T00:00:00.000000Z')");

        var e = await ThrowsFle(FleErrorIds.SchemaTooNew, () => Db.OpenAsync());
        Assert.Contains("999", e.Message);
        Assert.Equal(FleErrorKind.NotSupported, e.Kind);
        Assert.NotNull(e.RecommendedAction);

        // nothing was changed by the refused open
        Assert.Equal(3, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM trajectories"));
    }
}

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task Damaged_state_rows_fail_with_CorruptGameState_on_every_read_path()
    {
        var t = await NewTrajectoryAsync();
        await CheckpointAsync(t.Id, 0, GameState(91, 0, 10_000));                     // keyframe (zstd-dict)
        await CheckpointAsync(t.Id, 1, GameState(91, 1, 10_000));                     // delta (zstd-dict)
        await CheckpointAsync(t.Id, 2, [0x37, 0xA4, 0x30, 0xEC, .. GameState(91, 2, 5_000)]); // plain zstd
        await CheckpointAsync(t.Id, 3, [1, 2, 3]);                                     // raw
        await CheckpointAsync(t.Id, 4, GameState(91, 4, 10_000));                     // intact

        await Db.ExecAsync("UPDATE game_states SET state_data = @d WHERE trajectory_id = @t AND step_number = 1", ("@d", RandomBytes(300, 1)), ("@t", t.Id));
        await Db.ExecAsync("UPDATE game_states SET raw_size = raw_size + 1 WHERE trajectory_id = @t AND step_number IN (2, 3)", ("@t", t.Id));
        await Db.ExecAsync("UPDATE game_states SET codec = 9 WHERE trajectory_id = @t AND step_number = 0", ("@t", t.Id));

        var cold = await OpenStoreAsync();
        foreach (var step in new long[] { 0, 1, 2, 3 })
        {
            await ThrowsFle(FleErrorIds.CorruptState, () => cold.GetCheckpointAsync(t.Id, step));
            await ThrowsFle(FleErrorIds.CorruptState, () => cold.GetStepsAsync(t.Id, FleStepRange.Single(step), includeGameState: true).ToListAsync());
        }
        await ThrowsFle(FleErrorIds.CorruptState, () => cold.GetTrajectoryStepsAsync(t.Id));
        // the rest still reads; steps without their states too
        SameBytes(GameState(91, 4, 10_000), (await cold.GetLatestCheckpointAsync(t.Id))!.GameState, "intact step 4");
        Assert.Equal(5, (await cold.GetStepsAsync(t.Id).ToListAsync()).Count);

        // a damaged keyframe dictionary breaks the states that use it, for a store that has not cached it
        await Db.ExecAsync("UPDATE state_dictionaries SET data = @d WHERE trajectory_id = @t", ("@d", RandomBytes(500, 2)), ("@t", t.Id));
        await ThrowsFle(FleErrorIds.CorruptState, async () => await (await OpenStoreAsync()).GetCheckpointAsync(t.Id, 4));
    }
}
