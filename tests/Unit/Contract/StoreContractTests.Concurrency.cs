using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task Eight_parallel_writers_into_one_trajectory_lose_nothing()
    {
        var t = await NewTrajectoryAsync();
        var second = await OpenStoreAsync(); // half the writers go through another store, as another process would
        const int writers = 8, perWriter = 6;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var store = w % 2 == 0 ? Store : second;
            for (var j = 0; j < perWriter; j++)
            {
                var n = w * perWriter + j;
                if (j % 3 == 2) await StepAsync(t.Id, n, $"writer {w}", store);
                else await CheckpointAsync(t.Id, n, GameState(71, n, 8_000), store);
            }
        })));

        const int total = writers * perWriter;
        Assert.Equal(total, await Store.CountStepsAsync(t.Id));
        Assert.Equal(total * 2 / 3, await CountRowsAsync("game_states", t.Id));
        var cold = await OpenStoreAsync();
        var steps = await cold.GetStepsAsync(t.Id, includeGameState: true).ToListAsync();
        Assert.Equal(Enumerable.Range(0, total).Select(i => (long)i), steps.Select(s => s.StepNumber));
        foreach (var s in steps)
        {
            if (s.StepNumber % perWriter % 3 == 2) Assert.False(s.HasGameState);
            else SameBytes(GameState(71, (int)s.StepNumber, 8_000), s.GameState, $"step {s.StepNumber}");
        }
    }

    [ContractFact]
    public async Task Parallel_writers_whose_content_keeps_drifting_lose_nothing()
    {
        // Writers alternate between unrelated worlds, so keyframes are replaced all the time while other
        // writers are compressing against the previous one.
        var t = await NewTrajectoryAsync();
        const int writers = 8, perWriter = 12;
        static byte[] State(int n) => GameState(100 + n % 4, n, 6_000);
        var errors = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var j = 0; j < perWriter; j++)
            {
                var n = w * perWriter + j;
                try { await CheckpointAsync(t.Id, n, State(n)); }
                catch (Exception e) { errors.Add(e); }
            }
        })));
        Assert.True(errors.IsEmpty, $"{errors.Count} writes failed, first: {errors.FirstOrDefault()}");
        Assert.Equal(writers * perWriter, await Store.CountStepsAsync(t.Id));
        var cold = await OpenStoreAsync();
        foreach (var s in await cold.GetStepsAsync(t.Id, includeGameState: true).ToListAsync())
            SameBytes(State((int)s.StepNumber), s.GameState, $"step {s.StepNumber}");
    }

    [ContractFact]
    public async Task Parallel_creates_and_duplicate_races_resolve_to_one_winner()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () => (await Store.CreateTrajectoryAsync($"task-{i % 3}")).Id)));
        Assert.Equal(16, ids.Distinct().Count());
        Assert.Equal(16, (await Store.GetAllTrajectoriesAsync()).Count);

        // eight writers race for the same step number: exactly one wins, the others get StepAlreadyExists
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            try { await CheckpointAsync(ids[0], 0, GameState(72, w, 4_000)); return (string?)null; }
            catch (FleException e) { return e.ErrorId; }
        })));
        Assert.Single(results, r => r is null);
        Assert.All(results.Where(r => r is not null), r => Assert.Equal(FleErrorIds.StepAlreadyExists, r));
        var winner = (await (await OpenStoreAsync()).GetCheckpointAsync(ids[0], 0))!;
        Assert.Contains(Sha(winner.GameState), Enumerable.Range(0, 8).Select(w => Sha(GameState(72, w, 4_000))));
    }
}
