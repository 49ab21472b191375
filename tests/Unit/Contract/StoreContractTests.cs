using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.Contract;

/// <summary>
/// The storage contract: every test here runs once per backend (see <see cref="SqliteContractTests"/> and
/// <see cref="PostgresContractTests"/>), each time on a fresh, empty database.
/// </summary>
public abstract partial class StoreContractTests : IAsyncLifetime
{
    private readonly IBackendFixture _fixture;
    private readonly List<FleStore> _stores = [];

    protected StoreContractTests(IBackendFixture fixture) => _fixture = fixture;

    protected TestDatabase Db { get; private set; } = null!;

    /// <summary>The store the test works with (opened on the fresh database).</summary>
    protected FleStore Store { get; private set; } = null!;

    protected FleBackend Backend => _fixture.Backend;

    public async Task InitializeAsync()
    {
        Db = await _fixture.CreateDatabaseAsync();
        Store = await OpenStoreAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var s in _stores) await s.DisposeAsync();
        if (Db is not null) await Db.DisposeAsync();
    }

    /// <summary>Another store instance on the same database: a cold keyframe cache, as in a new process.</summary>
    protected async Task<FleStore> OpenStoreAsync(long? maxStateBytes = null)
    {
        var s = await Db.OpenAsync(maxStateBytes);
        _stores.Add(s);
        return s;
    }

    protected Task<FleTrajectory> NewTrajectoryAsync(string task = "task-1", string? id = null, DateTime? start = null, string? metadataJson = null)
        => Store.CreateTrajectoryAsync(task, metadataJson, id, start);

    protected Task<FleCheckpoint> CheckpointAsync(string trajectoryId, long step, byte[] state, FleStore? store = null, bool overwrite = false)
        => (store ?? Store).SaveCheckpointAsync(new FleStepInput
        {
            TrajectoryId = trajectoryId, StepNumber = step, AgentCode = $"print({step})", EnvironmentFeedback = $"ok {step}",
            GameState = state, Overwrite = overwrite,
        });

    protected Task<FleStep> StepAsync(string trajectoryId, long step, string code = "pass", FleStore? store = null)
        => (store ?? Store).SaveStepAsync(new FleStepInput
        {
            TrajectoryId = trajectoryId, StepNumber = step, AgentCode = code, EnvironmentFeedback = $"feedback {step}",
        });

    protected Task<long> CountRowsAsync(string table, string trajectoryId)
        => Db.CountAsync($"SELECT COUNT(*) FROM {table} WHERE trajectory_id = @t", ("@t", trajectoryId));
}
