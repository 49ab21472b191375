using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Import;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>
/// FLE's search trees (parent_id) as trajectories and forks, on tables FLE's own client writes the way FLE's MCTS, beam
/// search and chunked MCTS do (fle/eval/algorithms): every program's history, read through its trajectory's ancestors,
/// is exactly its parent_id chain (what FLE's own run_trace.py follows); no row is stored twice; -WhatIf writes nothing
/// and counts alike; re-imports import nothing twice; rows FLE adds later join the tree, ending as a fresh import does.
/// </summary>
public sealed class RealClientTreeTests
{
    private const long MaxState = 300_000;

    private static Dictionary<string, object?> S(int version, int depth, string code, int tick, int? parent = null, long? parentId = null, int instance = -1,
        bool chunk = false, int technologies = 40) => FleOps.Search(version, depth, code, tick, parent, parentId, instance, chunk, technologies: technologies);

    /// <summary>The first rows: an MCTS tree, a beam search, chunked MCTS across two instances, a trajectory-runner run.</summary>
    private static object[] FirstRows() =>
    [
        // MCTS (mcts.py), version 8: three samples from the initial state (no parent, depth = 3 messages), then the
        // samples of a sampled parent (depth + 2 each level).
        /* 0 r1  */ S(8, 3, "print('r1')", 1),
        /* 1 r2  */ S(8, 3, "print('r2')", 2),
        /* 2 r3  */ S(8, 3, "print('r3')", 3),
        /* 3 r4  */ S(8, 5, "print('r4')", 4, parent: 1),
        // Beam search (beam_search.py), version 9, width 2, interleaved in time with the MCTS: depth = 2 × the beam depth.
        /* 4 b0  */ S(9, 0, "print('b0')", 20),
        /* 5 b1  */ S(9, 0, "print('b1')", 21),
        /* 6 r5  */ S(8, 5, "print('r5')", 5, parent: 1),
        /* 7 r6  */ S(8, 5, "print('r6')", 6, parent: 1),
        /* 8 b2  */ S(9, 2, "print('b2')", 22, parent: 4),
        /* 9 b3  */ S(9, 2, "print('b3')", 23, parent: 4),
        /*10 r7  */ S(8, 7, "print('r7')", 7, parent: 3),
        /*11 r8  */ S(8, 7, "print('r8')", 8, parent: 3),
        /*12 b4  */ S(9, 4, "print('b4')", 24, parent: 9),
        /*13 b5  */ S(9, 4, "print('b5')", 25, parent: 9),
        /*14 r9  */ S(8, 5, "print('r9')", 9, parent: 0),
        /*15 r10 */ S(8, 7, "print('r10')", 10, parent: 6),
        // Chunked MCTS (chunked_mcts.py), version 10: no meta; a chunk on instance 1 continues a chunk of instance 0.
        /*16 c0  */ S(10, 2, "print('c0')", 30, instance: 0, chunk: true),
        /*17 c1  */ S(10, 3, "print('c1')", 31, parent: 16, instance: 0, chunk: true),
        /*18 c2  */ S(10, 4, "print('c2')", 32, parent: 17, instance: 1, chunk: true),
        /*19 c3  */ S(10, 5, "print('c3')", 33, parent: 18, instance: 1, chunk: true),
        // FLE's trajectory runner, version 11: a process_id, no parent_id; its rows follow one another.
        /*20 t1  */ FleOps.Program(11, 0, 0, 1, "print('t1')", 40),
        /*21 t2  */ FleOps.Program(11, 0, 0, 3, "print('t2')", 41),
    ];

    /// <summary>Rows FLE adds after the first import, under parents imported then.</summary>
    private static object[] LaterRows(List<FleWrittenRow> w) =>
    [
        /* 0 r11 */ S(8, 5, "print('r11')", 11, parentId: w[2].Id),    // r3's first child: continues r3's trajectory
        /* 1 r12 */ S(8, 5, "print('r12')", 12, parentId: w[1].Id),    // r2 had children: a new fork of r2's trajectory
        /* 2 r13 */ S(8, 9, "print('r13')", 13, parentId: w[10].Id),   // r7, the tail of r2's trajectory: continues it
        /* 3 r14 */ S(8, 9, "print('r14')", 14, parentId: w[15].Id),   // r10: continues the fork of r5
        /* 4 b6  */ S(9, 6, "print('b6')", 26, parentId: w[13].Id),    // b5: continues the fork of a fork
        /* 5 b7  */ S(9, 4, "print('b7')", 27, parentId: w[8].Id),     // b2: continues b0's trajectory
        /* 6 c4  */ S(10, 6, "print('c4')", 34, parentId: w[19].Id, instance: 1, chunk: true),
        /* 7 c5  */ S(10, 4, "print('c5')", 35, parentId: w[17].Id, instance: 0, chunk: true), // c1 is still the tail of c0's trajectory
        /* 8 t3  */ FleOps.Program(11, 0, 0, 5, "print('t3')", 42),
    ];

    [FleClientFact]
    public Task Search_trees_become_forks_sqlite() => TreesAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientTheory(postgres: true)]
    [InlineData(FleSourceKind.PostgresText, FleBackend.Postgres)]
    [InlineData(FleSourceKind.Sqlite, FleBackend.Postgres)]
    [InlineData(FleSourceKind.PostgresJsonb, FleBackend.Sqlite)]
    public Task Search_trees_become_forks(FleSourceKind kind, FleBackend backend) => TreesAsync(kind, backend);

    private static async Task TreesAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        var written = await source.WriteAsync(FirstRows());
        await using var target = await source.NewTargetAsync(backend, "incremental", MaxState);

        var whatIf = await FleProgramTableImporter.ImportAsync(target, source.Options(_ => FleImportDecision.DryRun));
        Assert.Empty(await target.GetAllTrajectoriesAsync());
        var asked = new List<FleProgramRun>();
        var first = await FleProgramTableImporter.ImportAsync(target, source.Options(run => { asked.Add(run); return FleImportDecision.Import; }));
        // MCTS: r1, r2, r3 and forks at r5, r6, r8; beam: b0, b1 and forks at b3, b5; chunked: c0 and the fork at c2; runner: 1.
        Assert.Equal((13, 6, 0, 22L, 0L, 0L), (first.Trajectories, first.Forks, first.TrajectoriesUpdated, first.Steps, first.AlreadyImported, first.SkippedCount));
        Assert.Equal((first.Trajectories, first.Forks, first.Steps, first.Checkpoints, first.Bytes), (whatIf.Trajectories, whatIf.Forks, whatIf.Steps, whatIf.Checkpoints, whatIf.Bytes));
        Assert.Equal(6, asked.Count(a => a.ParentTrajectoryId is not null));

        var rows = written.ToList();
        await VerifyTreeAsync(target, rows);
        var r2 = await OwnerAsync(target, rows[1].Id);
        Assert.Equal(new long[] { 2, 3, 4 }, (await StepsAsync(target, r2.Id)).Select(s => s.StepNumber)); // MCTS: halved depth 1.5, 2.5, 3.5
        Assert.Equal(new[] { rows[1].Id, rows[3].Id, rows[10].Id }, (await StepsAsync(target, r2.Id)).Select(ProgramId));
        var r8 = await OwnerAsync(target, rows[11].Id);
        Assert.Equal((r2.Id, 3L), (r8.ParentId, r8.ForkStepNumber));
        var view = await StepsAsync(target, r8.Id);
        Assert.Equal(new[] { rows[1].Id, rows[3].Id, rows[11].Id }, view.Select(ProgramId)); // r2, r4 read through r2's trajectory, then r8
        Assert.Equal(new[] { r2.Id, r2.Id, r8.Id }, view.Select(s => s.StoredIn));
        var b5 = await OwnerAsync(target, rows[13].Id);
        var b3 = await OwnerAsync(target, rows[9].Id);
        var b0 = await OwnerAsync(target, rows[4].Id);
        Assert.Equal((b3.Id, 2L, b0.Id, 1L), (b5.ParentId, b5.ForkStepNumber, b3.ParentId, b3.ForkStepNumber)); // a fork of a fork
        Assert.Equal(new[] { b0.Id, b3.Id, b5.Id }, (await StepsAsync(target, b5.Id)).Select(s => s.StoredIn));
        var c2 = await OwnerAsync(target, rows[18].Id);
        var c0 = await OwnerAsync(target, rows[16].Id);
        Assert.Equal(c0.Id, c2.ParentId); // another run (instance 1) forks from instance 0's trajectory, at c1's step
        Assert.Equal((1L, 0L), ((long)c2.Metadata["instance"]!, (long)c0.Metadata["instance"]!));
        Assert.Equal(rows[17].Id, ProgramId((await StepsAsync(target, c0.Id)).Single(s => s.StepNumber == c2.ForkStepNumber)));

        // Again: nothing twice.
        var again = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0, 0L, 22L), (again.Trajectories, again.TrajectoriesUpdated, again.Steps, again.AlreadyImported));

        // FLE goes on: the new rows join the tree, appended to the trajectories they continue; one new fork.
        rows.AddRange(await source.WriteAsync(LaterRows(written)));
        var whatIfLater = await FleProgramTableImporter.ImportAsync(target, source.Options(_ => FleImportDecision.DryRun));
        var later = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((1, 1, 8, 9L, 22L, 0L), (later.Trajectories, later.Forks, later.TrajectoriesUpdated, later.Steps, later.AlreadyImported, later.SkippedCount));
        Assert.Equal((later.Trajectories, later.TrajectoriesUpdated, later.Steps, later.Bytes), (whatIfLater.Trajectories, whatIfLater.TrajectoriesUpdated, whatIfLater.Steps, whatIfLater.Bytes));
        await VerifyTreeAsync(target, rows);
        var r12 = await OwnerAsync(target, rows[23].Id);
        Assert.Equal((r2.Id, 2L), (r12.ParentId, r12.ForkStepNumber)); // a parent imported by the earlier import
        Assert.Equal(r2.Id, (await OwnerAsync(target, rows[24].Id)).Id);
        Assert.Equal(b5.Id, (await OwnerAsync(target, rows[26].Id)).Id);
        Assert.Equal(c0.Id, (await OwnerAsync(target, rows[29].Id)).Id);
        Assert.Equal(c2.Id, (await OwnerAsync(target, rows[28].Id)).Id);

        // The same as one import of the final table: ids, trees, steps, states, metadata, status, end times.
        await using var fresh = await source.NewTargetAsync(backend, "fresh", MaxState);
        var all = await FleProgramTableImporter.ImportAsync(fresh, source.Options());
        Assert.Equal((14, 7, 31L), (all.Trajectories, all.Forks, all.Steps));
        Assert.Equal(await StoreSnapshot.TakeAsync(fresh), await StoreSnapshot.TakeAsync(target));
        var last = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0, 0L, 31L), (last.Trajectories, last.TrajectoriesUpdated, last.Steps, last.AlreadyImported));
    }

    /// <summary>
    /// The edges of a tree, version 12 (MCTS rows): a parent deleted from the table (FLE users prune), a parent_id naming a
    /// later row (a cycle) or the row itself, a parent the target refuses (its step number stays free: the fork is made at
    /// it), a trajectory none of whose rows can be imported (its fork cannot be either), a declined parent (its forks are
    /// declined with it), a trajectory continued in Fle (the rows that would continue it are reported, a fork of it is made).
    /// </summary>
    private static object[] EdgeRows() =>
    [
        /* 0 e0  */ S(12, 3, "print('e0')", 1),
        /* 1 e1  */ S(12, 5, "print('e1')", 2, parent: 0),              // deleted below
        /* 2 e2  */ S(12, 5, "print('e2')", 3, parent: 0),              // with e1 gone: e0's first child
        /* 3 e3  */ S(12, 7, "print('e3')", 4, parent: 1),              // its parent is gone: a root
        /* 4 e5  */ S(12, 3, "print('e5')", 5),                         // parent_id set to e6 below (a later row): a root
        /* 5 e6  */ S(12, 5, "print('e6')", 6, parent: 4),              // continues e5 (e5 and e6 name each other)
        /* 6 e7  */ S(12, 3, "print('e7')", 7),                         // parent_id set to itself below: a root
        /* 7 e8  */ S(12, 3, "print('e8')", 8, technologies: 3000),     // refused (state over FLE_MAX_STATE_BYTES): step 2 stays free
        /* 8 e9  */ S(12, 5, "print('e9')", 9, parent: 7),              // continues e8's trajectory at step 3
        /* 9 e10 */ S(12, 5, "print('e10')", 10, parent: 7),            // a fork of e8's trajectory at step 2
        /*10 e11 */ S(12, 3, "print('e11')", 11, technologies: 3000),   // refused
        /*11 e12 */ S(12, 5, "print('e12')", 12, parent: 10, technologies: 3000), // refused: e11's trajectory has no row
        /*12 e13 */ S(12, 5, "print('e13')", 13, parent: 10),           // a fork of a trajectory that is not created
    ];

    [FleClientFact]
    public Task The_edges_of_a_tree_sqlite() => EdgesAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientFact(postgres: true)]
    public Task The_edges_of_a_tree_postgres() => EdgesAsync(FleSourceKind.PostgresText, FleBackend.Postgres);

    private static async Task EdgesAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        var w = await source.WriteAsync(EdgeRows());
        await source.ExecAsync($"DELETE FROM programs WHERE id = {w[1].Id}");
        await source.ExecAsync($"UPDATE programs SET parent_id = {w[5].Id} WHERE id = {w[4].Id}");
        await source.ExecAsync($"UPDATE programs SET parent_id = {w[6].Id} WHERE id = {w[6].Id}");
        await using var target = await source.NewTargetAsync(backend, maxStateBytes: MaxState);

        var whatIfSkips = new List<FleSkippedProgramRow>();
        var whatIf = await FleProgramTableImporter.ImportAsync(target, source.Options(_ => FleImportDecision.DryRun, whatIfSkips));
        Assert.Empty(await target.GetAllTrajectoriesAsync());
        var r = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((6, 1, 8L), (r.Trajectories, r.Forks, r.Steps));
        var expectedSkips = new[]
        {
            (w[7].Id, FleProgramSkipReason.Rejected), (w[10].Id, FleProgramSkipReason.Rejected), (w[11].Id, FleProgramSkipReason.Rejected),
            (w[12].Id, FleProgramSkipReason.ParentNotImported),
        };
        Assert.Equal(expectedSkips, r.SkippedRows.Select(x => (x.RowId, x.Reason)).Order());
        Assert.Equal(expectedSkips, whatIf.SkippedRows.Select(x => (x.RowId, x.Reason)).Order());
        Assert.Equal((r.Trajectories, r.Forks, r.Steps, r.Bytes), (whatIf.Trajectories, whatIf.Forks, whatIf.Steps, whatIf.Bytes));
        Assert.Contains("not imported", r.SkippedRows.Single(x => x.Reason == FleProgramSkipReason.ParentNotImported).Message, StringComparison.Ordinal);

        // A row's trajectory, the programs of its view and their step numbers (as text, to compare in tuples).
        async Task<(FleTrajectory T, string Programs, string Steps)> Of(int i)
        {
            var t = await OwnerAsync(target, w[i].Id);
            var steps = await StepsAsync(target, t.Id);
            return (t, string.Join(",", steps.Select(ProgramId)), string.Join(",", steps.Select(s => s.StepNumber)));
        }
        string Ids(params int[] i) => string.Join(",", i.Select(x => w[x].Id));
        var e0 = await Of(0);
        Assert.Equal((Ids(0, 2), "2,3", (string?)null), (e0.Programs, e0.Steps, e0.T.ParentId));
        var e3 = await Of(3);
        Assert.Equal((Ids(3), "4", (string?)null), (e3.Programs, e3.Steps, e3.T.ParentId)); // halved depth 3.5: step 4
        Assert.Equal(w[1].Id, (long)JsonNode.Parse((await StepsAsync(target, e3.T.Id))[0].MetadataJson)!["parent_id"]!); // FLE's parent_id is kept
        var e5 = await Of(5);
        Assert.Equal((Ids(4, 5), (string?)null), (e5.Programs, e5.T.ParentId));
        Assert.Equal(w[5].Id, (long)JsonNode.Parse((await StepsAsync(target, e5.T.Id))[0].MetadataJson)!["parent_id"]!);
        var e7 = await Of(6);
        Assert.Equal((Ids(6), (string?)null), (e7.Programs, e7.T.ParentId));
        var e9 = await Of(8);
        Assert.Equal((Ids(8), "3"), (e9.Programs, e9.Steps)); // e8's step 2 was refused
        Assert.Equal(FleProgramTableImporter.TrajectoryId("12|null|-1", w[7].Id, e9.T.StartTime), e9.T.Id); // named after its first row, e8
        var e10 = await Of(9);
        Assert.Equal((e9.T.Id, 2L, Ids(9), "3"), (e10.T.ParentId, e10.T.ForkStepNumber, e10.Programs, e10.Steps)); // forked at the free step

        var again = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0, 0L, 8L), (again.Trajectories, again.TrajectoriesUpdated, again.Steps, again.AlreadyImported));
        Assert.Equal(expectedSkips, again.SkippedRows.Select(x => (x.RowId, x.Reason)).Order());

        // Declining a trajectory (-Confirm) declines its forks, without asking for them.
        await using (var other = await source.NewTargetAsync(backend, "declined", MaxState))
        {
            var asked = new List<FleProgramRun>();
            var d = await FleProgramTableImporter.ImportAsync(other, source.Options(run =>
            {
                asked.Add(run);
                return run.TrajectoryId == e9.T.Id ? FleImportDecision.Decline : FleImportDecision.Import;
            }));
            Assert.Equal((4, 0, 3L), (d.Trajectories, d.Forks, d.DeclinedRows)); // e8, e9 and the fork's e10
            Assert.DoesNotContain(asked, a => a.TrajectoryId == e10.T.Id);
            Assert.DoesNotContain(await other.GetAllTrajectoriesAsync(), t => t.Id == e9.T.Id || t.Id == e10.T.Id);
        }

        // e0's trajectory is continued in Fle; FLE then writes a child of its last row (which would continue it: reported,
        // the trajectory is left as it is) and a second child of e0 (a new fork of it at e0's step).
        await target.SaveCheckpointAsync(new FleStepInput { TrajectoryId = e0.T.Id, StepNumber = 4, AgentCode = "print('fle')", GameState = "{}"u8.ToArray() });
        var more = await source.WriteAsync(S(12, 7, "print('e14')", 14, parentId: w[2].Id), S(12, 5, "print('e15')", 15, parentId: w[0].Id));
        var last = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((1, 1, 1L), (last.Trajectories, last.Forks, last.Steps));
        Assert.Equal(FleProgramSkipReason.StepConflict, last.SkippedRows.Single(x => x.RowId == more[0].Id).Reason);
        var e15 = await OwnerAsync(target, more[1].Id);
        Assert.Equal((e0.T.Id, 2L), (e15.ParentId, e15.ForkStepNumber));
        Assert.Equal(new[] { "print('e0')", "print('e15')" }, (await StepsAsync(target, e15.Id)).Select(s => s.AgentCode));
        Assert.Equal(new[] { "print('e0')", "print('e2')", "print('fle')" }, (await StepsAsync(target, e0.T.Id)).Select(s => s.AgentCode));
    }

    /// <summary>
    /// Every row is stored once, in one trajectory; reading that trajectory up to the row's step gives the row's history as
    /// FLE records it: its parent_id chain to the root (search), or the run's rows before it (trajectory runner); a fork's
    /// first step's parent is the row at its fork step in its parent.
    /// </summary>
    private static async Task VerifyTreeAsync(FleStore target, List<FleWrittenRow> rows)
    {
        var all = await target.GetAllTrajectoriesAsync();
        var stored = new List<long>();
        foreach (var t in all)
        {
            var view = await StepsAsync(target, t.Id);
            var own = view.Where(s => s.StoredIn == t.Id).ToList();
            Assert.NotEmpty(own);
            stored.AddRange(own.Select(ProgramId));
            Assert.Equal(view.Select(s => s.StepNumber).Order(), view.Select(s => s.StepNumber));
            if (t.ParentId is null)
            {
                Assert.All(view, s => Assert.Equal(t.Id, s.StoredIn));
                continue;
            }
            Assert.All(own, s => Assert.True(s.StepNumber > t.ForkStepNumber));
            var parentView = await StepsAsync(target, t.ParentId);
            Assert.Equal(parentView.Where(s => s.StepNumber <= t.ForkStepNumber).Select(ProgramId), view.Where(s => s.StepNumber <= t.ForkStepNumber).Select(ProgramId));
            var forkedAfter = (long)JsonNode.Parse(own[0].MetadataJson)!["parent_id"]!;
            Assert.Equal(forkedAfter, ProgramId(parentView.Single(s => s.StepNumber == t.ForkStepNumber)));
        }
        Assert.Equal(stored.Count, stored.Distinct().Count()); // no row stored twice
        Assert.Equal(rows.Select(r => r.Id).Order(), stored.Order());

        var byId = rows.ToDictionary(r => r.Id);
        foreach (var row in rows)
        {
            var history = new List<long>();
            if (row.ParentId is null && JsonNode.Parse(row.Meta)!["process_id"] is not null)
                history.AddRange(rows.Where(r => r.Id <= row.Id && r.Meta == row.Meta).Select(r => r.Id)); // one runner run here
            else
                for (long? p = row.Id; p is { } id; p = byId[id].ParentId) history.Insert(0, id);
            var owner = await OwnerAsync(target, row.Id);
            var view = await StepsAsync(target, owner.Id);
            var at = view.Single(s => ProgramId(s) == row.Id).StepNumber;
            Assert.Equal(history, view.Where(s => s.StepNumber <= at).Select(ProgramId));
        }
    }

    private static long ProgramId(FleStep s) => (long)JsonNode.Parse(s.MetadataJson)!["program_id"]!;

    private static Task<List<FleStep>> StepsAsync(FleStore target, string id) => FleStore.ToListAsync(target.GetStepsAsync(id));

    /// <summary>The trajectory that stores a row.</summary>
    private static async Task<FleTrajectory> OwnerAsync(FleStore target, long programId)
    {
        foreach (var t in await target.GetAllTrajectoriesAsync())
            // a step saved in Fle (not imported) has no program_id
            if ((await StepsAsync(target, t.Id)).Any(s => s.StoredIn == t.Id && (long?)JsonNode.Parse(s.MetadataJson)!["program_id"] == programId)) return t;
        throw new InvalidOperationException($"No trajectory stores program {programId}.");
    }
}
