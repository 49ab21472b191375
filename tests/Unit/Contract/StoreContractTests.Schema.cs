using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task A_new_database_gets_schema_version_1_recorded_once()
    {
        Assert.Equal(1, Store.SchemaVersion);
        Assert.Equal(1, await Db.CountAsync("SELECT MAX(version) FROM fle_schema_version"));
        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
        Assert.NotNull(await Db.ScalarAsync("SELECT description FROM fle_schema_version WHERE version = 1"));
        Assert.NotNull(await Db.ScalarAsync("SELECT applied_at FROM fle_schema_version WHERE version = 1"));
        foreach (var table in new[] { "trajectories", "steps", "game_states", "state_dictionaries" })
            Assert.Equal(0, await Db.CountAsync($"SELECT COUNT(*) FROM {table}"));

        // opening again neither re-applies nor records the migration twice, and keeps the data
        var t = await NewTrajectoryAsync();
        await CheckpointAsync(t.Id, 0, GameState(61, 0, 3_000));
        var again = await OpenStoreAsync();
        Assert.Equal(1, again.SchemaVersion);
        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
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
        Assert.Equal(2, await Db.CountAsync("SELECT COUNT(*) FROM fle_schema_version"));
        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM trajectories"));
    }
}
