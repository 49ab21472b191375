using System.Threading.Channels;
using Fle.Core.Codec;
using Fle.Core.Storage;

namespace Fle.Core.Transfer;

/// <summary>A row an import writes: a keyframe dictionary row or a step (with its game state row).</summary>
internal abstract class ImportItem;

/// <summary>
/// A keyframe dictionary row to write. <see cref="Key"/> identifies it within this import only (the source's id, or a
/// counter of the private codec); the writer gives it a new id in the target and maps the key to it.
/// </summary>
internal sealed class ImportDictionary(long key, int rawSize, byte[] data, DateTime createdAt) : ImportItem
{
    public long Key { get; } = key;
    public int RawSize { get; } = rawSize;
    public byte[] Data { get; } = data;
    public DateTime CreatedAt { get; } = createdAt;

    /// <summary>The id the writer gave the dictionary row of a key.</summary>
    public static long Resolve(Dictionary<long, long> ids, long key) => ids.TryGetValue(key, out var id) ? id
        : throw new InvalidOperationException($"A game state refers to keyframe dictionary {key}, which this import has not written.");
}

/// <summary>A step to write, with its game state row in the form it is stored (State* are unset when it has none).</summary>
internal sealed class ImportStep : ImportItem
{
    public long StepNumber { get; init; }
    public required string AgentCode { get; init; }
    public required string EnvironmentFeedback { get; init; }
    public DateTime Timestamp { get; init; }
    public required string MetadataJson { get; init; }
    public bool HasState => StateData is not null;
    public StateCodecKind StateCodec { get; init; }
    public byte[]? StateData { get; init; }
    public int StateRawSize { get; init; }

    /// <summary>The key of the dictionary row the state refers to (written earlier in the same import).</summary>
    public long? StateDictionaryKey { get; init; }

    /// <summary>Or the id of a dictionary row the target already holds (a keyframe the trajectory inherits, or its own before an append).</summary>
    public long? StateStoredDictionaryId { get; init; }
    public DateTime StateTimestamp { get; init; }

    /// <summary>The dictionary_id of the state row, given the ids the writer gave this import's dictionary rows.</summary>
    public long? DictionaryId(Dictionary<long, long> written) => StateDictionaryKey is { } k ? ImportDictionary.Resolve(written, k) : StateStoredDictionaryId;

    /// <summary>This step with its game state row.</summary>
    public ImportStep WithState(StateCodecKind codec, byte[] data, int rawSize, long? dictionaryKey, DateTime timestamp, long? storedDictionaryId = null) => new()
    {
        StepNumber = StepNumber, AgentCode = AgentCode, EnvironmentFeedback = EnvironmentFeedback, Timestamp = Timestamp, MetadataJson = MetadataJson,
        StateCodec = codec, StateData = data, StateRawSize = rawSize, StateDictionaryKey = dictionaryKey, StateStoredDictionaryId = storedDictionaryId,
        StateTimestamp = timestamp,
    };
}

/// <summary>
/// The reading half of an import, on its own thread: reads the record's steps from the source, checks them, and
/// prepares the rows to write, which the target's writer (<see cref="Storage.Postgres.PostgresBulkImport"/>, <see cref="Storage.Sqlite.SqliteBulkImport"/>)
/// takes from a bounded queue on the calling thread. Several cores work at once, and memory stays flat (at most
/// <see cref="Capacity"/> rows wait in each queue).
/// <para>
/// A record exported from a Fle store (<see cref="FleExportRecord.StoredSource"/>) is COPIED: every game state row as
/// stored (codec, stored bytes, raw size) and every keyframe dictionary row of the trajectory, whose ids the writer
/// renumbers. Rooted keyframe rows name their root by raw size and fingerprint, not by id, and the root is a row of
/// the same trajectory, which is copied too, so they stay valid. Every copied state is decoded with the rows it is
/// copied with (its own, its keyframe's, the keyframe's root), exactly as the target will decode it, and its size is
/// checked, on a third thread while the rows are written; the writer commits only after every check passed. So a
/// damaged source row, a codec or dictionary format this Fle does not know, or a keyframe missing from the source
/// fails the trajectory (nothing of it is committed) instead of being copied blindly. Decoding costs a fraction of
/// the encoding it replaces.
/// </para>
/// <para>
/// Any other record (an export file, records built in memory) is encoded with the import's private codec; a run of
/// FLE's programs table (Import-FleProgramTable) also has each state it encodes decoded back from the rows it is written
/// with and compared, byte for byte, before the commit.
/// </para>
/// </summary>
internal sealed class ImportFeed : IAsyncDisposable
{
    /// <summary>Rows queued between the reader and the writer.</summary>
    public const int Capacity = 256;

    /// <summary>Dictionary rows read from the source per query.</summary>
    private const int DictionaryBatch = 64;

    private readonly Channel<ImportItem> _channel = Channel.CreateBounded<ImportItem>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait, AllowSynchronousContinuations = false,
    });
    private readonly CancellationTokenSource _cts;
    private readonly Task _producer;

    private ImportFeed(TrajectoryImport im, CancellationToken ct)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = _cts.Token;
        _producer = Task.Run(() => ProduceAsync(im, _channel.Writer, token), CancellationToken.None); // always runs: it completes the queue
    }

    /// <summary>Start reading the record on another thread.</summary>
    public static ImportFeed Start(TrajectoryImport im, CancellationToken ct) => new(im, ct);

    /// <summary>The next row to write, or null after the last one. A failure of the reading side is thrown here.</summary>
    public async ValueTask<ImportItem?> ReadAsync(CancellationToken ct)
    {
        var reader = _channel.Reader;
        while (true)
        {
            if (reader.TryRead(out var item)) return item;
            if (!await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                await _producer.ConfigureAwait(false); // rethrows what stopped the reading side
                return null;
            }
        }
    }

    /// <summary>Stop the reading side (when the writer failed or finished) and wait for it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!_producer.IsCompleted) _cts.Cancel();
        try { await _producer.ConfigureAwait(false); }
        catch (Exception) { /* already reported through ReadAsync, or the writer's own failure is the one that counts */ }
        _cts.Dispose();
    }

    private int _disposed;

    private static async Task ProduceAsync(TrajectoryImport im, ChannelWriter<ImportItem> w, CancellationToken ct)
    {
        try
        {
            if (im.Record.StoredSource is { } src) await CopyStoredAsync(im, src, w, ct).ConfigureAwait(false);
            else await EncodeAsync(im, w, ct).ConfigureAwait(false);
        }
        finally
        {
            w.TryComplete();
        }
    }

    private static FleException DuplicateStep(string id, long n) => new(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
        $"Trajectory '{id}' has step {n} twice; nothing of it was imported.", target: id);

    // ------------------------------------------------------------------ records without a stored form: encode

    private static readonly Func<(long Id, byte[] Stored)?> NoKeyframe = () => null;

    private static async Task EncodeAsync(TrajectoryImport im, ChannelWriter<ImportItem> w, CancellationToken ct)
    {
        var rec = im.Record;
        var seen = new HashSet<long>();
        long nextKey = 0;
        await foreach (var s in rec.GetStepsAsync(ct).ConfigureAwait(false))
        {
            var raw = s.GameState;
            var step = CheckedRow(im, seen, s.StepNumber, s.AgentCode, s.EnvironmentFeedback, s.Timestamp, s.MetadataJson, raw?.LongLength);
            if (raw is not null)
            {
                // The keyframe to start from: one the target holds that the trajectory inherits (a fork) or has (an
                // append), else none (the first state becomes a keyframe of this import).
                var enc = im.Codec.Encode(rec.Id, raw, im.StoredKeyframe ?? NoKeyframe, im.LoadStoredDictionary);
                if (im.Finish is not null && !im.Codec.RoundTrips(enc, raw))
                {
                    // A program-table run checks every state before its commit, as a store-to-store copy does.
                    StateCodec.Abandoned(enc);
                    throw new FleException(FleErrorIds.CorruptState, FleErrorKind.InvalidData,
                        $"The game state of step {s.StepNumber} of trajectory '{rec.Id}' does not decode back to the bytes it was encoded from; nothing of the trajectory was imported.",
                        target: rec.Id);
                }
                // This import's own keyframes get keys below zero; a keyframe the target holds keeps its (positive) id.
                long? key = enc.DictionaryId is < 0 ? enc.DictionaryId : null;
                long? stored = enc.DictionaryId is > 0 ? enc.DictionaryId : null;
                var stateTs = s.StateTimestamp ?? s.Timestamp;
                if (enc.NewDictionaryData is { } dd)
                {
                    key = --nextKey;
                    stored = null;
                    im.Codec.Committed(rec.Id, enc, key);
                    await w.WriteAsync(new ImportDictionary(key.Value, enc.RawSize, dd, stateTs), ct).ConfigureAwait(false);
                }
                step = step.WithState(enc.Codec, enc.Data, enc.RawSize, key, stateTs, stored);
            }
            await w.WriteAsync(step, ct).ConfigureAwait(false);
            im.Counted(raw?.LongLength);
        }
    }

    /// <summary>A step of the record checked with the write path's rules (and its number seen once), as a row without its state.</summary>
    private static ImportStep CheckedRow(TrajectoryImport im, HashSet<long> seen, long n, string code, string feedback, DateTime ts, string? meta, long? stateBytes)
    {
        var m = im.Validate(n, code, feedback, meta, stateBytes);
        if (!seen.Add(n)) throw DuplicateStep(im.Record.Id, n);
        if (im.Record.ForkStepNumber is { } fork && n <= fork)
            throw new FleException(FleErrorIds.StepInherited, FleErrorKind.InvalidData,
                $"Trajectory '{im.Record.Id}' is a fork at step {fork}, yet its record holds step {n}, which it inherits; nothing of it was imported.", target: im.Record.Id);
        return new ImportStep { StepNumber = n, AgentCode = code, EnvironmentFeedback = feedback, Timestamp = ts, MetadataJson = m };
    }

    // ------------------------------------------------------------------ records from a Fle store: copy the stored rows

    private static async Task CopyStoredAsync(TrajectoryImport im, StoredTrajectorySource src, ChannelWriter<ImportItem> w, CancellationToken ct)
    {
        var rec = im.Record;
        var dicts = new DictionaryCopy(src, w);
        var codec = im.Codec;
        codec.RootCandidates = dicts.RootCandidates;
        // The check (decoding) runs on a third thread: a row is written while it is checked, and the trajectory is
        // committed only after every check passed (the writer commits after this method returns).
        var checks = Channel.CreateBounded<(StoredState State, long StepNumber)>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var checkFailed = false;
        var checker = Task.Run(async () =>
        {
            try
            {
                await foreach (var (st, n) in checks.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false)) Verify(codec, dicts, st, rec.Id, n);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Volatile.Write(ref checkFailed, true);
                stop.Cancel(); // stop the reading below: this failure is the one reported
                throw;
            }
        }, CancellationToken.None);
        try
        {
            var token = stop.Token;
            var seen = new HashSet<long>();
            await foreach (var s in src.ReadStepsAsync(token).ConfigureAwait(false))
            {
                var st = s.State;
                var step = CheckedRow(im, seen, s.StepNumber, s.AgentCode, s.EnvironmentFeedback, s.Timestamp, s.MetadataJson, st?.RawSize);
                if (st is not null)
                {
                    if (st.DictionaryId is { } d) await dicts.CopyThroughAsync(d, rec.Id, s.StepNumber, token).ConfigureAwait(false);
                    await checks.Writer.WriteAsync((st, s.StepNumber), token).ConfigureAwait(false);
                    step = step.WithState(st.Codec, st.Data, (int)st.RawSize, st.DictionaryId, st.Timestamp);
                }
                await w.WriteAsync(step, token).ConfigureAwait(false);
                im.Counted(st?.RawSize);
            }
            // Rows no state refers to (a root keyframe whose own step was overwritten since, say): copied too, so every
            // rooted row finds its root in the target as it did in the source.
            await dicts.CopyRestAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (Volatile.Read(ref checkFailed) && !ct.IsCancellationRequested)
        {
            // The checker failed and stopped the reading: awaiting it below throws its error.
        }
        catch
        {
            stop.Cancel();
            checks.Writer.TryComplete();
            try { await checker.ConfigureAwait(false); } catch (Exception) { /* the reading side's failure is the one reported */ }
            throw;
        }
        checks.Writer.TryComplete();
        await checker.ConfigureAwait(false);
    }

    /// <summary>Decode a stored state with the rows it is copied with; the bytes are dropped (the check is that it decodes to its size).</summary>
    private static void Verify(StateCodec codec, DictionaryCopy dicts, StoredState st, string trajectoryId, long stepNumber)
    {
        try
        {
            if (st.RawSize > int.MaxValue) throw new FleException(FleErrorIds.CorruptState, FleErrorKind.InvalidData, $"its raw size {st.RawSize} is out of range");
            _ = codec.Decode(st.Codec, st.Data, (int)st.RawSize, st.DictionaryId, dicts.Load);
        }
        catch (FleException e) when (e.ErrorId == FleErrorIds.CorruptState)
        {
            throw new FleException(FleErrorIds.CorruptState, e.Kind,
                $"The game state of step {stepNumber} of trajectory '{trajectoryId}' in the source cannot be copied, because it does not decode: {e.Message} Nothing of the trajectory was imported.",
                e, trajectoryId) { RecommendedAction = e.RecommendedAction ?? "Check the source database, decoding every state." };
        }
    }

    /// <summary>
    /// Copies a trajectory's keyframe dictionary rows in id order, in batches, as the states that refer to them come
    /// (so memory does not grow with the trajectory's length), and serves them to the checking codec. Queued by the
    /// reading thread, served to the checking thread: hence the lock.
    /// </summary>
    private sealed class DictionaryCopy(StoredTrajectorySource src, ChannelWriter<ImportItem> w)
    {
        private const int RecentRows = 512;
        private const long MaxRootBytes = 64L * 1024 * 1024;
        private readonly object _gate = new();
        private readonly HashSet<long> _copied = [];
        private readonly Dictionary<long, byte[]> _recent = [];
        private readonly Queue<long> _recentOrder = new();
        private readonly List<StoredDictionary> _roots = [];
        private long _rootBytes;
        private long _lastId = long.MinValue;
        private bool _exhausted;

        /// <summary>Make sure row <paramref name="id"/> (and every row of the trajectory before it) is queued.</summary>
        public async Task CopyThroughAsync(long id, string trajectoryId, long stepNumber, CancellationToken ct)
        {
            while (!IsCopied(id))
            {
                if (_exhausted || id <= _lastId)
                    throw new FleException(FleErrorIds.CorruptState, FleErrorKind.InvalidData,
                        $"The game state of step {stepNumber} of trajectory '{trajectoryId}' in the source refers to keyframe dictionary {id}, which is not a row of that trajectory " +
                        "(it was deleted or replaced while exporting, or the source is damaged). Nothing of the trajectory was imported.", target: trajectoryId)
                    { RecommendedAction = "Export it again; if this persists, check the source database, decoding every state." };
                await NextBatchAsync(ct).ConfigureAwait(false);
            }
        }

        /// <summary>Queue the rows not queued yet.</summary>
        public async Task CopyRestAsync(CancellationToken ct)
        {
            while (!_exhausted) await NextBatchAsync(ct).ConfigureAwait(false);
        }

        private async Task NextBatchAsync(CancellationToken ct)
        {
            var batch = await src.ReadDictionariesAsync(_lastId, DictionaryBatch, ct).ConfigureAwait(false);
            if (batch.Count < DictionaryBatch) _exhausted = true;
            foreach (var row in batch)
            {
                await w.WriteAsync(new ImportDictionary(row.Id, row.RawSize, row.Data, row.CreatedAt), ct).ConfigureAwait(false);
                _lastId = row.Id;
                Remember(row);
            }
        }

        private void Remember(StoredDictionary row)
        {
            lock (_gate) RememberLocked(row);
        }

        private void RememberLocked(StoredDictionary row)
        {
            _copied.Add(row.Id);
            _recent[row.Id] = row.Data;
            _recentOrder.Enqueue(row.Id);
            if (_recentOrder.Count > RecentRows) _recent.Remove(_recentOrder.Dequeue());
            if (!StateCodec.IsRooted(row.Data) && _rootBytes + row.Data.Length <= MaxRootBytes)
            {
                _roots.Add(row);
                _rootBytes += row.Data.Length;
            }
        }

        private bool IsCopied(long id)
        {
            lock (_gate) return _copied.Contains(id);
        }

        /// <summary>The stored data of a copied row (the checking codec's dictionary loader, on the checking thread).</summary>
        public byte[]? Load(long id)
        {
            lock (_gate)
            {
                if (!_copied.Contains(id)) return null;
                if (_recent.TryGetValue(id, out var data)) return data;
            }
            return src.ReadDictionary(id)?.Data;
        }

        /// <summary>Where the checking codec looks for the root of a rooted keyframe row: the trajectory's plain rows of that size.</summary>
        public IEnumerable<(long Id, byte[] Data)> RootCandidates(long keyframeId, int rawSize)
        {
            List<StoredDictionary> kept;
            lock (_gate) kept = _roots.Where(r => r.RawSize == rawSize && r.Id != keyframeId).ToList();
            var tried = new HashSet<long>();
            foreach (var r in kept)
            {
                tried.Add(r.Id);
                yield return (r.Id, r.Data);
            }
            // Not among the rows kept in memory: ask the source (the root is a row of the same trajectory, which the
            // import copies whole, so it will be in the target too).
            foreach (var c in src.ReadRootCandidates(rawSize))
                if (c.Id != keyframeId && tried.Add(c.Id)) yield return c;
        }
    }
}
