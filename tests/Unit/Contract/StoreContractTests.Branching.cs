using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

/// <summary>Trajectories that branch: forks read through their ancestors, resume from any step, the tree, best nodes.</summary>
public abstract partial class StoreContractTests
{
    /// <summary>A root of <paramref name="steps"/> checkpoints (world <paramref name="world"/>), each with metadata score = <paramref name="score"/>(step).</summary>
    private async Task<FleTrajectory> TreeRootAsync(int steps, int world = 7, Func<long, string?>? score = null, string task = "tree-task")
    {
        var t = await NewTrajectoryAsync(task, metadataJson: """{"model":"m1"}""");
        for (var i = 0; i < steps; i++)
            await Store.SaveCheckpointAsync(new FleStepInput
            {
                TrajectoryId = t.Id, StepNumber = i, AgentCode = $"print({i})", EnvironmentFeedback = $"ok {i}",
                GameState = GameState(world, i, 8_000), MetadataJson = score?.Invoke(i),
            });
        return t;
    }

    private Task<FleCheckpoint> ForkCheckpointAsync(string id, long step, int world, int tick, string? meta = null)
        => Store.SaveCheckpointAsync(new FleStepInput
        {
            TrajectoryId = id, StepNumber = step, AgentCode = $"fork({step})", EnvironmentFeedback = $"fork ok {step}",
            GameState = GameState(world, tick, 8_000), MetadataJson = meta,
        });

    [ContractFact]
    public async Task A_fork_reads_its_parents_steps_through_it_and_costs_a_row()
    {
        var root = await TreeRootAsync(10);
        var rowsBefore = (await Db.CountAsync("SELECT COUNT(*) FROM steps"), await Db.CountAsync("SELECT COUNT(*) FROM game_states"),
            await Db.CountAsync("SELECT COUNT(*) FROM state_dictionaries"));

        var fork = await Store.CreateForkAsync(root.Id, 4);
        Assert.Equal(root.Id, fork.ParentId);
        Assert.Equal(4, fork.ForkStepNumber);
        Assert.Equal(root.TaskId, fork.TaskId);                  // task and metadata default to the parent's
        Assert.Equal("m1", fork.Metadata["model"]);
        Assert.Equal(FleTrajectoryStatus.Running, fork.Status);
        Assert.Equal(rowsBefore, (await Db.CountAsync("SELECT COUNT(*) FROM steps"), await Db.CountAsync("SELECT COUNT(*) FROM game_states"),
            await Db.CountAsync("SELECT COUNT(*) FROM state_dictionaries")));
        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM trajectories WHERE parent_id = @p AND fork_step_number = 4", ("@p", root.Id)));

        // read through: steps 0..4 are the parent's, under the fork's id, each saying where it is stored
        var steps = await Store.GetStepsAsync(fork.Id, FleStepRange.All, includeGameState: true).ToListAsync();
        Assert.Equal([0, 1, 2, 3, 4], steps.Select(s => s.StepNumber));
        Assert.All(steps, s => Assert.Equal(fork.Id, s.TrajectoryId));
        Assert.All(steps, s => Assert.Equal(root.Id, s.StoredIn));
        for (var i = 0; i < 5; i++) SameBytes(GameState(7, i, 8_000), steps[i].GameState, $"inherited step {i}");
        Assert.Equal(5, await Store.CountStepsAsync(fork.Id));
        var listed = (await Store.GetTrajectoryAsync(fork.Id))!;
        Assert.Equal(5, listed.StepCount);
        Assert.Equal(4, listed.LastStepNumber);

        // the latest checkpoint of a fork without steps of its own is its parent's at the fork point, not the parent's latest
        var latest = (await Store.GetLatestCheckpointAsync(fork.Id))!;
        Assert.Equal(4, latest.StepNumber);
        Assert.Equal(5, latest.NextStepNumber);
        Assert.Equal(fork.Id, latest.TrajectoryId);
        SameBytes(GameState(7, 4, 8_000), latest.GameState, "latest of a fresh fork");
        Assert.Null(await Store.GetCheckpointAsync(fork.Id, 7));  // the parent's later steps are not the fork's

        // its own steps follow; the parent's own steps are untouched
        await ForkCheckpointAsync(fork.Id, 5, 8, 5);
        await ForkCheckpointAsync(fork.Id, 6, 8, 6);
        steps = await Store.GetStepsAsync(fork.Id, FleStepRange.All, includeGameState: true).ToListAsync();
        Assert.Equal([0, 1, 2, 3, 4, 5, 6], steps.Select(s => s.StepNumber));
        Assert.Equal([root.Id, root.Id, root.Id, root.Id, root.Id, fork.Id, fork.Id], steps.Select(s => s.StoredIn));
        SameBytes(GameState(8, 6, 8_000), (await Store.GetLatestCheckpointAsync(fork.Id))!.GameState, "the fork's own latest");
        SameBytes(GameState(8, 5, 8_000), (await Store.GetCheckpointAsync(fork.Id, 5))!.GameState, "the fork's own step");
        Assert.Equal("fork(5)", steps[5].AgentCode);
        Assert.Equal(10, await Store.CountStepsAsync(root.Id));
        SameBytes(GameState(7, 9, 8_000), (await Store.GetLatestCheckpointAsync(root.Id))!.GameState, "the parent's latest");
        Assert.Equal([3, 4, 5], (await Store.GetStepsAsync(fork.Id, new FleStepRange(3, 5)).ToListAsync()).Select(s => s.StepNumber));
        Assert.Equal(7, (await Store.GetTrajectoryAsync(fork.Id))!.StepCount);

        // a cold store (another process) reads the same
        var cold = await OpenStoreAsync();
        SameBytes(GameState(8, 6, 8_000), (await cold.GetLatestCheckpointAsync(fork.Id))!.GameState, "cold latest");
        SameBytes(GameState(7, 2, 8_000), (await cold.GetCheckpointAsync(fork.Id, 2))!.GameState, "cold inherited");
    }

    [ContractFact]
    public async Task A_fork_of_a_fork_reads_through_every_ancestor_and_the_fork_point_is_checked()
    {
        var root = await TreeRootAsync(10);
        var a = await Store.CreateForkAsync(root.Id, 6, taskId: "other-task", metadataJson: """{"branch":"a"}""");
        Assert.Equal("other-task", a.TaskId);
        Assert.Equal("a", a.Metadata["branch"]);
        for (var i = 7; i <= 9; i++) await ForkCheckpointAsync(a.Id, i, 9, i);

        // forked at a step a inherits (3) and at one it stores (8)
        var b = await Store.CreateForkAsync(a.Id, 3);
        var c = await Store.CreateForkAsync(a.Id, 8);
        await ForkCheckpointAsync(c.Id, 9, 10, 9);
        var cSteps = await Store.GetStepsAsync(c.Id, FleStepRange.All, includeGameState: true).ToListAsync();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), cSteps.Select(s => s.StepNumber));
        Assert.Equal([.. Enumerable.Repeat(root.Id, 7), a.Id, a.Id, c.Id], cSteps.Select(s => s.StoredIn));
        SameBytes(GameState(9, 8, 8_000), cSteps[8].GameState, "the middle trajectory's step");
        SameBytes(GameState(7, 6, 8_000), cSteps[6].GameState, "the root's step");
        Assert.Equal([0, 1, 2, 3], (await Store.GetStepsAsync(b.Id).ToListAsync()).Select(s => s.StepNumber));
        Assert.All(await Store.GetStepsAsync(b.Id).ToListAsync(), s => Assert.Equal(root.Id, s.StoredIn));
        SameBytes(GameState(7, 3, 8_000), (await Store.GetLatestCheckpointAsync(b.Id))!.GameState, "b's latest is the root's step 3");
        // the same from a store that has not seen the lineage (the latest is read source by source there, in one query here)
        var cold = await OpenStoreAsync();
        SameBytes(GameState(7, 3, 8_000), (await cold.GetLatestCheckpointAsync(b.Id))!.GameState, "b's latest, cold");
        Assert.Equal((9L, c.Id), ((await cold.GetLatestCheckpointAsync(c.Id))!.StepNumber, (await cold.GetLatestCheckpointAsync(c.Id))!.StoredIn));

        // forking at a step the parent does not have, at a negative step, or of nothing
        var e = await ThrowsFle(FleErrorIds.StepNotFound, () => Store.CreateForkAsync(root.Id, 10));
        Assert.Contains("10", e.Message);
        await ThrowsFle(FleErrorIds.StepNotFound, () => Store.CreateForkAsync(b.Id, 4)); // b stops at 3: a's 4.. are not b's
        await ThrowsFle(FleErrorIds.InvalidStepNumber, () => Store.CreateForkAsync(root.Id, -1));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.CreateForkAsync("no-such-trajectory", 0));
        Assert.Equal(4, await Db.CountAsync("SELECT COUNT(*) FROM trajectories"));

        // ancestors, root first
        Assert.Equal([root.Id, a.Id, c.Id], (await Store.GetAncestryAsync(c.Id)).Select(t => t.Id));
        Assert.Equal([root.Id], (await Store.GetAncestryAsync(root.Id)).Select(t => t.Id));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetAncestryAsync("no-such-trajectory"));

        // a fork whose own step has no state: its latest checkpoint is still inherited, from the one query as from the cold path
        await Store.SaveStepAsync(new FleStepInput { TrajectoryId = b.Id, StepNumber = 4, AgentCode = "plain" });
        Assert.Equal((3L, root.Id), ((await Store.GetLatestCheckpointAsync(b.Id))!.StepNumber, (await Store.GetLatestCheckpointAsync(b.Id))!.StoredIn));
        Assert.Equal((3L, root.Id), ((await cold.GetLatestCheckpointAsync(b.Id))!.StepNumber, (await cold.GetLatestCheckpointAsync(b.Id))!.StoredIn));
    }

    [ContractFact]
    public async Task Saving_an_inherited_step_number_into_a_fork_is_StepInherited_and_writes_nothing()
    {
        var root = await TreeRootAsync(6);
        var fork = await Store.CreateForkAsync(root.Id, 3);
        foreach (var n in new long[] { 0, 3 })
        {
            var e = await ThrowsFle(FleErrorIds.StepInherited, () => ForkCheckpointAsync(fork.Id, n, 8, 1));
            Assert.Contains("4", e.Message); // says which step to save instead
            await ThrowsFle(FleErrorIds.StepInherited, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = fork.Id, StepNumber = n, Overwrite = true }));
        }
        Assert.Equal(0, await CountRowsAsync("steps", fork.Id));
        SameBytes(GameState(7, 3, 8_000), (await Store.GetCheckpointAsync(fork.Id, 3))!.GameState, "inherited step 3 unchanged");
        await ForkCheckpointAsync(fork.Id, 4, 8, 4);
        Assert.Equal(1, await CountRowsAsync("steps", fork.Id));
        // a cold store (another process) knows too
        var cold = await OpenStoreAsync();
        await ThrowsFle(FleErrorIds.StepInherited, () => cold.SaveStepAsync(new FleStepInput { TrajectoryId = fork.Id, StepNumber = 1 }));
    }

    [ContractFact]
    public async Task Resume_from_a_step_forks_or_discards_or_refuses_when_later_steps_exist()
    {
        var root = await TreeRootAsync(10);
        await Store.CompleteTrajectoryAsync(root.Id, FleTrajectoryStatus.Failed);

        // -Fork: a fork at the step, its checkpoint there; the parent keeps everything
        var (fork, cp) = await Store.ResumeFromStepAsync(root.Id, 4, FleResumeMode.Fork);
        Assert.Equal(root.Id, fork.ParentId);
        Assert.Equal(4, fork.ForkStepNumber);
        Assert.Equal(FleTrajectoryStatus.Running, fork.Status);
        Assert.Equal(fork.Id, cp.TrajectoryId);
        Assert.Equal(root.Id, cp.StoredIn);
        Assert.Equal(4, cp.StepNumber);
        Assert.Equal(5, cp.NextStepNumber);
        SameBytes(GameState(7, 4, 8_000), cp.GameState, "resumed fork state");
        Assert.Equal(10, await Store.CountStepsAsync(root.Id));
        Assert.Equal(FleTrajectoryStatus.Failed, (await Store.GetTrajectoryAsync(root.Id))!.Status);

        // strict: later steps exist
        var e = await ThrowsFle(FleErrorIds.LaterStepsExist, () => Store.ResumeFromStepAsync(root.Id, 4, FleResumeMode.Strict));
        Assert.Contains("5", e.Message);
        Assert.Equal(10, await Store.CountStepsAsync(root.Id));
        // strict at the last step is a plain resume
        var (same, last) = await Store.ResumeFromStepAsync(root.Id, 9, FleResumeMode.Strict);
        Assert.Equal(FleTrajectoryStatus.Running, same.Status);
        Assert.Equal(10, last.NextStepNumber);

        // discard: refused while a fork reads steps after the point through the trajectory
        var child = await Store.CreateForkAsync(root.Id, 7);
        await ThrowsFle(FleErrorIds.TrajectoryHasForks, () => Store.ResumeFromStepAsync(root.Id, 6, FleResumeMode.DiscardLaterSteps));
        Assert.Equal(10, await Store.CountStepsAsync(root.Id));
        await Store.DeleteTrajectoryAsync(child.Id);
        // now it deletes steps 7..9 with their states, in one go; the fork at 4 is not affected
        var (again, at6) = await Store.ResumeFromStepAsync(root.Id, 6, FleResumeMode.DiscardLaterSteps);
        Assert.Equal(7, at6.NextStepNumber);
        Assert.Equal(7, await Store.CountStepsAsync(root.Id));
        Assert.Equal(7, await CountRowsAsync("game_states", root.Id));
        Assert.Equal(6, again.LastStepNumber);
        SameBytes(GameState(7, 6, 8_000), (await Store.GetLatestCheckpointAsync(root.Id))!.GameState, "latest after discard");
        await CheckpointAsync(root.Id, 7, GameState(7, 70, 8_000));           // step 7 is free again
        SameBytes(GameState(7, 70, 8_000), (await Store.GetCheckpointAsync(root.Id, 7))!.GameState, "new step 7");
        SameBytes(GameState(7, 4, 8_000), (await Store.GetLatestCheckpointAsync(fork.Id))!.GameState, "fork unaffected");

        // a step that does not exist; a step without a game state
        await ThrowsFle(FleErrorIds.StepNotFound, () => Store.ResumeFromStepAsync(root.Id, 50, FleResumeMode.Fork));
        var bare = await NewTrajectoryAsync();
        await StepAsync(bare.Id, 0);
        await ThrowsFle(FleErrorIds.CheckpointNotFound, () => Store.ResumeFromStepAsync(bare.Id, 0, FleResumeMode.Fork));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.ResumeFromStepAsync("no-such-trajectory", 0, FleResumeMode.Fork));
        Assert.Equal(3, await Db.CountAsync("SELECT COUNT(*) FROM trajectories"));

        // a fork discards only its own steps
        await ForkCheckpointAsync(fork.Id, 5, 8, 5);
        await ForkCheckpointAsync(fork.Id, 6, 8, 6);
        await ThrowsFle(FleErrorIds.StepInherited, () => Store.ResumeFromStepAsync(fork.Id, 2, FleResumeMode.DiscardLaterSteps));
        var (_, f5) = await Store.ResumeFromStepAsync(fork.Id, 5, FleResumeMode.DiscardLaterSteps);
        Assert.Equal(6, f5.NextStepNumber);
        Assert.Equal(6, await Store.CountStepsAsync(fork.Id));
        Assert.Equal(8, await Store.CountStepsAsync(root.Id));
    }

    [ContractFact]
    public async Task The_tree_lists_forks_and_subtrees_and_removal_keeps_forks_safe()
    {
        var root = await TreeRootAsync(5);
        var a = await Store.CreateForkAsync(root.Id, 2);
        var b = await Store.CreateForkAsync(root.Id, 3);
        await ForkCheckpointAsync(a.Id, 3, 8, 3);
        var aa = await Store.CreateForkAsync(a.Id, 3);
        var other = await TreeRootAsync(2);

        Assert.Equal(new[] { a.Id, b.Id }.Order(), (await Store.ListTrajectoriesAsync(new FleTrajectoryQuery { ParentId = root.Id })).Select(t => t.Id).Order());
        Assert.Equal(new[] { a.Id, b.Id, aa.Id }.Order(),
            (await Store.ListTrajectoriesAsync(new FleTrajectoryQuery { ParentId = root.Id, Recursive = true })).Select(t => t.Id).Order());
        Assert.Equal([aa.Id], (await Store.ListTrajectoriesAsync(new FleTrajectoryQuery { ParentId = a.Id, Recursive = true })).Select(t => t.Id));
        Assert.Empty(await Store.ListTrajectoriesAsync(new FleTrajectoryQuery { ParentId = other.Id, Recursive = true }));
        var all = await Store.GetAllTrajectoriesAsync();
        Assert.Equal(5, all.Count);
        Assert.Equal(4, all.Single(t => t.Id == aa.Id).StepCount);

        // a trajectory with forks is not removed, nor is anything of it
        var e = await ThrowsFle(FleErrorIds.TrajectoryHasForks, () => Store.DeleteTrajectoryAsync(root.Id));
        Assert.Contains(root.Id, e.Message);
        await ThrowsFle(FleErrorIds.TrajectoryHasForks, () => Store.DeleteTrajectoryAsync(a.Id));
        Assert.Equal(5, await CountRowsAsync("steps", root.Id));
        Assert.Equal(5, await Db.CountAsync("SELECT COUNT(*) FROM trajectories"));

        // leaves go; then their parent
        Assert.True(await Store.DeleteTrajectoryAsync(aa.Id));
        Assert.True(await Store.DeleteTrajectoryAsync(a.Id));
        Assert.Equal(0, await CountRowsAsync("steps", a.Id));
        Assert.False(await Store.DeleteTrajectoryAsync(a.Id));

        // recurse: the subtree in one go, others untouched
        var c = await Store.CreateForkAsync(b.Id, 1);
        Assert.True(await Store.DeleteTrajectoryAsync(root.Id, recurse: true));
        Assert.Equal([other.Id], (await Store.GetAllTrajectoriesAsync()).Select(t => t.Id));
        foreach (var table in new[] { "steps", "game_states", "state_dictionaries" })
            Assert.Equal(0, await Db.CountAsync($"SELECT COUNT(*) FROM {table} WHERE trajectory_id <> @o", ("@o", other.Id)));
        Assert.Null(await Store.GetTrajectoryAsync(c.Id));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetAncestryAsync(c.Id));   // no stale lineage
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.CreateForkAsync(b.Id, 1));
    }

    [ContractFact]
    public void Forks_come_before_their_parents_when_a_list_is_removed_one_by_one()
    {
        FleTrajectory T(string id, string? parent) => new() { Id = id, TaskId = "t", ParentId = parent, ForkStepNumber = parent is null ? null : 0 };
        var list = new[] { T("root", null), T("a", "root"), T("lone", null), T("aa", "a"), T("b", "root"), T("orphan", "elsewhere") };
        var order = FleStore.ForksFirst(list).Select(t => t.Id).ToList();
        Assert.Equal(list.Length, order.Count);
        foreach (var (child, parent) in new[] { ("a", "root"), ("aa", "a"), ("b", "root") })
            Assert.True(order.IndexOf(child) < order.IndexOf(parent), $"{child} before {parent}: {string.Join(",", order)}");
    }

    [ContractFact]
    public async Task Top_steps_rank_by_a_metadata_number_in_the_database_missing_and_non_numbers_last_ties_to_the_earlier_step()
    {
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        async Task<FleTrajectory> Run(string task, params (long Step, string? Meta, int Second)[] steps)
        {
            var t = await NewTrajectoryAsync(task);
            foreach (var s in steps)
                await Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = s.Step, MetadataJson = s.Meta, Timestamp = t0.AddSeconds(s.Second) });
            return t;
        }
        var a = await Run("beam", (0, """{"score":1}""", 0), (1, """{"score":5.5}""", 1), (2, """{"score":"9"}""", 2), (3, null, 3), (4, """{"score":3}""", 4));
        var b = await Run("beam", (0, """{"score":5.5}""", 10), (1, """{"score":-2}""", 11), (2, """{"score":true}""", 12), (3, """{"score":100,"other":1}""", 13));
        await Run("elsewhere", (0, """{"score":1000}""", 20));

        string Key(FleStep s) => $"{(s.TrajectoryId == a.Id ? "a" : "b")}{s.StepNumber}";
        var best = await Store.GetTopStepsAsync("beam", null, 4, "score", descending: true).ToListAsync();
        Assert.Equal(["b3", "a1", "b0", "a4"], best.Select(Key));     // 5.5 tie: a1 was earlier than b0
        var worst = await Store.GetTopStepsAsync("beam", null, 3, "score", descending: false).ToListAsync();
        Assert.Equal(["b1", "a0", "a4"], worst.Select(Key));
        var everything = await Store.GetTopStepsAsync("beam", null, 100, "score", descending: true).ToListAsync();
        Assert.Equal(9, everything.Count);
        Assert.Equal(["a2", "a3", "b2"], everything.Skip(6).Select(Key).Order()); // "9", missing, true: last
        Assert.Empty(await Store.GetTopStepsAsync("no-such-task", null, 3, "score").ToListAsync());
        Assert.Equal(["b3"], (await Store.GetTopStepsAsync("beam", null, 1, "other").ToListAsync()).Select(Key));

        // a fork's view: its inherited steps rank with its own, under its id; the parent's later steps do not
        var fork = await Store.CreateForkAsync(b.Id, 1);
        await Store.SaveStepAsync(new FleStepInput { TrajectoryId = fork.Id, StepNumber = 2, MetadataJson = """{"score":7}""", Timestamp = t0.AddSeconds(30) });
        var view = await Store.GetTopStepsAsync(null, fork.Id, 10, "score", descending: true).ToListAsync();
        Assert.Equal([2L, 0, 1], view.Select(s => s.StepNumber));
        Assert.All(view, s => Assert.Equal(fork.Id, s.TrajectoryId));
        Assert.Equal([fork.Id, b.Id, b.Id], view.Select(s => s.StoredIn));
        // the task's ranking counts each stored step once
        var task = await Store.GetTopStepsAsync("beam", null, 100, "score", descending: true).ToListAsync();
        Assert.Equal(10, task.Count);
        Assert.Equal(fork.Id, task[1].TrajectoryId);
        // a key with characters of their own
        await Run("odd", (0, """{"a b.\"c'":2}""", 40), (1, """{"a b.\"c'":3}""", 41));
        Assert.Equal([1L, 0], (await Store.GetTopStepsAsync("odd", null, 5, "a b.\"c'", descending: true).ToListAsync()).Select(s => s.StepNumber));

        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.GetTopStepsAsync(null, null, 3, "score").ToListAsync());
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.GetTopStepsAsync("beam", null, 0, "score").ToListAsync());
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetTopStepsAsync(null, "no-such-trajectory", 3, "score").ToListAsync());
    }

    [ContractFact]
    public async Task A_forks_own_states_compress_against_the_lineage_and_decode_from_a_bounded_number_of_rows()
    {
        var root = await TreeRootAsync(30);
        var fork = await Store.CreateForkAsync(root.Id, 20);
        for (var i = 21; i < 31; i++) await ForkCheckpointAsync(fork.Id, i, 7, i + 1); // siblings: near-identical to the parent's
        // what a trajectory's states cost: its rows and its keyframes
        async Task<double> BytesPerStep(string id)
            => (await Db.CountAsync("SELECT COALESCE(SUM(LENGTH(state_data)), 0) FROM game_states WHERE trajectory_id = @t", ("@t", id))
                + await Db.CountAsync("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM state_dictionaries WHERE trajectory_id = @t", ("@t", id)))
               / (double)await CountRowsAsync("game_states", id);
        var parentBps = await BytesPerStep(root.Id);
        var forkBps = await BytesPerStep(fork.Id);
        Assert.True(forkBps <= parentBps, $"a fork's own steps cost {forkBps:N0} bytes each, the parent's {parentBps:N0}");
        // and as little as the parent's own late steps (deltas of the same keyframe), not a keyframe of their own
        var parentLate = await Db.CountAsync("SELECT SUM(LENGTH(state_data)) FROM game_states WHERE trajectory_id = @t AND step_number >= 20", ("@t", root.Id)) / 10.0;
        Assert.True(forkBps <= parentLate * 1.5, $"a fork's own steps cost {forkBps:N0} bytes each, the parent's steps 20-29 {parentLate:N0}");
        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM state_dictionaries WHERE trajectory_id = @t", ("@t", fork.Id)));
        // each state refers to at most one keyframe row, which exists
        Assert.Equal(0, await Db.CountAsync(
            "SELECT COUNT(*) FROM game_states g WHERE g.dictionary_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_dictionaries d WHERE d.id = g.dictionary_id)"));
        var cold = await OpenStoreAsync();
        for (var i = 21; i < 31; i++) SameBytes(GameState(7, i + 1, 8_000), (await cold.GetCheckpointAsync(fork.Id, i))!.GameState, $"fork step {i}");
    }

    [ContractFact]
    public async Task A_restore_forgets_the_lineage_it_knew()
    {
        var root = await TreeRootAsync(3);
        var backup = await Store.BackupAsync(Path.Combine(Db.Folder, "before-fork" + (Backend == FleBackend.Sqlite ? ".db" : ".sql")));
        var fork = await Store.CreateForkAsync(root.Id, 1);        // known to this store as a fork
        await ThrowsFle(FleErrorIds.StepInherited, () => StepAsync(fork.Id, 0));
        await Store.RestoreAsync(backup.Path);                     // the fork is gone
        Assert.Null(await Store.GetTrajectoryAsync(fork.Id));
        await NewTrajectoryAsync("reused", fork.Id);               // the same id, now a root
        await StepAsync(fork.Id, 0);
        Assert.Equal(fork.Id, (await Store.GetStepsAsync(fork.Id).ToListAsync()).Single().StoredIn);
        Assert.Equal([fork.Id], (await Store.GetAncestryAsync(fork.Id)).Select(t => t.Id));
    }
}
