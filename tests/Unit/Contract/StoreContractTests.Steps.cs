using System.Text;
using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task SaveStep_stores_a_plain_step_that_reads_back_field_for_field()
    {
        var t = await NewTrajectoryAsync();
        var code = "for e in get_entities():\r\n    print(f\"{e.name} ✓ 工厂 🚀\")\n\ttab";
        var feedback = "Error: ´ñ´ ≠ \"x\" \\ ok\r\n" + new string('x', 200_000);
        var saved = await Store.SaveStepAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 0, AgentCode = code, EnvironmentFeedback = feedback,
            MetadataJson = """{"reward": 1.5, "tokens": {"in": 120, "out": 33}, "tags": ["a", "ü"]}""",
        });
        Assert.IsNotType<FleCheckpoint>(saved);
        Assert.Equal(t.Id, saved.TrajectoryId);
        Assert.Equal(0, saved.StepNumber);
        Assert.False(saved.HasGameState);
        Assert.Null(saved.GameStateSize);
        Assert.Null(saved.GameState);

        var steps = await Store.GetStepsAsync(t.Id, includeGameState: true).ToListAsync();
        var s = Assert.Single(steps);
        Assert.IsNotType<FleCheckpoint>(s);
        Assert.Equal(saved.Id, s.Id);
        Assert.Equal(code, s.AgentCode);
        Assert.Equal(feedback, s.EnvironmentFeedback);
        Assert.Equal(saved.Timestamp, s.Timestamp);
        Assert.False(s.HasGameState);
        Assert.Null(s.GameStateSize);
        Assert.Null(s.GameState);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(saved.MetadataJson), JsonNode.Parse(s.MetadataJson)));
        Assert.Equal(1.5, s.Metadata["Reward"]);
        Assert.Equal(33L, Assert.IsAssignableFrom<IDictionary<string, object?>>(s.Metadata["tokens"])["out"]);

        var tr = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.Equal(1, tr.StepCount);
        Assert.Equal(0, tr.LastStepNumber);
        Assert.Null(await Store.GetCheckpointAsync(t.Id, 0));
        Assert.Null(await Store.GetLatestCheckpointAsync(t.Id));
    }

    [ContractFact]
    public async Task SaveStep_with_a_game_state_makes_a_checkpoint_and_SaveCheckpoint_requires_a_state()
    {
        var t = await NewTrajectoryAsync();
        var state = GameState(5, 0, 4_000);
        var saved = await Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, GameState = state });
        Assert.True(saved.HasGameState);
        Assert.Equal(state.Length, saved.GameStateSize);
        SameBytes(state, (await Store.GetCheckpointAsync(t.Id, 0))!.GameState, "checkpoint saved by SaveStep");

        await ThrowsFle(FleErrorIds.InvalidArgument, () => Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1 }));
        Assert.Equal(1, await Store.CountStepsAsync(t.Id));
    }

    [ContractFact]
    public async Task SaveCheckpoint_returns_the_checkpoint_it_stored()
    {
        var t = await NewTrajectoryAsync();
        var state = GameState(6, 0, 20_000);
        var cp = await Store.SaveCheckpointAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 3, AgentCode = "craft('iron-gear-wheel', 10)", EnvironmentFeedback = "crafted 10",
            MetadataJson = """{"score": 12}""", GameState = state,
        });
        Assert.Equal(3, cp.StepNumber);
        Assert.Equal(4, cp.NextStepNumber);
        Assert.True(cp.HasGameState);
        Assert.Equal(state.Length, cp.GameStateSize);
        SameBytes(state, cp.GameState, "returned checkpoint");
        Assert.True(cp.StoredSize > 0 && cp.StoredSize < state.Length, $"stored size {cp.StoredSize} of a {state.Length}-byte JSON state");
        Assert.Equal(cp.Timestamp, cp.StateTimestamp);

        var read = (await Store.GetCheckpointAsync(t.Id, 3))!;
        Assert.Equal(cp.Id, read.Id);
        Assert.Equal(cp.StateId, read.StateId);
        Assert.Equal("craft('iron-gear-wheel', 10)", read.AgentCode);
        Assert.Equal("crafted 10", read.EnvironmentFeedback);
        Assert.Equal(12L, read.Metadata["score"]);
        Assert.Equal(cp.Timestamp, read.Timestamp);
        Assert.Equal(cp.StateTimestamp, read.StateTimestamp);
        Assert.Equal(cp.Codec, read.Codec);
        Assert.Equal(state.Length, read.GameStateSize);
        SameBytes(state, read.GameState, "GetCheckpoint");
        Assert.Equal(Encoding.UTF8.GetString(state), read.GameStateText);
    }

    [ContractFact]
    public async Task GetSteps_reads_ranges_in_step_order_with_or_without_game_states()
    {
        var t = await NewTrajectoryAsync();
        // written out of order; even steps are checkpoints
        foreach (var i in new[] { 5, 0, 9, 2, 7, 1, 8, 3, 6, 4 })
        {
            if (i % 2 == 0) await CheckpointAsync(t.Id, i, GameState(8, i, 2_000 + i * 100));
            else await StepAsync(t.Id, i, $"code {i}");
        }

        async Task<long[]> Range(long? from, long? to) => [.. (await Store.GetStepsAsync(t.Id, new FleStepRange(from, to)).ToListAsync()).Select(s => s.StepNumber)];

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), await Range(null, null));
        Assert.Equal(new long[] { 3, 4, 5, 6 }, await Range(3, 6));
        Assert.Equal(new long[] { 7, 8, 9 }, await Range(7, null));
        Assert.Equal(new long[] { 0, 1, 2 }, await Range(null, 2));
        Assert.Equal(new long[] { 4 }, (await Store.GetStepsAsync(t.Id, FleStepRange.Single(4)).ToListAsync()).Select(s => s.StepNumber));
        Assert.Empty(await Range(7, 3));
        Assert.Empty(await Range(100, null));

        var light = await Store.GetStepsAsync(t.Id).ToListAsync();
        foreach (var s in light)
        {
            Assert.Null(s.GameState);
            Assert.Equal(s.StepNumber % 2 == 0, s.HasGameState);
            Assert.Equal(s.StepNumber % 2 == 0 ? GameState(8, (int)s.StepNumber, 2_000 + (int)s.StepNumber * 100).Length : null, s.GameStateSize);
        }

        var full = await Store.GetStepsAsync(t.Id, includeGameState: true).ToListAsync();
        Assert.Equal(10, full.Count);
        foreach (var s in full)
        {
            if (s.StepNumber % 2 == 0)
            {
                var cp = Assert.IsType<FleCheckpoint>(s);
                SameBytes(GameState(8, (int)s.StepNumber, 2_000 + (int)s.StepNumber * 100), cp.GameState, $"step {s.StepNumber}");
            }
            else
            {
                Assert.False(s.HasGameState);
                Assert.Null(s.GameState);
                Assert.Equal($"code {s.StepNumber}", s.AgentCode);
            }
        }

        var list = await Store.GetTrajectoryStepsAsync(t.Id);
        Assert.Equal(full.Select(s => (s.StepNumber, Sha(s.GameState))), list.Select(s => (s.StepNumber, Sha(s.GameState))));

        // a trajectory without steps: empty, not an error
        var empty = await NewTrajectoryAsync();
        Assert.Empty(await Store.GetStepsAsync(empty.Id).ToListAsync());
        Assert.Empty(await Store.GetTrajectoryStepsAsync(empty.Id));
    }

    [ContractFact]
    public async Task Count_steps_and_the_trajectory_step_count_and_last_step_number_follow_the_writes()
    {
        var t = await NewTrajectoryAsync();
        Assert.Equal(0, await Store.CountStepsAsync(t.Id));
        await StepAsync(t.Id, 0);
        await CheckpointAsync(t.Id, 10, GameState(2, 10, 1_000));
        await StepAsync(t.Id, 4);
        Assert.Equal(3, await Store.CountStepsAsync(t.Id));
        var read = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.Equal(3, read.StepCount);
        Assert.Equal(10, read.LastStepNumber);
        var listed = (await Store.GetAllTrajectoriesAsync()).Single(x => x.Id == t.Id);
        Assert.Equal(3, listed.StepCount);
        Assert.Equal(10, listed.LastStepNumber);
    }

    [ContractFact]
    public async Task GetCheckpoint_and_GetLatestCheckpoint_return_null_where_there_is_no_state()
    {
        var t = await NewTrajectoryAsync();
        Assert.Null(await Store.GetLatestCheckpointAsync(t.Id));
        Assert.Null(await Store.GetCheckpointAsync(t.Id, 0));

        await CheckpointAsync(t.Id, 1, GameState(4, 1, 3_000));
        await StepAsync(t.Id, 2);
        await CheckpointAsync(t.Id, 5, GameState(4, 5, 3_000));
        await StepAsync(t.Id, 6);

        Assert.Null(await Store.GetCheckpointAsync(t.Id, 2));   // a plain step
        Assert.Null(await Store.GetCheckpointAsync(t.Id, 3));   // no such step
        var one = (await Store.GetCheckpointAsync(t.Id, 1))!;
        Assert.Equal(1, one.StepNumber);
        SameBytes(GameState(4, 1, 3_000), one.GameState, "step 1");
        var latest = (await Store.GetLatestCheckpointAsync(t.Id))!;
        Assert.Equal(5, latest.StepNumber);
        Assert.Equal(6, latest.NextStepNumber);
        SameBytes(GameState(4, 5, 3_000), latest.GameState, "latest");
    }

    [ContractFact]
    public async Task Overwrite_replaces_a_step_and_its_state_and_removes_the_state_when_the_new_input_has_none()
    {
        var t = await NewTrajectoryAsync();
        await CheckpointAsync(t.Id, 0, GameState(1, 0, 6_000));
        await CheckpointAsync(t.Id, 1, GameState(1, 1, 6_000));

        // replace step 0 with a different state and different text
        var replaced = await Store.SaveCheckpointAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 0, AgentCode = "new code", EnvironmentFeedback = "new feedback",
            MetadataJson = """{"v":2}""", GameState = GameState(1, 50, 6_000), Overwrite = true,
        });
        var cp0 = (await Store.GetCheckpointAsync(t.Id, 0))!;
        Assert.Equal("new code", cp0.AgentCode);
        Assert.Equal("new feedback", cp0.EnvironmentFeedback);
        Assert.Equal(2L, cp0.Metadata["v"]);
        Assert.Equal(replaced.Timestamp, cp0.Timestamp);
        SameBytes(GameState(1, 50, 6_000), cp0.GameState, "overwritten state");
        Assert.Equal(2, await Store.CountStepsAsync(t.Id));
        Assert.Equal(2, await CountRowsAsync("game_states", t.Id));

        // replace step 1 with a plain step: its state goes away
        var plain = await Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1, AgentCode = "plain", Overwrite = true });
        Assert.False(plain.HasGameState);
        Assert.Null(await Store.GetCheckpointAsync(t.Id, 1));
        var s1 = (await Store.GetStepsAsync(t.Id, FleStepRange.Single(1), includeGameState: true).ToListAsync()).Single();
        Assert.False(s1.HasGameState);
        Assert.Null(s1.GameStateSize);
        Assert.Null(s1.GameState);
        Assert.Equal("plain", s1.AgentCode);
        Assert.Equal(1, await CountRowsAsync("game_states", t.Id));
        Assert.Equal(0, (await Store.GetLatestCheckpointAsync(t.Id))!.StepNumber);

        // and a plain step overwritten with a checkpoint gains one
        await Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1, GameState = [1, 2, 3], Overwrite = true });
        SameBytes([1, 2, 3], (await Store.GetLatestCheckpointAsync(t.Id))!.GameState, "state added by overwrite");
        Assert.Equal(2, await Store.CountStepsAsync(t.Id));

        // Overwrite of a step that does not exist simply writes it
        await Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 2, AgentCode = "new", Overwrite = true });
        Assert.Equal(3, await Store.CountStepsAsync(t.Id));

        // everything still decodes from a cold store
        var cold = await OpenStoreAsync();
        SameBytes(GameState(1, 50, 6_000), (await cold.GetCheckpointAsync(t.Id, 0))!.GameState, "cold step 0");
    }
}
