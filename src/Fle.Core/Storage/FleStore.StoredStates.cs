using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using Fle.Core.Codec;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>
/// Reading a trajectory's rows in their STORED form (codec, stored bytes, raw size, keyframe dictionary rows), without
/// decoding: what a store-to-store import copies verbatim (see <see cref="Transfer.StoredTrajectorySource"/>).
/// </summary>
public abstract partial class FleStore
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
        var ts = ReadTime(r, 5);
        var meta = r.GetString(6);
        if (r.IsDBNull(7))
            return new StoredStep(stepNumber, code, feedback, ts, meta, null);
        var rawSize = Convert.ToInt64(r.GetValue(7), CultureInfo.InvariantCulture);
        var codec = (StateCodecKind)Convert.ToInt16(r.GetValue(8), CultureInfo.InvariantCulture);
        long? dictId = r.IsDBNull(9) ? null : r.GetInt64(9);
        var data = (byte[])r.GetValue(10);
        _ = r.GetInt64(11);
        var stateTs = ReadTime(r, 12);
        return new StoredStep(stepNumber, code, feedback, ts, meta, new StoredState(codec, data, rawSize, dictId, stateTs));
    }

    /// <summary>Up to <paramref name="limit"/> keyframe dictionary rows of a trajectory with an id above <paramref name="afterId"/>, in id order.</summary>
    internal Task<List<StoredDictionary>> ReadStoredDictionariesAsync(string trajectoryId, long afterId, int limit, CancellationToken cancellationToken)
        => RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn,
                "SELECT id, raw_size, data, created_at FROM state_dictionaries WHERE trajectory_id = @t AND id > @after ORDER BY id LIMIT @n");
            Param(cmd, "@t", trajectoryId);
            Param(cmd, "@after", afterId);
            Param(cmd, "@n", (long)limit);
            var list = new List<StoredDictionary>();
            await using var r = await cmd.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadStoredDictionary(r));
            return list;
        }, trajectoryId, null, cancellationToken);

    /// <summary>One keyframe dictionary row of a trajectory by id, or null.</summary>
    internal StoredDictionary? ReadStoredDictionary(string trajectoryId, long id)
    {
        ThrowIfDisposed();
        using var conn = OpenConnection();
        using var cmd = Command(conn, "SELECT id, raw_size, data, created_at FROM state_dictionaries WHERE id = @id AND trajectory_id = @t");
        Param(cmd, "@id", id);
        Param(cmd, "@t", trajectoryId);
        using var r = cmd.ExecuteReader(CommandBehavior.SequentialAccess);
        return r.Read() ? ReadStoredDictionary(r) : null;
    }

    /// <summary>The plain (root candidate) rows of a trajectory with a given raw size, in id order.</summary>
    internal List<(long Id, byte[] Data)> ReadStoredRootCandidates(string trajectoryId, int rawSize)
    {
        ThrowIfDisposed();
        using var conn = OpenConnection();
        using var cmd = Command(conn, "SELECT id, data FROM state_dictionaries WHERE trajectory_id = @t AND raw_size = @size ORDER BY id");
        Param(cmd, "@t", trajectoryId);
        Param(cmd, "@size", rawSize);
        using var r = cmd.ExecuteReader();
        var list = new List<(long, byte[])>();
        while (r.Read()) list.Add((r.GetInt64(0), (byte[])r.GetValue(1)));
        return list;
    }

    private StoredDictionary ReadStoredDictionary(DbDataReader r) => new(
        r.GetInt64(0), Convert.ToInt32(r.GetValue(1), CultureInfo.InvariantCulture), (byte[])r.GetValue(2), ReadTime(r, 3));
}
