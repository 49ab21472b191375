using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task Operations_on_an_unknown_trajectory_fail_with_TrajectoryNotFound()
    {
        const string missing = "missing-trajectory";
        var e = await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => StepAsync(missing, 0));
        Assert.Contains(missing, e.Message);
        Assert.Equal(FleErrorKind.NotFound, e.Kind);
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => CheckpointAsync(missing, 0, [1, 2, 3]));             // raw
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => CheckpointAsync(missing, 0, RandomBytes(1_000, 1))); // zstd / raw
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => CheckpointAsync(missing, 0, GameState(1, 0, 5_000))); // a new keyframe
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.CountStepsAsync(missing));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetCheckpointAsync(missing, 0));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetLatestCheckpointAsync(missing));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.CompleteTrajectoryAsync(missing));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.CompleteTrajectoryAsync(missing, FleTrajectoryStatus.Failed));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetStepsAsync(missing).ToListAsync());
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetTrajectoryStepsAsync(missing));

        // nothing was written on the way
        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM steps"));
        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM game_states"));
        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM state_dictionaries"));
    }

    [ContractFact]
    public async Task A_duplicate_step_fails_with_StepAlreadyExists_and_leaves_the_original()
    {
        var t = await NewTrajectoryAsync();
        await CheckpointAsync(t.Id, 0, GameState(1, 0, 5_000));
        await StepAsync(t.Id, 1, "original");

        var e = await ThrowsFle(FleErrorIds.StepAlreadyExists, () => StepAsync(t.Id, 1, "second"));
        Assert.Equal(FleErrorKind.AlreadyExists, e.Kind);
        Assert.Contains("1", e.Message);
        await ThrowsFle(FleErrorIds.StepAlreadyExists, () => CheckpointAsync(t.Id, 1, GameState(1, 1, 5_000)));
        await ThrowsFle(FleErrorIds.StepAlreadyExists, () => CheckpointAsync(t.Id, 0, GameState(1, 9, 5_000)));
        await ThrowsFle(FleErrorIds.StepAlreadyExists, () => StepAsync(t.Id, 0));

        Assert.Equal(2, await Store.CountStepsAsync(t.Id));
        Assert.Equal("original", (await Store.GetStepsAsync(t.Id, FleStepRange.Single(1)).ToListAsync()).Single().AgentCode);
        Assert.Null(await Store.GetCheckpointAsync(t.Id, 1));
        SameBytes(GameState(1, 0, 5_000), (await Store.GetCheckpointAsync(t.Id, 0))!.GameState, "original step 0");
        Assert.Equal(1, await CountRowsAsync("game_states", t.Id));

        // the store still works after the failures, and a cold one reads the same
        await CheckpointAsync(t.Id, 2, GameState(1, 2, 5_000));
        SameBytes(GameState(1, 2, 5_000), (await (await OpenStoreAsync()).GetLatestCheckpointAsync(t.Id))!.GameState, "step 2");
    }

    [ContractFact]
    public async Task A_duplicate_trajectory_id_fails_with_TrajectoryAlreadyExists()
    {
        var t = await NewTrajectoryAsync("task-a", "dup-id", metadataJson: """{"first":true}""");
        var e = await ThrowsFle(FleErrorIds.TrajectoryAlreadyExists, () => Store.CreateTrajectoryAsync("task-b", """{"first":false}""", "dup-id", null));
        Assert.Equal(FleErrorKind.AlreadyExists, e.Kind);
        Assert.Contains("dup-id", e.Message);
        await ThrowsFle(FleErrorIds.TrajectoryAlreadyExists, () => Store.CreateTrajectoryAsync("task-b", null, "dup-id"));
        var read = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.Equal("task-a", read.TaskId);
        Assert.Equal(true, read.Metadata["first"]);
        Assert.Single(await Store.GetAllTrajectoriesAsync());
    }

    [ContractFact]
    public async Task A_negative_step_number_fails_with_InvalidStepNumber()
    {
        var t = await NewTrajectoryAsync();
        await ThrowsFle(FleErrorIds.InvalidStepNumber, () => StepAsync(t.Id, -1));
        await ThrowsFle(FleErrorIds.InvalidStepNumber, () => CheckpointAsync(t.Id, long.MinValue, [1]));
        await StepAsync(t.Id, 0);
        await StepAsync(t.Id, long.MaxValue);
        Assert.Equal(long.MaxValue, (await Store.GetTrajectoryAsync(t.Id))!.LastStepNumber);
        Assert.Equal(2, await Store.CountStepsAsync(t.Id));
    }

    // By name: xunit serializes theory arguments as UTF-8, which would turn a lone surrogate into U+FFFD.
    private static string BadText(string name) => name switch
    {
        "lone-high-surrogate" => "before \uD83D after",
        "lone-low-surrogate" => "\uDE80 at the start",
        "high-surrogate-at-the-end" => "end \uD83D",
        "swapped-surrogate-pair" => "x\uDE80\uD83Dy",
        "nul" => "nul \0 inside",
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    public static TheoryData<string> BadTexts => new("lone-high-surrogate", "lone-low-surrogate", "high-surrogate-at-the-end", "swapped-surrogate-pair", "nul");

    [ContractTheory]
    [MemberData(nameof(BadTexts))]
    public async Task Text_that_cannot_be_stored_exactly_fails_with_InvalidText(string name)
    {
        var text = BadText(name);
        Assert.True(text.Contains('\0') || text.Any(char.IsSurrogate));
        var t = await NewTrajectoryAsync();
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, AgentCode = text }));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, EnvironmentFeedback = text }));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1, AgentCode = text, GameState = [1, 2] }));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 2, MetadataJson = "{\"k\":\"" + text + "\"}" }));
        // ids refuse every control character (NUL included) as an invalid argument; a lone surrogate is invalid text
        await ThrowsFle(name == "nul" ? FleErrorIds.InvalidArgument : FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync(text, null, null, null));
        await ThrowsFle(name == "nul" ? FleErrorIds.InvalidArgument : FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", null, "id-" + text, null));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", "{\"k\":\"" + text + "\"}", null, null));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", new Dictionary<string, object?> { [text] = 1 }));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", new Dictionary<string, object?> { ["k"] = text }));
        await ThrowsFle(FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", new Dictionary<string, object?> { ["k"] = new Dictionary<string, object?> { ["deep"] = new object?[] { text } } }));
        Assert.Single(await Store.GetAllTrajectoriesAsync());
        Assert.Equal(0, await Store.CountStepsAsync(t.Id));
    }

    [ContractFact]
    public async Task Json_escapes_that_name_NUL_or_a_lone_surrogate_are_refused_the_same_way_on_every_backend()
    {
        // \u0000 and a lone \ud83d are valid JSON escapes but name text that has no exact UTF-8 / PostgreSQL form
        var t = await NewTrajectoryAsync();
        foreach (var json in new[] { """{"k":"a\u0000b"}""", """{"k":"\ud83d"}""", """{"a\u0000":1}""", """{"k":["\udc00"]}""" })
        {
            await ThrowsFle(FleErrorIds.InvalidText, () => Store.CreateTrajectoryAsync("task", json, null, null));
            await ThrowsFle(FleErrorIds.InvalidText, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, MetadataJson = json }));
        }
        // a valid escaped surrogate pair is fine
        var ok = await Store.CreateTrajectoryAsync("task", """{"k":"\ud83d\ude80"}""", null, null);
        Assert.Equal("🚀", (await Store.GetTrajectoryAsync(ok.Id))!.Metadata["k"]);
        Assert.Equal(0, await Store.CountStepsAsync(t.Id));
    }

    [ContractFact]
    public async Task Valid_unicode_including_surrogate_pairs_and_control_characters_round_trips()
    {
        var t = await NewTrajectoryAsync("tâche-🚀");
        var text = "emoji 🚀👩‍🔬 cjk 工厂 rtl עברית combining é bell \u0007 escape \u001b del \u007f bom \uFEFF max \U0010FFFF";
        await Store.SaveStepAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 0, AgentCode = text, EnvironmentFeedback = text,
            MetadataJson = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { [text] = text }),
        });
        var s = (await (await OpenStoreAsync()).GetStepsAsync(t.Id).ToListAsync()).Single();
        Assert.Equal(text, s.AgentCode);
        Assert.Equal(text, s.EnvironmentFeedback);
        Assert.Equal(text, s.Metadata[text]);
        Assert.Equal("tâche-🚀", (await Store.GetTrajectoryAsync(t.Id))!.TaskId);
    }

    [ContractFact]
    public async Task Metadata_that_is_not_a_json_object_fails_with_InvalidMetadata()
    {
        var t = await NewTrajectoryAsync();
        foreach (var bad in new[] { "[1,2]", "42", "\"text\"", "true", "null", "{not json", "{\"a\":1} trailing", "{'a':1}" })
        {
            var e = await ThrowsFle(FleErrorIds.InvalidMetadata, () => Store.CreateTrajectoryAsync("task", bad, null, null));
            Assert.Equal(FleErrorKind.InvalidArgument, e.Kind);
            await ThrowsFle(FleErrorIds.InvalidMetadata, () => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, MetadataJson = bad }));
        }
        Assert.Single(await Store.GetAllTrajectoriesAsync());
        Assert.Equal(0, await Store.CountStepsAsync(t.Id));
    }

    [ContractFact]
    public async Task A_state_over_MaxStateBytes_fails_with_StateTooLarge_and_one_at_the_limit_is_stored()
    {
        var small = await OpenStoreAsync(maxStateBytes: 1_000);
        Assert.Equal(1_000, small.Settings.MaxStateBytes);
        var t = await small.CreateTrajectoryAsync("task");
        var e = await ThrowsFle(FleErrorIds.StateTooLarge, () => CheckpointAsync(t.Id, 0, new byte[1_001], small));
        Assert.Contains("1,000", e.Message);
        await ThrowsFle(FleErrorIds.StateTooLarge, () => small.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, GameState = new byte[5_000] }));
        Assert.Equal(0, await small.CountStepsAsync(t.Id));

        var atLimit = RandomBytes(1_000, 3);
        await CheckpointAsync(t.Id, 0, atLimit, small);
        SameBytes(atLimit, (await small.GetCheckpointAsync(t.Id, 0))!.GameState, "state at the limit");
        // the default store's limit is far larger
        await CheckpointAsync(t.Id, 1, new byte[1_001]);
    }

    [ContractFact]
    public async Task Invalid_ids_are_refused_before_reaching_the_database()
    {
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.CreateTrajectoryAsync("", null, null, null));
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.CreateTrajectoryAsync("task", null, new string('x', 201), null));
        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.CreateTrajectoryAsync("task", null, "tab\there", null));
        await ThrowsFle(FleErrorIds.InvalidArgument, () => StepAsync("", 0));
        var t = await Store.CreateTrajectoryAsync("task", null, new string('x', 200), null);
        Assert.True(await Store.TrajectoryExistsAsync(t.Id));
        Assert.Single(await Store.GetAllTrajectoriesAsync());
    }
}
