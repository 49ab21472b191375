using Fle.Core;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    [ContractFact]
    public async Task A_disposed_store_refuses_work_and_disposing_twice_is_harmless()
    {
        var store = await Db.OpenAsync();
        var t = await store.CreateTrajectoryAsync("task");
        await store.DisposeAsync();
        await store.DisposeAsync();
        store.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.CreateTrajectoryAsync("task"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.TrajectoryExistsAsync(t.Id));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetTrajectoryAsync(t.Id));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.CountStepsAsync(t.Id));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetLatestCheckpointAsync(t.Id));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => StepAsync(t.Id, 0, store: store));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetStepsAsync(t.Id).ToListAsync());

        // the data is still there for another store
        Assert.True(await Store.TrajectoryExistsAsync(t.Id));
    }

    [ContractFact]
    public async Task A_cancelled_operation_writes_nothing_and_reports_cancellation()
    {
        var t = await NewTrajectoryAsync();
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        async Task Cancelled(Func<Task> action)
        {
            var e = await Record.ExceptionAsync(action);
            Assert.True(e is OperationCanceledException || e is FleException { ErrorId: FleErrorIds.OperationCanceled },
                $"expected a cancellation, got {e?.GetType().Name ?? "no exception"}: {e?.Message}");
        }

        await Cancelled(() => Store.CreateTrajectoryAsync("task", null, cancellationToken: cts.Token));
        await Cancelled(() => Store.SaveStepAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0 }, cts.Token));
        await Cancelled(() => Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 1, GameState = GameState(95, 0, 5_000) }, cts.Token));
        await Cancelled(() => Store.CompleteTrajectoryAsync(t.Id, cancellationToken: cts.Token));
        await Cancelled(() => Store.DeleteTrajectoryAsync(t.Id, cts.Token));
        await Cancelled(() => Store.GetStepsAsync(t.Id, cancellationToken: cts.Token).ToListAsync());

        Assert.Single(await Store.GetAllTrajectoriesAsync());
        var read = (await Store.GetTrajectoryAsync(t.Id))!;
        Assert.Equal(FleTrajectoryStatus.Running, read.Status);
        Assert.Equal(0, read.StepCount);
        Assert.Equal(0, await Db.CountAsync("SELECT COUNT(*) FROM state_dictionaries"));

        // and the store works normally afterwards, including the keyframe the cancelled checkpoint planned
        await CheckpointAsync(t.Id, 1, GameState(95, 0, 5_000));
        await CheckpointAsync(t.Id, 2, GameState(95, 1, 5_000));
        SameBytes(GameState(95, 1, 5_000), (await (await OpenStoreAsync()).GetLatestCheckpointAsync(t.Id))!.GameState, "after cancellations");
    }
}
