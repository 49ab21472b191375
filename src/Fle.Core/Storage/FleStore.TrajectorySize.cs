using System.Globalization;

namespace Fle.Core.Storage;

/// <summary>The game-state bytes of one trajectory, as given and as stored (what Export-FleReport's summary shows).</summary>
public sealed record FleTrajectorySize(string TrajectoryId, long States, long RawStateBytes, long StoredStateBytes);

public abstract partial class FleStore
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
        var n = await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn,
                "SELECT (SELECT 1 FROM trajectories WHERE id = @t), " +
                "(SELECT COUNT(*) FROM game_states WHERE trajectory_id = @t), " +
                "(SELECT COALESCE(SUM(raw_size), 0) FROM game_states WHERE trajectory_id = @t), " +
                "(SELECT COALESCE(SUM(length(state_data)), 0) FROM game_states WHERE trajectory_id = @t), " +
                "(SELECT COALESCE(SUM(length(data)), 0) FROM state_dictionaries WHERE trajectory_id = @t)");
            Param(cmd, "@t", trajectoryId);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            if (r.IsDBNull(0)) return null;
            var v = new long[4];
            for (var i = 0; i < v.Length; i++) v[i] = Convert.ToInt64(r.GetValue(i + 1), CultureInfo.InvariantCulture);
            return v;
        }, trajectoryId, null, cancellationToken).ConfigureAwait(false);
        if (n is null) throw FleException.TrajectoryNotFound(trajectoryId);
        return new FleTrajectorySize(trajectoryId, n[0], n[1], n[2] + n[3]);
    }
}
