using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Import;
using Fle.Core.Storage;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>
/// Search trees against trajectories that do not have the tree's shape: a search run that the previous release imported
/// as one linear trajectory, and a row deleted from FLE's table after its import. Nothing is imported twice, and rows FLE
/// adds later go where their parent is: after it when nothing else follows it there, else into a new fork at it.
/// </summary>
public sealed class ProgramTreePlacementTests
{
    private static readonly DateTime T0 = new(2025, 5, 1, 8, 0, 0, DateTimeKind.Utc);
    private const string Key = "8|null|-1";

    /// <summary>A program as FLE's MCTS writes it: meta without process_id, a parent_id, depth the conversation's length halved.</summary>
    private static ProgramRow Mcts(int n, long? parent, int level) => new()
    {
        Code = $"print('a{n}')", ParentId = parent, Version = 8, VersionDescription = FleSamples.IronDescription, Instance = -1, Depth = 1.5 + level,
        Meta = $$"""{"text_response": "step {{n}}", "model": "gpt-4o"}""", StateJson = FleSamples.State(n), ConversationJson = FleSamples.Conversation(level + 1),
        Response = $"{n}: ok", CreatedAt = T0.AddSeconds(10 * n),
    };

    private static FleProgramImportOptions Options(SqliteProgramsDatabase db) => new() { SqlitePath = db.Path };

    private static long ProgramId(FleStep s) => (long)JsonNode.Parse(s.MetadataJson)!["program_id"]!;

    private static async Task<(FleTrajectory T, List<FleStep> View)> OwnerAsync(FleStore target, long programId)
    {
        foreach (var t in await target.GetAllTrajectoriesAsync())
        {
            var view = await FleStore.ToListAsync(target.GetStepsAsync(t.Id));
            if (view.Any(s => s.StoredIn == t.Id && ProgramId(s) == programId)) return (t, view);
        }
        throw new InvalidOperationException($"No trajectory stores program {programId}.");
    }

    private static async Task<List<long>> StoredAsync(FleStore target)
    {
        var all = new List<long>();
        foreach (var t in await target.GetAllTrajectoriesAsync())
            all.AddRange((await FleStore.ToListAsync(target.GetStepsAsync(t.Id))).Where(s => s.StoredIn == t.Id).Select(ProgramId));
        return all;
    }

    [Fact]
    public Task A_search_run_imported_whole_by_the_previous_release_sqlite() => PreviousReleaseAsync(FleBackend.Sqlite);

    [PostgresFact]
    public Task A_search_run_imported_whole_by_the_previous_release_postgres() => PreviousReleaseAsync(FleBackend.Postgres);

    private static async Task PreviousReleaseAsync(FleBackend backend)
    {
        await using var db = SqliteProgramsDatabase.Create();
        var a = new[] { Mcts(1, null, 0), null!, null!, null! };
        await db.InsertAsync(a[0]);
        a[1] = Mcts(2, a[0].Id, 1);
        a[2] = Mcts(3, a[0].Id, 1);
        await db.InsertAsync(a[1], a[2]);
        a[3] = Mcts(4, a[1].Id, 2);
        await db.InsertAsync(a[3]);
        await using var target = await db.NewTargetAsync(backend);

        // What the previous release made of it: one trajectory, every row of the run in created_at order, by position.
        var legacyId = FleProgramTableImporter.TrajectoryId(Key, a[0].Id, T0.AddSeconds(10));
        async IAsyncEnumerable<FleExportStep> Steps([EnumeratorCancellation] CancellationToken ct = default)
        {
            await Task.Yield();
            for (var i = 0; i < a.Length; i++)
                yield return new FleExportStep
                {
                    StepNumber = i + 1, AgentCode = a[i].Code!, EnvironmentFeedback = a[i].Response!, Timestamp = a[i].CreatedAt!.Value,
                    MetadataJson = $$"""{"program_id": {{a[i].Id}}, "parent_id": {{(a[i].ParentId is { } p ? p : "null")}}, "meta": {{a[i].Meta}}}""",
                };
        }
        await target.ImportTrajectoryAsync(new FleExportRecord(ct => Steps(ct))
        {
            Id = legacyId, TaskId = "iron_plate_throughput", Status = FleTrajectoryStatus.Completed, StartTime = T0.AddSeconds(10), EndTime = T0.AddSeconds(40),
            MetadataJson = """{"version": 8, "process_id": null, "instance": -1, "imported_from": {"format": "fle-programs", "step_numbering": "Position", "rows": 4}}""",
            StepCount = 4,
        });

        // Found by its rows: nothing twice (a3's branch, a fork in this release's plan, stays where it is).
        var again = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((0, 0L, 4L, 0L), (again.Trajectories, again.Steps, again.AlreadyImported, again.SkippedCount));
        Assert.Single(await target.GetAllTrajectoriesAsync());

        // FLE goes on: a child of a3 (followed there by a4, another branch: a new fork at a3's step), a child of a4 (the
        // legacy trajectory's last row: appended), a child of a1 (a new fork at a1's step).
        var later = new[] { Mcts(5, a[2].Id, 2), Mcts(6, a[3].Id, 3), Mcts(7, a[0].Id, 1) };
        await db.InsertAsync(later);
        var whatIf = await FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { SqlitePath = db.Path, Decide = _ => FleImportDecision.DryRun });
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((2, 2, 1, 3L, 4L, 0L), (r.Trajectories, r.Forks, r.TrajectoriesUpdated, r.Steps, r.AlreadyImported, r.SkippedCount));
        Assert.Equal((r.Trajectories, r.Forks, r.Steps), (whatIf.Trajectories, whatIf.Forks, whatIf.Steps));

        var (f5, v5) = await OwnerAsync(target, later[0].Id);
        Assert.Equal((legacyId, 3L, FleProgramTableImporter.TrajectoryId(Key, later[0].Id, later[0].CreatedAt!.Value)), (f5.ParentId, f5.ForkStepNumber, f5.Id));
        Assert.Equal(new[] { a[0].Id, a[1].Id, a[2].Id, later[0].Id }, v5.Select(ProgramId)); // the legacy history, then a5
        var (l, vl) = await OwnerAsync(target, later[1].Id);
        Assert.Equal(legacyId, l.Id);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5 }, vl.Select(s => s.StepNumber));
        var (f7, v7) = await OwnerAsync(target, later[2].Id);
        Assert.Equal((legacyId, 1L), (f7.ParentId, f7.ForkStepNumber));
        Assert.Equal(new[] { a[0].Id, later[2].Id }, v7.Select(ProgramId));

        var stored = await StoredAsync(target);
        Assert.Equal(a.Concat(later).Select(x => x.Id).Order(), stored.Order()); // each row once

        var last = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((0, 0, 0L, 7L), (last.Trajectories, last.TrajectoriesUpdated, last.Steps, last.AlreadyImported));
    }

    [Fact]
    public Task A_row_deleted_after_its_import_sqlite() => DeletedAsync(FleBackend.Sqlite);

    [PostgresFact]
    public Task A_row_deleted_after_its_import_postgres() => DeletedAsync(FleBackend.Postgres);

    private static async Task DeletedAsync(FleBackend backend)
    {
        await using var db = SqliteProgramsDatabase.Create();
        var a = new List<ProgramRow> { Mcts(1, null, 0) };
        await db.InsertAsync(a[0]);
        for (var i = 1; i < 4; i++)
        {
            a.Add(Mcts(i + 1, a[i - 1].Id, i));
            await db.InsertAsync(a[i]);
        }
        await using var target = await db.NewTargetAsync(backend);
        var first = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((1, 4L), (first.Trajectories, first.Steps));
        var t = Assert.Single(await target.GetAllTrajectoriesAsync());

        // The user deletes a2: a3 no longer has its parent in the table (a root of its own in a fresh plan), yet it is found.
        await db.ExecAsync($"DELETE FROM programs WHERE id = {a[1].Id}");
        var again = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((0, 0L, 3L), (again.Trajectories, again.Steps, again.AlreadyImported));

        // A new child of a1 cannot follow it in its trajectory (a2, a3, a4 do): a fork at a1's step. A child of a4 follows it.
        var later = new[] { Mcts(5, a[0].Id, 1), Mcts(6, a[3].Id, 4) };
        await db.InsertAsync(later);
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((1, 1, 1, 2L), (r.Trajectories, r.Forks, r.TrajectoriesUpdated, r.Steps));
        var (f5, v5) = await OwnerAsync(target, later[0].Id);
        Assert.Equal((t.Id, 2L), (f5.ParentId, f5.ForkStepNumber));
        Assert.Equal(new[] { a[0].Id, later[0].Id }, v5.Select(ProgramId));
        Assert.Equal(new long[] { 2, 3 }, v5.Select(s => s.StepNumber));
        var (t6, v6) = await OwnerAsync(target, later[1].Id);
        Assert.Equal(t.Id, t6.Id);
        Assert.Equal(new long[] { 2, 3, 4, 5, 6 }, v6.Select(s => s.StepNumber)); // halved depth: a1 at 1.5
        Assert.Equal(a.Select(x => x.Id).Append(later[0].Id).Append(later[1].Id).Order(), (await StoredAsync(target)).Order());

        var last = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal((0, 0, 0L, 5L), (last.Trajectories, last.TrajectoriesUpdated, last.Steps, last.AlreadyImported));
    }
}
