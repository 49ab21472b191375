using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Import;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>
/// Import-FleProgramTable over time, on tables FLE's own client writes: incremental imports end exactly as a fresh import
/// of the final table; deleting rows (the table's first, a run's first), copying the file, and trajectories imported by
/// the previous release (ids from the table's first row) never duplicate anything.
/// </summary>
public sealed class RealClientIncrementalTests
{
    private const long MaxState = 300_000;

    private static Dictionary<string, object?> P(int version, int process, int depth, string code, int? tick, bool error = false, int technologies = 40)
        => FleOps.Program(version, process, 0, depth, code, tick, error: error, technologies: technologies);

    [FleClientFact]
    public Task Incremental_imports_end_as_a_fresh_import_sqlite() => IncrementalAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientTheory(postgres: true)]
    [InlineData(FleSourceKind.PostgresJsonb, FleBackend.Postgres)]
    [InlineData(FleSourceKind.PostgresText, FleBackend.Sqlite)]
    [InlineData(FleSourceKind.Sqlite, FleBackend.Postgres)]
    public Task Incremental_imports_end_as_a_fresh_import(FleSourceKind kind, FleBackend backend) => IncrementalAsync(kind, backend);

    private static async Task IncrementalAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        await using var incremental = await source.NewTargetAsync(backend, "incremental", MaxState);

        // 1: two runs under way. A by halved depth (0.5, 1.5), B by depth (1.0).
        await source.WriteAsync(P(3, 0, 1, "print('A1')", 1), P(3, 1, 2, "print('B1')", 11), P(3, 0, 3, "print('A2')", 2));
        var first = await FleProgramTableImporter.ImportAsync(incremental, source.Options());
        Assert.Equal((2, 3L), (first.Trajectories, first.Steps));

        // 2: A's depth repeats (a trimmed conversation: by position from step 3), B's next depth gives no whole number (by
        // position from step 2), a new run E, a row the database refuses (its number stays free), B's row that failed.
        await source.WriteAsync(P(3, 0, 3, "print('A3')", 3), P(3, 1, 4, "print('B2')", 12), P(5, 0, 1, "print('E1')", 41),
            P(3, 0, 5, "print('A4')", 4, technologies: 3000), P(3, 1, 6, "print('B3')", 13, error: true));
        var whatIf = await FleProgramTableImporter.ImportAsync(incremental, source.Options(_ => FleImportDecision.DryRun));
        var second = await FleProgramTableImporter.ImportAsync(incremental, source.Options());
        Assert.Equal((1, 2, 4L, 3L, 1L), (second.Trajectories, second.TrajectoriesUpdated, second.Steps, second.AlreadyImported, second.SkippedCount));
        Assert.Equal((second.Trajectories, second.TrajectoriesUpdated, second.Steps, second.Checkpoints, second.Bytes, second.SkippedCount, second.AlreadyImported),
            (whatIf.Trajectories, whatIf.TrajectoriesUpdated, whatIf.Steps, whatIf.Checkpoints, whatIf.Bytes, whatIf.SkippedCount, whatIf.AlreadyImported));

        // 3: more rows; B's last row then loses its created_at: B's status and end time come from B3 (failed).
        var rows = await source.WriteAsync(P(3, 0, 9, "print('A5')", 5), P(5, 0, 3, "print('E2')", 42), P(3, 1, 8, "print('B4')", 14));
        if (source.IsPostgres) await source.WriteAsync(FleOps.Update(rows[2].Id, new Dictionary<string, object?> { ["created_at"] = null }));
        else await source.ExecAsync($"UPDATE programs SET created_at = NULL WHERE id = {rows[2].Id}");
        var third = await FleProgramTableImporter.ImportAsync(incremental, source.Options());
        Assert.Equal((0, 3, 2L, 2L), (third.Trajectories, third.TrajectoriesUpdated, third.Steps, third.SkippedCount)); // B: no new step, but one more row

        // A fresh import of the final table gives the same trajectories: ids, steps, states, metadata, status, end time.
        await using var fresh = await source.NewTargetAsync(backend, "fresh", MaxState);
        var all = await FleProgramTableImporter.ImportAsync(fresh, source.Options());
        Assert.Equal((3, 9L), (all.Trajectories, all.Steps));
        Assert.Equal(await StoreSnapshot.TakeAsync(fresh), await StoreSnapshot.TakeAsync(incremental));

        var a = Assert.Single(await incremental.GetAllTrajectoriesAsync(), t => Equals(t.Metadata["version"], 3L) && Equals(t.Metadata["process_id"], 0L));
        Assert.Equal(new long[] { 1, 2, 3, 5 }, (await FleStore.ToListAsync(incremental.GetStepsAsync(a.Id))).Select(s => s.StepNumber));
        var from = (JsonObject)JsonNode.Parse(a.MetadataJson)!["imported_from"]!;
        Assert.Equal(("HalvedDepth", 3L, 5L), ((string)from["step_numbering"]!, (long)from["position_from_step"]!, (long)from["rows"]!));
        var b = Assert.Single(await incremental.GetAllTrajectoriesAsync(), t => Equals(t.Metadata["version"], 3L) && Equals(t.Metadata["process_id"], 1L));
        Assert.Equal(FleTrajectoryStatus.Failed, b.Status);
        Assert.Equal((await FleStore.ToListAsync(incremental.GetStepsAsync(b.Id)))[^1].Timestamp, b.EndTime);
    }

    [FleClientFact]
    public Task Pruned_and_copied_sources_import_nothing_twice_sqlite() => PrunedAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientTheory(postgres: true)]
    [InlineData(FleSourceKind.PostgresText, FleBackend.Postgres)]
    [InlineData(FleSourceKind.PostgresJsonb, FleBackend.Sqlite)]
    public Task Pruned_sources_import_nothing_twice(FleSourceKind kind, FleBackend backend) => PrunedAsync(kind, backend);

    private static async Task PrunedAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        await using var target = await source.NewTargetAsync(backend, maxStateBytes: MaxState);
        var written = await source.WriteAsync(P(1, 0, 1, "print('X1')", 1), P(1, 0, 3, "print('X2')", 2),
            P(2, 0, 1, "print('Y1')", 11), P(2, 1, 1, "print('Z1')", 21), P(2, 0, 3, "print('Y2')", 12), P(2, 1, 3, "print('Z2')", 22), P(2, 0, 5, "print('Y3')", 13));
        var first = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((3, 7L), (first.Trajectories, first.Steps));
        var before = (await target.GetAllTrajectoriesAsync()).ToDictionary(t => t.Id, t => t.StepCount);

        // FLE users prune old versions, here with the table's first row; and a run loses its first row too.
        await source.ExecAsync("DELETE FROM programs WHERE version = 1");
        await source.ExecAsync($"DELETE FROM programs WHERE id = {written[2].Id}");
        await source.WriteAsync(P(2, 0, 7, "print('Y4')", 14), P(2, 1, 5, "print('Z3')", 23));

        var again = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 2, 2L, 4L, 0L), (again.Trajectories, again.TrajectoriesUpdated, again.Steps, again.AlreadyImported, again.SkippedCount));
        var after = await target.GetAllTrajectoriesAsync();
        Assert.Equal(before.Keys.Order(), after.Select(t => t.Id).Order()); // the same trajectories, none new
        var y = Assert.Single(after, t => Equals(t.Metadata["version"], 2L) && Equals(t.Metadata["process_id"], 0L));
        var ySteps = await FleStore.ToListAsync(target.GetStepsAsync(y.Id));
        Assert.Equal(new long[] { 1, 2, 3, 4 }, ySteps.Select(s => s.StepNumber)); // Y1 stays (an import never deletes); Y4 continues
        Assert.Equal(new[] { "print('Y1')", "print('Y2')", "print('Y3')", "print('Y4')" }, ySteps.Select(s => s.AgentCode));
        Assert.Equal(2, after.Single(t => Equals(t.Metadata["version"], 1L)).StepCount);

        var third = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0, 0L, 6L), (third.Trajectories, third.TrajectoriesUpdated, third.Steps, third.AlreadyImported));

        if (source.Path is { } path)
        {
            // A copy of the file (or the file moved) is the same runs.
            var copy = Path.Combine(source.Folder, "elsewhere", "data.db");
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(path, copy);
            var fromCopy = await FleProgramTableImporter.ImportAsync(target, source.Options(sqlitePath: copy));
            Assert.Equal((0, 0, 0L, 6L), (fromCopy.Trajectories, fromCopy.TrajectoriesUpdated, fromCopy.Steps, fromCopy.AlreadyImported));
        }
    }

    [FleClientFact]
    public Task Trajectories_of_the_previous_release_are_found_after_pruning_sqlite() => PreviousReleaseAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientFact(postgres: true)]
    public Task Trajectories_of_the_previous_release_are_found_after_pruning_postgres() => PreviousReleaseAsync(FleSourceKind.PostgresJsonb, FleBackend.Postgres);

    private static async Task PreviousReleaseAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        var written = await source.WriteAsync(P(1, 0, 1, "print('X1')", 1), P(1, 0, 3, "print('X2')", 2), P(2, 0, 1, "print('Y1')", 11), P(2, 0, 3, "print('Y2')", 12));

        // What the previous release made of this table: the same trajectories under ids derived from the table's first row
        // (fle-programs/1|<id>@<created_at of row 1>|<run key>), with imported_from.source_fingerprint.
        await using var scratch = await source.NewTargetAsync(FleBackend.Sqlite, "scratch");
        await FleProgramTableImporter.ImportAsync(scratch, source.Options());
        var firstAt = (await scratch.GetAllTrajectoriesAsync()).Min(t => t.StartTime);
        var fingerprint = $"{written[0].Id}@{firstAt:O}";
        await using var target = await source.NewTargetAsync(backend, maxStateBytes: MaxState);
        var legacyIds = new List<string>();
        foreach (var t in await scratch.GetAllTrajectoriesAsync())
        {
            var meta = JsonNode.Parse(t.MetadataJson)!.AsObject();
            var legacyId = FleProgramTableImporter.LegacyTrajectoryId(fingerprint, $"{meta["version"]}|{meta["process_id"]}|{meta["instance"]}");
            ((JsonObject)meta["imported_from"]!)["source_fingerprint"] = fingerprint;
            var rec = (await scratch.ExportTrajectoryAsync(t.Id))!;
            var legacy = new FleExportRecord(rec.GetStepsAsync)
            {
                Id = legacyId, TaskId = t.TaskId, Status = t.Status, StartTime = t.StartTime, EndTime = t.EndTime, MetadataJson = meta.ToJsonString(), StepCount = t.StepCount,
            };
            await target.ImportTrajectoryAsync(legacy);
            legacyIds.Add(legacyId);
        }

        var unpruned = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0L, 4L), (unpruned.Trajectories, unpruned.Steps, unpruned.AlreadyImported));

        await source.ExecAsync("DELETE FROM programs WHERE version = 1"); // the table's first row goes
        await source.WriteAsync(P(2, 0, 5, "print('Y3')", 13));
        var pruned = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 1, 1L, 2L), (pruned.Trajectories, pruned.TrajectoriesUpdated, pruned.Steps, pruned.AlreadyImported));
        var all = await target.GetAllTrajectoriesAsync();
        Assert.Equal(legacyIds.Order(), all.Select(t => t.Id).Order());
        var y = all.Single(t => Equals(t.Metadata["version"], 2L));
        Assert.Equal(new long[] { 1, 2, 3 }, (await FleStore.ToListAsync(target.GetStepsAsync(y.Id))).Select(s => s.StepNumber));
    }
}
