using Fle.Core.Codec;
using Fle.Core.Storage;

namespace Fle.Core.Transfer;

/// <summary>A game_states row as stored: codec, stored bytes, raw size, the id of its keyframe dictionary row (in its own database).</summary>
internal sealed record StoredState(StateCodecKind Codec, byte[] Data, long RawSize, long? DictionaryId, DateTime Timestamp);

/// <summary>A step with its game state in stored form (null: no state).</summary>
internal sealed record StoredStep(long StepNumber, string AgentCode, string EnvironmentFeedback, DateTime Timestamp, string MetadataJson, StoredState? State);

/// <summary>A state_dictionaries row as stored (a plain zstd frame of a keyframe, or a rooted one: see StateCodec).</summary>
internal sealed record StoredDictionary(long Id, int RawSize, byte[] Data, DateTime CreatedAt);

/// <summary>
/// Where a record exported from a Fle store reads its rows in stored form: the trajectory's steps (in step order, with
/// each state's stored row) and its keyframe dictionary rows (in id order, on demand). Import-FleData copies such rows
/// verbatim (with renumbered dictionary ids) instead of decoding and re-encoding every state; see
/// <see cref="ImportFeed"/>.
/// </summary>
internal sealed class StoredTrajectorySource(FleStore store, string trajectoryId)
{
    public FleStore Store { get; } = store;
    public string TrajectoryId { get; } = trajectoryId;

    public IAsyncEnumerable<StoredStep> ReadStepsAsync(CancellationToken ct) => Store.ReadStoredStepsAsync(TrajectoryId, ct);

    public Task<List<StoredDictionary>> ReadDictionariesAsync(long afterId, int limit, CancellationToken ct)
        => Store.ReadStoredDictionariesAsync(TrajectoryId, afterId, limit, ct);

    public StoredDictionary? ReadDictionary(long id) => Store.ReadStoredDictionary(TrajectoryId, id);

    public List<(long Id, byte[] Data)> ReadRootCandidates(int rawSize) => Store.ReadStoredRootCandidates(TrajectoryId, rawSize);
}
