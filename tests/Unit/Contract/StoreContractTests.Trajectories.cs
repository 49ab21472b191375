using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    private static readonly Regex UuidV7 = new("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

    [ContractFact]
    public async Task Create_assigns_a_uuidv7_id_and_a_running_status_that_Get_reads_back()
    {
        var before = FleClock.UtcNow();
        var t = await Store.CreateTrajectoryAsync("iron_plate_throughput");
        var after = FleClock.UtcNow();

        Assert.Matches(UuidV7, t.Id);
        Assert.Equal("iron_plate_throughput", t.TaskId);
        Assert.Equal(FleTrajectoryStatus.Running, t.Status);
        Assert.Null(t.EndTime);
        Assert.Equal(0, t.StepCount);
        Assert.Null(t.LastStepNumber);
        Assert.Equal("{}", t.MetadataJson);
        Assert.InRange(t.StartTime, before, after);

        var read = await Store.GetTrajectoryAsync(t.Id);
        Assert.NotNull(read);
        Assert.Equal(t.Id, read.Id);
        Assert.Equal(t.TaskId, read.TaskId);
        Assert.Equal(FleTrajectoryStatus.Running, read.Status);
        Assert.Equal(t.StartTime, read.StartTime);
        Assert.Equal(DateTimeKind.Utc, read.StartTime.Kind);
        Assert.Null(read.EndTime);
        Assert.Equal(0, read.StepCount);
        Assert.Null(read.LastStepNumber);
        Assert.Empty(read.Metadata);

        // ids created one after another sort by creation time
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add((await Store.CreateTrajectoryAsync("t")).Id);
        Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
        Assert.Equal(5, ids.Distinct().Count());
    }

    [ContractFact]
    public async Task Create_with_a_caller_given_id_uses_it_in_both_overloads()
    {
        var a = await Store.CreateTrajectoryAsync("task", new Dictionary<string, object?> { ["k"] = 1 }, "run-2024/a.b:c");
        Assert.Equal("run-2024/a.b:c", a.Id);
        var b = await Store.CreateTrajectoryAsync("task", """{"k":2}""", "Run-ÄÖ-模型-🚀", null);
        Assert.Equal("Run-ÄÖ-模型-🚀", b.Id);

        Assert.Equal(1L, (await Store.GetTrajectoryAsync("run-2024/a.b:c"))!.Metadata["k"]);
        Assert.Equal(2L, (await Store.GetTrajectoryAsync("Run-ÄÖ-模型-🚀"))!.Metadata["k"]);
        // ids are case-sensitive
        Assert.Null(await Store.GetTrajectoryAsync("RUN-2024/A.B:C"));
        Assert.True(await Store.TrajectoryExistsAsync("Run-ÄÖ-模型-🚀"));
    }

    [ContractFact]
    public async Task Metadata_round_trips_nested_values_and_unicode()
    {
        var meta = new Dictionary<string, object?>
        {
            ["model"] = "claude-3.5-sonnet",
            ["version"] = 17L,
            ["temperature"] = 0.5,
            ["seeded"] = true,
            ["note"] = null,
            ["说明"] = "ünïcödé ✓ 🚀 \"quoted\" back\\slash\nnew line\ttab",
            ["sweep"] = new Dictionary<string, object?> { ["id"] = "s-1", ["params"] = new Dictionary<string, object?> { ["lr"] = 0.25, ["tags"] = new object?[] { "a", 2L, false, null } } },
            ["list"] = new object?[] { 1L, "two", new Dictionary<string, object?> { ["three"] = 3L } },
        };
        var t = await Store.CreateTrajectoryAsync("task", meta);
        var read = (await Store.GetTrajectoryAsync(t.Id))!;

        // the JSON document is the same (PostgreSQL jsonb may reorder keys, so compare as JSON)
        var expected = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(meta));
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(read.MetadataJson)), $"metadata changed: {read.MetadataJson}");
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(t.MetadataJson)), $"returned metadata differs: {t.MetadataJson}");

        // and as a case-insensitive dictionary of plain values
        Assert.Equal("claude-3.5-sonnet", read.Metadata["MODEL"]);
        Assert.Equal(17L, read.Metadata["version"]);
        Assert.Equal(0.5, read.Metadata["temperature"]);
        Assert.Equal(true, read.Metadata["seeded"]);
        Assert.True(read.Metadata.ContainsKey("note"));
        Assert.Null(read.Metadata["note"]);
        Assert.Equal("ünïcödé ✓ 🚀 \"quoted\" back\\slash\nnew line\ttab", read.Metadata["说明"]);
        var sweep = Assert.IsAssignableFrom<IDictionary<string, object?>>(read.Metadata["sweep"]);
        var p = Assert.IsAssignableFrom<IDictionary<string, object?>>(sweep["PARAMS"]);
        Assert.Equal(0.25, p["lr"]);
        Assert.Equal(new object?[] { "a", 2L, false, null }, Assert.IsType<object?[]>(p["tags"]));
        var list = Assert.IsType<object?[]>(read.Metadata["list"]);
        Assert.Equal(3L, Assert.IsAssignableFrom<IDictionary<string, object?>>(list[2])["three"]);
    }

    [ContractFact]
    public async Task Metadata_given_as_json_text_is_stored_compact_and_null_or_empty_means_an_empty_object()
    {
        var t = await Store.CreateTrajectoryAsync("task", "  { \"a\" : [1, 2, {\"b\": \"ü\"}] }  ", null, null);
        Assert.Equal("""{"a":[1,2,{"b":"ü"}]}""", t.MetadataJson);
        var read = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(t.MetadataJson), JsonNode.Parse(read.MetadataJson)));

        foreach (var empty in new[] { null, "", "   " })
        {
            var e = await Store.CreateTrajectoryAsync("task", empty, null, null);
            Assert.Equal("{}", e.MetadataJson);
            Assert.Equal("{}", (await Store.GetTrajectoryAsync(e.Id))!.MetadataJson);
        }
        var n = await Store.CreateTrajectoryAsync("task", (IEnumerable<KeyValuePair<string, object?>>?)null);
        Assert.Equal("{}", (await Store.GetTrajectoryAsync(n.Id))!.MetadataJson);
    }

    [ContractFact]
    public async Task Get_returns_null_for_an_unknown_id_and_Exists_tells_the_truth()
    {
        Assert.Null(await Store.GetTrajectoryAsync("no-such-trajectory"));
        Assert.False(await Store.TrajectoryExistsAsync("no-such-trajectory"));
        var t = await NewTrajectoryAsync();
        Assert.True(await Store.TrajectoryExistsAsync(t.Id));
        Assert.False(await Store.TrajectoryExistsAsync(t.Id.ToUpperInvariant()));
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.GetTrajectoryAsync(""));
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.TrajectoryExistsAsync(" "));
    }

    [ContractFact]
    public async Task GetAll_lists_every_trajectory_newest_first()
    {
        Assert.Empty(await Store.GetAllTrajectoriesAsync());
        var t0 = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        var ids = new List<string>();
        foreach (var (i, task) in new[] { (2, "b"), (0, "a"), (4, "a"), (1, "c"), (3, "b") })
            ids.Add((await NewTrajectoryAsync(task, $"traj-{i}", t0.AddMinutes(i))).Id);

        var all = await Store.GetAllTrajectoriesAsync();
        Assert.Equal(["traj-4", "traj-3", "traj-2", "traj-1", "traj-0"], all.Select(t => t.Id));
        Assert.All(all, t => Assert.Equal(FleTrajectoryStatus.Running, t.Status));
    }

    [ContractFact]
    public async Task GetTaskTrajectories_returns_only_that_task_newest_first()
    {
        var t0 = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        await NewTrajectoryAsync("craft", "c1", t0);
        await NewTrajectoryAsync("smelt", "s1", t0.AddSeconds(1));
        await NewTrajectoryAsync("craft", "c2", t0.AddSeconds(2));
        await NewTrajectoryAsync("craft_x", "cx", t0.AddSeconds(3));
        await NewTrajectoryAsync("CRAFT", "C3", t0.AddSeconds(4));

        Assert.Equal(["c2", "c1"], (await Store.GetTaskTrajectoriesAsync("craft")).Select(t => t.Id));
        Assert.Equal(["s1"], (await Store.GetTaskTrajectoriesAsync("smelt")).Select(t => t.Id));
        Assert.Empty(await Store.GetTaskTrajectoriesAsync("unknown-task"));
    }

    [ContractFact]
    public async Task Query_filters_by_task_status_times_and_limits_newest_first()
    {
        var t0 = new DateTime(2024, 5, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < 6; i++)
            await NewTrajectoryAsync(i % 2 == 0 ? "even" : "odd", $"q{i}", t0.AddHours(i));
        await Store.CompleteTrajectoryAsync("q0");
        await Store.CompleteTrajectoryAsync("q1", FleTrajectoryStatus.Failed);
        await Store.CompleteTrajectoryAsync("q2");

        async Task<string[]> Q(FleTrajectoryQuery q) => [.. (await Store.QueryTrajectoriesAsync(q).ToListAsync()).Select(t => t.Id)];

        Assert.Equal(["q5", "q4", "q3", "q2", "q1", "q0"], await Q(new FleTrajectoryQuery()));
        Assert.Equal(["q4", "q2", "q0"], await Q(new FleTrajectoryQuery { TaskId = "even" }));
        Assert.Equal(["q2", "q0"], await Q(new FleTrajectoryQuery { Status = FleTrajectoryStatus.Completed }));
        Assert.Equal(["q1"], await Q(new FleTrajectoryQuery { Status = FleTrajectoryStatus.Failed }));
        Assert.Equal(["q5", "q4", "q3"], await Q(new FleTrajectoryQuery { Status = FleTrajectoryStatus.Running }));
        Assert.Equal(["q2"], await Q(new FleTrajectoryQuery { TaskId = "even", Status = FleTrajectoryStatus.Completed, After = t0.AddHours(1) }));

        // After is inclusive, Before is exclusive
        Assert.Equal(["q5", "q4", "q3"], await Q(new FleTrajectoryQuery { After = t0.AddHours(3) }));
        Assert.Equal(["q2", "q1", "q0"], await Q(new FleTrajectoryQuery { Before = t0.AddHours(3) }));
        Assert.Equal(["q3", "q2"], await Q(new FleTrajectoryQuery { After = t0.AddHours(2), Before = t0.AddHours(4) }));
        Assert.Equal(["q3", "q2", "q1"], await Q(new FleTrajectoryQuery { After = t0.AddHours(1).AddTicks(-10), Before = t0.AddHours(3).AddTicks(10) }));

        // EndedBefore: only finished trajectories that ended before the time
        var now = DateTime.UtcNow;
        Assert.Equal(["q2", "q1", "q0"], await Q(new FleTrajectoryQuery { EndedBefore = now.AddMinutes(5) }));
        Assert.Empty(await Q(new FleTrajectoryQuery { EndedBefore = now.AddHours(-1) }));

        // First: the newest N
        Assert.Equal(["q5", "q4"], await Q(new FleTrajectoryQuery { First = 2 }));
        Assert.Equal(["q4"], await Q(new FleTrajectoryQuery { TaskId = "even", First = 1 }));
        Assert.Empty(await Q(new FleTrajectoryQuery { First = 0 }));

        // Ids
        Assert.Equal(["q4", "q1"], await Q(new FleTrajectoryQuery { Ids = ["q1", "q4", "nope"] }));
        Assert.Empty(await Q(new FleTrajectoryQuery { Ids = [] }));

        // step counts come with the rows
        await StepAsync("q3", 0);
        await StepAsync("q3", 7);
        var q3 = (await Store.QueryTrajectoriesAsync(new FleTrajectoryQuery { Ids = ["q3"] }).ToListAsync()).Single();
        Assert.Equal(2, q3.StepCount);
        Assert.Equal(7, q3.LastStepNumber);
    }

    [ContractFact]
    public async Task Query_IdPrefix_treats_percent_underscore_and_backslash_literally_and_is_case_sensitive()
    {
        foreach (var id in new[] { "a%b-1", "axb-2", "a_c", "abc", @"a\d", "A%b-upper", "b%" })
            await NewTrajectoryAsync("task", id);

        async Task<string[]> P(string prefix)
            => [.. (await Store.QueryTrajectoriesAsync(new FleTrajectoryQuery { IdPrefix = prefix }).ToListAsync()).Select(t => t.Id).Order(StringComparer.Ordinal)];

        Assert.Equal(["a%b-1"], await P("a%"));
        Assert.Equal(["a_c"], await P("a_"));
        Assert.Equal([@"a\d"], await P(@"a\"));
        Assert.Equal(["a%b-1", @"a\d", "a_c", "abc", "axb-2"], await P("a"));
        Assert.Equal(["A%b-upper"], await P("A"));
        Assert.Empty(await P("a%b-1x"));
        Assert.Equal(7, (await P("")).Length);
    }

    [ContractFact]
    public async Task GetTaskIds_returns_distinct_sorted_task_ids_by_literal_prefix_with_a_limit()
    {
        foreach (var (task, i) in new[] { "craft_iron", "craft_iron", "craftXiron", "craft%copper", "smelt", "Craft_upper", "craft_gear" }.Select((t, i) => (t, i)))
            await NewTrajectoryAsync(task, $"t{i}");

        // (the order of mixed case and punctuation depends on a PostgreSQL server's collation: compare those as sets)
        Assert.Equal(["Craft_upper", "craft%copper", "craftXiron", "craft_gear", "craft_iron", "smelt"],
            (await Store.GetTaskIdsAsync(null)).Order(StringComparer.Ordinal));
        Assert.Equal(["craft_gear", "craft_iron"], await Store.GetTaskIdsAsync("craft_"));
        Assert.Equal(["craft_gear"], await Store.GetTaskIdsAsync("craft_", limit: 1));
        Assert.Equal(["craft%copper"], await Store.GetTaskIdsAsync("craft%"));
        Assert.Equal(4, (await Store.GetTaskIdsAsync("craft")).Count);
        Assert.Equal(2, (await Store.GetTaskIdsAsync("craft", limit: 2)).Count);
        Assert.Empty(await Store.GetTaskIdsAsync("zzz"));
    }

    [ContractFact]
    public async Task Delete_removes_the_trajectory_with_its_steps_states_and_dictionaries()
    {
        var doomed = await NewTrajectoryAsync("task", "doomed");
        var kept = await NewTrajectoryAsync("task", "kept");
        foreach (var id in new[] { doomed.Id, kept.Id })
        {
            for (var i = 0; i < 4; i++) await CheckpointAsync(id, i, GameState(1, i, 5_000));
            await StepAsync(id, 4);
            await CheckpointAsync(id, 5, GameState(99, 5, 5_000)); // drift: a second keyframe
        }
        foreach (var table in new[] { "steps", "game_states", "state_dictionaries" })
            Assert.True(await CountRowsAsync(table, doomed.Id) > 0, $"{table} has no rows before the delete");
        var keptCounts = new[] { await CountRowsAsync("steps", kept.Id), await CountRowsAsync("game_states", kept.Id), await CountRowsAsync("state_dictionaries", kept.Id) };

        Assert.True(await Store.DeleteTrajectoryAsync(doomed.Id));

        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM trajectories WHERE id = @t", ("@t", doomed.Id)));
        foreach (var table in new[] { "steps", "game_states", "state_dictionaries" })
            Assert.Equal(0, await CountRowsAsync(table, doomed.Id));
        Assert.Equal(keptCounts, new[] { await CountRowsAsync("steps", kept.Id), await CountRowsAsync("game_states", kept.Id), await CountRowsAsync("state_dictionaries", kept.Id) });

        Assert.False(await Store.TrajectoryExistsAsync(doomed.Id));
        Assert.Null(await Store.GetTrajectoryAsync(doomed.Id));
        Assert.False(await Store.DeleteTrajectoryAsync(doomed.Id));
        Assert.False(await Store.DeleteTrajectoryAsync("never-existed"));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetStepsAsync(doomed.Id).ToListAsync());

        // the other trajectory still reads back intact
        SameBytes(GameState(99, 5, 5_000), (await Store.GetLatestCheckpointAsync(kept.Id))!.GameState, "kept latest");
        SameBytes(GameState(1, 2, 5_000), (await (await OpenStoreAsync()).GetCheckpointAsync(kept.Id, 2))!.GameState, "kept step 2, cold store");
    }

    [ContractFact]
    public async Task Delete_then_recreate_the_same_id_starts_clean_even_for_a_store_with_a_cached_keyframe()
    {
        var other = await OpenStoreAsync();
        await NewTrajectoryAsync("task", "reused");
        await CheckpointAsync("reused", 0, GameState(3, 0, 8_000));
        await CheckpointAsync("reused", 1, GameState(3, 1, 8_000), store: other); // 'other' now caches the keyframe

        Assert.True(await Store.DeleteTrajectoryAsync("reused"));
        await NewTrajectoryAsync("task", "reused");
        await CheckpointAsync("reused", 0, GameState(4, 0, 8_000));

        // 'other' still holds the keyframe of the deleted trajectory: its next write must still succeed and read back exactly
        await CheckpointAsync("reused", 1, GameState(4, 1, 8_000), store: other);
        await CheckpointAsync("reused", 2, GameState(4, 2, 8_000), store: other);

        var fresh = await OpenStoreAsync();
        Assert.Equal(3, await fresh.CountStepsAsync("reused"));
        for (var i = 0; i < 3; i++)
            SameBytes(GameState(4, i, 8_000), (await fresh.GetCheckpointAsync("reused", i))!.GameState, $"step {i}");
    }

    [ContractFact]
    public async Task A_new_keyframe_is_never_rooted_on_a_root_that_was_deleted_meanwhile()
    {
        // 'other' writes a root keyframe and a keyframe rooted on it (a state like the root plus a chunk the keyframe
        // does not have); the trajectory is deleted and recreated through another store; 'other' then needs a new
        // keyframe, which it would compress against its cached root. Its write must notice, in the same transaction,
        // that the root is gone, and plan again: every state then reads back in a fresh store.
        var other = await OpenStoreAsync();
        var root = GameState(6, 0, 20_000);
        byte[] Like(int seed) => [.. root, .. RandomBytes(4_000, seed)];
        await NewTrajectoryAsync("task", "rerooted");
        await CheckpointAsync("rerooted", 0, root, store: other);
        var k1 = await CheckpointAsync("rerooted", 1, Like(1), store: other);
        Assert.Equal("keyframe", k1.Codec);

        Assert.True(await Store.DeleteTrajectoryAsync("rerooted"));
        await NewTrajectoryAsync("task", "rerooted");
        await CheckpointAsync("rerooted", 0, GameState(6, 0, 20_000));

        var k2 = await CheckpointAsync("rerooted", 1, Like(2), store: other);
        Assert.Equal("keyframe", k2.Codec);
        await CheckpointAsync("rerooted", 2, Like(3), store: other);

        var fresh = await OpenStoreAsync();
        SameBytes(root, (await fresh.GetCheckpointAsync("rerooted", 0))!.GameState, "step 0");
        SameBytes(Like(2), (await fresh.GetCheckpointAsync("rerooted", 1))!.GameState, "step 1");
        SameBytes(Like(3), (await fresh.GetCheckpointAsync("rerooted", 2))!.GameState, "step 2");
        Assert.All(await fresh.CheckAsync(deep: true), c => Assert.True(c.Problems == 0, $"{c.Check}: {c.Message}"));
    }

    [ContractFact]
    public async Task Two_runs_that_start_from_the_same_state_each_keep_writing_against_their_own_root()
    {
        // FLE runs of one task start from the same game state, so two trajectories can have byte-identical roots. A
        // store that read one of them (its root cached by fingerprint) and then continues the other must root the
        // other's new keyframes on the other's own root, not fail and not borrow the first one's.
        var root = GameState(8, 0, 20_000);
        // A chunk of 0.7 of the root's stored size: a new keyframe each time (over half the keyframe's cost), and
        // small enough that the keyframe row is compressed against the root (saves more than a tenth).
        var chunk = (int)(0.7 * Fle.Core.Codec.Zstd.Compress(root, Fle.Core.Codec.StateCodec.KeyframeLevel).Length);
        byte[] Like(int seed) => [.. root, .. RandomBytes(chunk, seed)];
        await NewTrajectoryAsync("task", "run-a");
        await NewTrajectoryAsync("task", "run-b");
        await CheckpointAsync("run-a", 0, root);
        await CheckpointAsync("run-a", 1, Like(11));
        await CheckpointAsync("run-b", 0, root);
        Assert.Equal("keyframe", (await CheckpointAsync("run-b", 1, Like(12))).Codec); // rooted on run-b's root

        var resumed = await OpenStoreAsync();
        SameBytes(Like(11), (await resumed.GetCheckpointAsync("run-a", 1))!.GameState, "run-a step 1 (caches the shared root)");
        var cp = await CheckpointAsync("run-b", 2, Like(13), store: resumed);
        Assert.Equal("keyframe", cp.Codec);
        await CheckpointAsync("run-b", 3, Like(14), store: resumed);

        // deleting run-a must not take anything run-b needs
        Assert.True(await Store.DeleteTrajectoryAsync("run-a"));
        var fresh = await OpenStoreAsync();
        SameBytes(root, (await fresh.GetCheckpointAsync("run-b", 0))!.GameState, "run-b step 0");
        for (var i = 1; i < 4; i++)
            SameBytes(Like(11 + i), (await fresh.GetCheckpointAsync("run-b", i))!.GameState, $"run-b step {i}");
        Assert.All(await fresh.CheckAsync(deep: true), c => Assert.True(c.Problems == 0, $"{c.Check}: {c.Message}"));
    }

    [ContractFact]
    public async Task A_store_holding_a_keyframe_of_a_deleted_trajectory_does_not_apply_it_to_new_similar_states()
    {
        // the recreated trajectory's states resemble the deleted ones, so nothing looks like drift
        var other = await OpenStoreAsync();
        await NewTrajectoryAsync("task", "again");
        await CheckpointAsync("again", 0, GameState(5, 0, 8_000));
        await CheckpointAsync("again", 1, GameState(5, 1, 8_000), store: other); // 'other' caches keyframe #1

        Assert.True(await Store.DeleteTrajectoryAsync("again"));
        await NewTrajectoryAsync("task", "again");
        await CheckpointAsync("again", 0, GameState(5, 10, 8_000)); // a new keyframe row (SQLite may give it the old id)
        await CheckpointAsync("again", 1, GameState(5, 11, 8_000), store: other);
        await CheckpointAsync("again", 2, GameState(5, 12, 8_000), store: other);

        foreach (var reader in new[] { Store, other, await OpenStoreAsync() })
            for (var i = 0; i < 3; i++)
                SameBytes(GameState(5, 10 + i, 8_000), (await reader.GetCheckpointAsync("again", i))!.GameState, $"step {i}");
    }

    [ContractFact]
    public async Task A_reader_that_cached_keyframes_of_a_deleted_trajectory_reads_new_states_exactly()
    {
        var reader = await OpenStoreAsync();
        await NewTrajectoryAsync("task", "old");
        await CheckpointAsync("old", 0, GameState(6, 0, 8_000));
        await CheckpointAsync("old", 1, GameState(6, 1, 8_000));
        SameBytes(GameState(6, 1, 8_000), (await reader.GetCheckpointAsync("old", 1))!.GameState, "old step 1"); // reader caches keyframe #1
        Assert.True(await Store.DeleteTrajectoryAsync("old"));

        var writer = await OpenStoreAsync();
        await writer.CreateTrajectoryAsync("task", null, "new", null);
        await CheckpointAsync("new", 0, GameState(6, 20, 8_000), writer); // a new keyframe row (SQLite may give it the old id)
        await CheckpointAsync("new", 1, GameState(6, 21, 8_000), writer);

        SameBytes(GameState(6, 21, 8_000), (await reader.GetCheckpointAsync("new", 1))!.GameState, "new step 1 via the reader");
        SameBytes(GameState(6, 20, 8_000), (await reader.GetLatestCheckpointAsync("new") is { } l ? (await reader.GetCheckpointAsync("new", 0))!.GameState : null), "new step 0 via the reader");
        var all = await reader.GetStepsAsync("new", includeGameState: true).ToListAsync();
        SameBytes(GameState(6, 21, 8_000), all[1].GameState, "GetSteps via the reader");
    }

    [ContractFact]
    public async Task Complete_sets_status_and_end_time_and_Resume_reopens_with_the_latest_checkpoint()
    {
        var t = await NewTrajectoryAsync();
        var before = FleClock.UtcNow();
        var done = await Store.CompleteTrajectoryAsync(t.Id);
        Assert.Equal(FleTrajectoryStatus.Completed, done.Status);
        Assert.NotNull(done.EndTime);
        Assert.InRange(done.EndTime.Value, before, FleClock.UtcNow());
        Assert.Equal(DateTimeKind.Utc, done.EndTime.Value.Kind);
        var read = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.Equal(FleTrajectoryStatus.Completed, read.Status);
        Assert.Equal(done.EndTime, read.EndTime);

        var failed = await Store.CompleteTrajectoryAsync((await NewTrajectoryAsync()).Id, FleTrajectoryStatus.Failed);
        Assert.Equal(FleTrajectoryStatus.Failed, failed.Status);
        Assert.NotNull(failed.EndTime);

        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.CompleteTrajectoryAsync(t.Id, FleTrajectoryStatus.Running));
        Assert.Equal(FleTrajectoryStatus.Completed, (await Store.GetTrajectoryAsync(t.Id))!.Status);

        // resume with no checkpoint
        var (resumed, none) = await Store.ResumeTrajectoryAsync(t.Id);
        Assert.Equal(FleTrajectoryStatus.Running, resumed.Status);
        Assert.Null(resumed.EndTime);
        Assert.Null(none);
        Assert.Null((await Store.GetTrajectoryAsync(t.Id))!.EndTime);

        // resume returns the checkpoint with the highest step number that has a state, not the last plain step
        await CheckpointAsync(t.Id, 0, GameState(7, 0, 3_000));
        await CheckpointAsync(t.Id, 3, GameState(7, 3, 3_000));
        await CheckpointAsync(t.Id, 2, GameState(7, 2, 3_000));
        await StepAsync(t.Id, 4);
        await Store.CompleteTrajectoryAsync(t.Id, FleTrajectoryStatus.Failed);
        var (again, latest) = await Store.ResumeTrajectoryAsync(t.Id);
        Assert.Equal(FleTrajectoryStatus.Running, again.Status);
        Assert.Equal(4, again.StepCount);
        Assert.Equal(4, again.LastStepNumber);
        Assert.NotNull(latest);
        Assert.Equal(3, latest.StepNumber);
        Assert.Equal(4, latest.NextStepNumber);
        SameBytes(GameState(7, 3, 3_000), latest.GameState, "resume latest");

        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.ResumeTrajectoryAsync("missing"));
    }
}
