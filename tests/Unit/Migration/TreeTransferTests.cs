using System.Text.Json;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Migration;

/// <summary>Moving trees: an export carries the lineage, an import links forks to ancestors, both directions between backends.</summary>
public sealed class TreeTransferTests(MigrationDatabases dbs) : IClassFixture<MigrationDatabases>
{
    /// <summary>root (12 checkpoints) ─ a@5 (3 own) ─ aa@7 (2 own); root ─ b@9 (1 own); and an unrelated root.</summary>
    private static async Task<(string Root, string A, string Aa, string B, string Lone)> SeedTreeAsync(FleStore s)
    {
        var root = await s.CreateTrajectoryAsync("tree", """{"model":"m"}""", null, null);
        for (var i = 0; i < 12; i++) await Save(s, root.Id, i, 1, i);
        await s.CompleteTrajectoryAsync(root.Id);
        var a = await s.CreateForkAsync(root.Id, 5, metadataJson: """{"branch":"a"}""");
        for (var i = 6; i <= 8; i++) await Save(s, a.Id, i, 1, 100 + i);
        var aa = await s.CreateForkAsync(a.Id, 7);
        for (var i = 8; i <= 9; i++) await Save(s, aa.Id, i, 1, 200 + i);
        var b = await s.CreateForkAsync(root.Id, 9);
        await Save(s, b.Id, 10, 2, 10);
        var lone = await s.CreateTrajectoryAsync("other");
        await Save(s, lone.Id, 0, 3, 0);
        return (root.Id, a.Id, aa.Id, b.Id, lone.Id);
    }

    private static Task<FleCheckpoint> Save(FleStore s, string id, long step, int world, int tick) => s.SaveCheckpointAsync(new FleStepInput
    {
        TrajectoryId = id, StepNumber = step, AgentCode = $"code {step}", EnvironmentFeedback = $"fb {step}",
        MetadataJson = $$"""{"score":{{tick}}}""", GameState = GameState(world, tick, 6_000),
    });

    private static async Task<FleImportSummary> CopyAsync(FleStore from, FleStore to, FleTrajectoryQuery query, FleConflictAction onConflict = FleConflictAction.Skip)
    {
        var summary = new FleImportSummary();
        await foreach (var rec in from.ExportAsync(query))
            summary.Add(await to.ImportTrajectoryAsync(rec, onConflict));
        return summary;
    }

    private async Task<FleStore> NewAsync(FleBackend backend) => backend == FleBackend.Sqlite ? await dbs.SqliteAsync() : await dbs.PostgresAsync();

    [Theory]
    [InlineData(FleBackend.Sqlite, FleBackend.Postgres)]
    [InlineData(FleBackend.Postgres, FleBackend.Sqlite)]
    [InlineData(FleBackend.Sqlite, FleBackend.Sqlite)]
    public async Task A_whole_tree_moves_by_stream_and_by_file_and_reads_the_same(FleBackend source, FleBackend target)
    {
        if (MigrationDatabases.PgServer is null && (source == FleBackend.Postgres || target == FleBackend.Postgres)) return;
        await using var from = await NewAsync(source);
        var ids = await SeedTreeAsync(from);
        var expected = await StoreSnapshot.TakeAsync(from);

        await using var to = await NewAsync(target);
        var s1 = await CopyAsync(from, to, new FleTrajectoryQuery());
        Assert.Equal(5, s1.Trajectories);
        Assert.Equal(12 + 3 + 2 + 1 + 1, s1.Steps);                    // each step once: forks carry their own
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(to));
        Assert.Equal(ids.A, (await to.GetTrajectoryAsync(ids.Aa))!.ParentId);
        Assert.Equal(7, (await to.GetTrajectoryAsync(ids.Aa))!.ForkStepNumber);
        // an imported fork's states start from the keyframe it inherits, as when they were saved: no keyframe of its own
        foreach (var fork in new[] { ids.A, ids.Aa, ids.B })
        {
            var (was, now) = ((await from.GetTrajectorySizeAsync(fork)).StoredStateBytes, (await to.GetTrajectorySizeAsync(fork)).StoredStateBytes);
            Assert.True(now <= was * 1.5 + 256, $"fork {fork}: {now:N0} bytes imported, {was:N0} as saved");
        }

        // idempotent
        var s2 = await CopyAsync(from, to, new FleTrajectoryQuery());
        Assert.Equal(0, s2.Trajectories);
        Assert.Equal(5, s2.Skipped);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(to));

        // by file, from the copy back to a third store
        var file = dbs.NewPath("tree.jsonl");
        await to.ExportToFileAsync(new FleTrajectoryQuery(), file);
        await using var third = await NewAsync(source);
        var s3 = await third.ImportFileAsync(file);
        Assert.Equal(5, s3.Trajectories);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(third));
        var again = await third.ImportFileAsync(file);
        Assert.Equal(5, again.Skipped);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(third));
    }

    [Fact]
    public async Task Exporting_a_fork_brings_its_ancestors_first_and_an_import_links_to_those_present()
    {
        await using var from = await dbs.SqliteAsync();
        var ids = await SeedTreeAsync(from);

        var order = new List<string>();
        await foreach (var rec in from.ExportAsync(new FleTrajectoryQuery { Ids = [ids.Aa] })) order.Add(rec.Id);
        Assert.Equal([ids.Root, ids.A, ids.Aa], order);

        await using var to = await dbs.SqliteAsync();
        await CopyAsync(from, to, new FleTrajectoryQuery { Ids = [ids.Aa] });
        Assert.Equal(new[] { ids.Root, ids.A, ids.Aa }.Order(), (await to.GetAllTrajectoriesAsync()).Select(t => t.Id).Order());
        var view = await to.GetStepsAsync(ids.Aa, FleStepRange.All, includeGameState: true).ToListAsync();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), view.Select(s => s.StepNumber));
        SameBytes(GameState(1, 209, 6_000), view[9].GameState, "aa's own");
        SameBytes(GameState(1, 106, 6_000), view[6].GameState, "a's");
        SameBytes(GameState(1, 2, 6_000), view[2].GameState, "root's");

        // later: b, whose parent is already there, links to it; nothing is duplicated
        var s = await CopyAsync(from, to, new FleTrajectoryQuery { Ids = [ids.B] });
        Assert.Equal(1, s.Trajectories);
        Assert.Equal(1, s.Skipped);
        Assert.Equal(1, s.Steps);
        Assert.Equal(ids.Root, (await to.GetTrajectoryAsync(ids.B))!.ParentId);
        Assert.Equal(12 + 3 + 2 + 1, (await to.GetAllTrajectoriesAsync()).Sum(t => t.OwnStepCount));
    }

    [Fact]
    public async Task A_fork_whose_parent_is_missing_is_refused_and_a_version_1_file_still_imports()
    {
        await using var from = await dbs.SqliteAsync();
        var ids = await SeedTreeAsync(from);
        await using var to = await dbs.SqliteAsync();
        FleExportRecord? fork = null;
        await foreach (var rec in from.ExportAsync(new FleTrajectoryQuery { Ids = [ids.B] }))
            if (rec.Id == ids.B) fork = rec;
        var e = await ThrowsFle(FleErrorIds.ImportParentMissing, () => to.ImportTrajectoryAsync(fork!));
        Assert.Contains(ids.Root, e.Message);
        Assert.Empty(await to.GetAllTrajectoriesAsync());

        // the file names a fork's parent and fork point
        var forkFile = dbs.NewPath("fork.jsonl");
        await from.ExportToFileAsync(new FleTrajectoryQuery { Ids = [ids.B] }, forkFile);
        var forkLine = (await File.ReadAllLinesAsync(forkFile)).Single(l => l.Contains($"\"id\":\"{ids.B}\"", StringComparison.Ordinal));
        Assert.Contains($"\"parent_id\":\"{ids.Root}\",\"fork_step_number\":9", forkLine);

        // a file of format version 1 (release 0.1.0: no lineage) imports as before
        var file = dbs.NewPath("v1.jsonl");
        await from.ExportToFileAsync(new FleTrajectoryQuery { Ids = [ids.Lone] }, file);
        var lines = await File.ReadAllLinesAsync(file);
        var header = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(lines[0])!;
        Assert.Equal(2, header["version"].GetInt32());
        lines[0] = lines[0].Replace("\"version\":2", "\"version\":1", StringComparison.Ordinal);
        await File.WriteAllLinesAsync(file, lines);
        Assert.DoesNotContain("parent_id", await File.ReadAllTextAsync(file));
        var summary = await to.ImportFileAsync(file);
        Assert.Equal(1, summary.Trajectories);
        SameBytes(GameState(3, 0, 6_000), (await to.GetLatestCheckpointAsync(ids.Lone))!.GameState, "v1 import");
    }
}
