using Dapper;

namespace Fle.Core.Storage;

/// <summary>The game-state bytes of one trajectory, as given and as stored (what Export-FleReport's summary shows).</summary>
public sealed record FleTrajectorySize(string TrajectoryId, long States, long RawStateBytes, long StoredStateBytes);

public sealed partial class FleStore
{
    /// <summary>
    /// How many game states a trajectory has and their bytes: as given by the agent (raw) and as stored (its compressed
    /// rows plus its keyframe dictionaries), the per-trajectory counterpart of <see cref="GetInfoAsync"/>. Aggregates
    /// only: no state is read or decoded.
    /// </summary>
    public async Task<FleTrajectorySize> GetTrajectorySizeAsync(string trajectoryId, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(trajectoryId);
        var n = await DbAsync((conn, ct) => conn.QuerySingleAsync<(long? Exists, long States, long Raw, long Stored, long Dictionaries)>(Cmd(
            "SELECT (SELECT 1 FROM trajectories WHERE id = @t), " +
            "(SELECT COUNT(*) FROM game_states WHERE trajectory_id = @t), " +
            "(SELECT COALESCE(SUM(raw_size), 0) FROM game_states WHERE trajectory_id = @t), " +
            "(SELECT COALESCE(SUM(length(state_data)), 0) FROM game_states WHERE trajectory_id = @t), " +
            "(SELECT COALESCE(SUM(length(data)), 0) FROM state_dictionaries WHERE trajectory_id = @t)", new { t = trajectoryId }, ct)),
            trajectoryId, cancellationToken).ConfigureAwait(false);
        if (n.Exists is null) throw FleException.TrajectoryNotFound(trajectoryId);
        return new FleTrajectorySize(trajectoryId, n.States, n.Raw, n.Stored + n.Dictionaries);
    }
}
