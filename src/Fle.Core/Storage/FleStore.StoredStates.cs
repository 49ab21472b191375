using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using Dapper;
using Fle.Core.Codec;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>
/// Reading a trajectory's rows in their STORED form (codec, stored bytes, raw size, keyframe dictionary rows), without
/// decoding: what a store-to-store import copies verbatim (see <see cref="Transfer.StoredTrajectorySource"/>).
/// </summary>
public sealed partial class FleStore
{
    /// <summary>The steps of a trajectory in step order, each with its game_states row as stored (not decoded), streamed.</summary>
    internal async IAsyncEnumerable<StoredStep> ReadStoredStepsAsync(string trajectoryId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await foreach (var s in StreamStepRowsAsync(Sql.SelectStepsWithState, trajectoryId, 0L, long.MaxValue, ReadStoredStep, cancellationToken).ConfigureAwait(false))
            yield return s;
    }

    // The column order of SqlText.SelectStepsWithState (see ReadStep), read strictly in order (SequentialAccess).
    private StoredStep ReadStoredStep(DbDataReader r)
    {
        var stepNumber = r.GetInt64(2);
        var code = r.GetString(3);
        var feedback = r.GetString(4);
        var ts = Provider.ReadTime(r, 5);
        var meta = r.GetString(6);
        if (r.IsDBNull(7))
            return new StoredStep(stepNumber, code, feedback, ts, meta, null);
        var rawSize = Convert.ToInt64(r.GetValue(7), CultureInfo.InvariantCulture);
        var codec = (StateCodecKind)Convert.ToInt16(r.GetValue(8), CultureInfo.InvariantCulture);
        long? dictId = r.IsDBNull(9) ? null : r.GetInt64(9);
        var data = (byte[])r.GetValue(10);
        _ = r.GetInt64(11);
        var stateTs = Provider.ReadTime(r, 12);
        return new StoredStep(stepNumber, code, feedback, ts, meta, new StoredState(codec, data, rawSize, dictId, stateTs));
    }

    /// <summary>Up to <paramref name="limit"/> keyframe dictionary rows of a trajectory with an id above <paramref name="afterId"/>, in id order.</summary>
    internal Task<List<StoredDictionary>> ReadStoredDictionariesAsync(string trajectoryId, long afterId, int limit, CancellationToken cancellationToken)
        => ReadListAsync("SELECT id, raw_size, data, created_at FROM state_dictionaries WHERE trajectory_id = @t AND id > @after ORDER BY id LIMIT @n",
            [("@t", trajectoryId), ("@after", afterId), ("@n", (long)limit)], trajectoryId, ReadStoredDictionary, cancellationToken);

    /// <summary>One keyframe dictionary row of a trajectory by id, or null.</summary>
    internal StoredDictionary? ReadStoredDictionary(string trajectoryId, long id)
    {
        ThrowIfDisposed();
        using var conn = Provider.OpenConnection();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT id, raw_size, data, created_at FROM state_dictionaries WHERE id = @id AND trajectory_id = @t";
        Param(cmd, "@id", id);
        Param(cmd, "@t", trajectoryId);
        using var r = cmd.ExecuteReader(CommandBehavior.SequentialAccess);
        return r.Read() ? ReadStoredDictionary(r) : null;
    }

    /// <summary>The plain (root candidate) rows of a trajectory with a given raw size, in id order.</summary>
    internal List<(long Id, byte[] Data)> ReadStoredRootCandidates(string trajectoryId, int rawSize)
    {
        ThrowIfDisposed();
        using var conn = Provider.OpenConnection();
        return conn.Query<(long, byte[])>("SELECT id, data FROM state_dictionaries WHERE trajectory_id = @t AND raw_size = @size ORDER BY id",
            new { t = trajectoryId, size = rawSize }).ToList();
    }

    private StoredDictionary ReadStoredDictionary(DbDataReader r) => new(
        r.GetInt64(0), Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture), (byte[])r.GetValue(2), Provider.ReadTime(r, 3));
}
