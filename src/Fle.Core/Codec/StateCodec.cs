using System.Buffers.Binary;
using DictionaryCompressor = Fle.Core.Codec.Zstd.DictionaryCompressor;

namespace Fle.Core.Codec;

/// <summary>How a game state's bytes are stored; written to every game_states row, so old rows stay readable.</summary>
public enum StateCodecKind : short
{
    /// <summary>The bytes as given.</summary>
    Raw = 0,

    /// <summary>zstd, no dictionary.</summary>
    Zstd = 1,

    /// <summary>zstd against a keyframe of the same trajectory used as a raw-content dictionary (one lookup to decode).</summary>
    ZstdDictionary = 2,

    /// <summary>The state is its keyframe: the content of the dictionary row it refers to (the row holds no bytes).</summary>
    Keyframe = 3,
}

/// <summary>A state ready to be written.</summary>
internal sealed class EncodedState
{
    public StateCodecKind Codec { get; init; }
    public required byte[] Data { get; init; }
    public int RawSize { get; init; }

    /// <summary>An existing dictionary row the data refers to.</summary>
    public long? DictionaryId { get; init; }

    /// <summary>A new keyframe dictionary to insert first (zstd-compressed content), whose id the state refers to.</summary>
    public byte[]? NewDictionaryData { get; init; }

    internal byte[]? NewDictionaryContent { get; init; }
    internal DictionaryCompressor? NewCompressor { get; init; }

    /// <summary>The root the new keyframe's dictionary row was compressed against (null: the new keyframe is a root).</summary>
    internal StateCodec.KeyframeRoot? NewDictionaryRoot { get; init; }

    /// <summary>What the state cost as a delta against the keyframe the new one replaces (for <see cref="KeyframePolicy"/>).</summary>
    internal int? ReplacedDelta { get; init; }

    public string CodecName => Name(Codec);

    public static string Name(StateCodecKind k) => k switch
    {
        StateCodecKind.Raw => "raw",
        StateCodecKind.Zstd => "zstd",
        StateCodecKind.ZstdDictionary => "zstd-dict",
        StateCodecKind.Keyframe => "keyframe",
        _ => k.ToString(),
    };
}

/// <summary>
/// Compresses game states. Consecutive FLE states share most of their bytes (the research table,
/// inventories), so each trajectory keeps a keyframe (a whole state) as a zstd dictionary and every
/// later state is compressed against it. When a new keyframe starts, and when it becomes a new root rather
/// than being compressed against the root, is <see cref="KeyframePolicy"/>'s (chosen with bench/ figures).
/// Decoding a state needs at most its own row, its keyframe and that keyframe's root: O(1) whatever the
/// trajectory's length.
/// Thread-safe; one instance per store.
/// </summary>
public sealed class StateCodec : IDisposable
{
    /// <summary>zstd level of plain states and of rooted keyframe rows.</summary>
    public const int CompressionLevel = 3;

    /// <summary>
    /// zstd level of the deltas (a state against its keyframe), the hot path of every checkpoint. bench/ codec study
    /// (600 states): level 1 stored 1,211 B/state against 1,209 at level 3, for about a third less encode time. Level -1
    /// (zstd's fast mode) was measured for issue 15: faster deltas, but 1.5-2 % more state bytes at a 35 % entity change
    /// rate and more than before issue 15 at 100 %, for no measurable difference in a checkpoint's encode time here.
    /// </summary>
    public const int DeltaLevel = 1;

    /// <summary>
    /// zstd level of a root keyframe's dictionary row (plain). Level 3: a root costs 0.1 ms to compress instead of 0.37
    /// at level 9, for 7.3 instead of 6.5 KB of a 55 KB FLE state. With <see cref="KeyframePolicy"/> renewing roots
    /// (about 20 in 1,000 FLE-like steps, 4 before), level 9 cost more time than the bytes it saved: the SQLite file of
    /// 1,000 steps holds 10.60 % of the raw payload instead of 10.54 %.
    /// </summary>
    public const int KeyframeLevel = 3;

    /// <summary>
    /// zstd level of a keyframe's dictionary row compressed against the trajectory's root keyframe (about one state in
    /// four with FLE-like states). bench/ codec study: level 1 stored about 1 % more than level 3 for half the time.
    /// </summary>
    public const int RootedLevel = 1;
    private const int MinDictionaryInput = 256;
    private const int MaxDictionaryInput = 16 * 1024 * 1024;
    private static readonly uint ZstdDictMagic = 0xEC30A437;

    private readonly object _gate = new();
    private readonly Dictionary<string, WriterState> _writers = new(StringComparer.Ordinal);
    private readonly LruCache<long, byte[]> _dictionaries = new(64, 128L * 1024 * 1024, b => b.Length);

    /// <summary>Plan how to store a state. <paramref name="loadLatestDictionary"/> is called once per trajectory per process.</summary>
    internal EncodedState Encode(string trajectoryId, byte[] raw, Func<(long Id, byte[] Stored)?> loadLatestDictionary,
        Func<long, byte[]?>? loadDictionaryData = null)
    {
        if (raw.Length < MinDictionaryInput)
            return raw.Length < 64 ? Raw(raw) : Plain(raw);
        if (raw.Length > MaxDictionaryInput || StartsWithDictMagic(raw))
            return Plain(raw);

        WriterState? w;
        lock (_gate) _writers.TryGetValue(trajectoryId, out w);
        if (w is null)
        {
            var latest = loadLatestDictionary();
            if (latest is { } l)
            {
                byte[]? kfContent = null;
                KeyframeRoot? kfRoot = null;
                try
                {
                    kfContent = DecodeDictionary(l.Id, l.Stored, loadDictionaryData);
                    if (!IsRooted(l.Stored)) kfRoot = new KeyframeRoot(l.Id, kfContent, l.Stored.Length);
                    // this trajectory's own root row (the cache may name an identical root of another trajectory: fine to
                    // decode with, but the write checks that the root it compresses against belongs to the trajectory)
                    else if (FindRoot(l.Id, l.Stored, fromCache: false) is { } r) kfRoot = new KeyframeRoot(r.Id, r.Content, r.StoredSize);
                }
                catch (Exception e) when (e is FleException or ZstdFailure) { kfContent = null; } // unreadable: start a new keyframe
                if (kfContent is not null && kfContent.Length <= MaxDictionaryInput)
                {
                    w = new WriterState(l.Id, kfContent, kfRoot, new KeyframePolicy());
                    w.Policy.Started(l.Stored.Length, isRoot: !IsRooted(l.Stored), replacedDelta: null);
                    lock (_gate) _writers[trajectoryId] = w;
                    _dictionaries.Set(l.Id, kfContent);
                }
            }
        }

        int? replaced = null; // the delta a new keyframe replaces
        if (w is not null)
        {
            // Committed (a newer keyframe) or Forget (a delete) may have disposed this keyframe (under its lock) after
            // we fetched it: then start a new keyframe rather than fail.
            byte[]? delta = null;
            var renew = true;
            lock (w)
            {
                if (!w.Disposed)
                {
                    delta = w.Compressor.Compress(raw);
                    renew = w.Policy.ShouldRestart(delta.Length, raw.Length);
                    replaced = delta.Length;
                }
            }
            if (!renew && delta is not null)
                return new EncodedState { Codec = StateCodecKind.ZstdDictionary, Data = delta, RawSize = raw.Length, DictionaryId = w.DictionaryId };
        }

        // A new keyframe: the state itself becomes the dictionary, and its own row refers to it (codec Keyframe, no
        // bytes). The compressor for the next states loads it now; zstd builds its tables on first use, which a task
        // does on another core while this write runs (or the next state's compression, if that task has not had a core). The dictionary row is compressed against the trajectory's root
        // keyframe (FLE's research table and most of the state do not change), unless that saves less than a tenth:
        // then it becomes a new root, stored plain.
        // A copy: the keyframe outlives this call (cached, and its tables are built after the save may have returned),
        // and the caller may reuse its buffer for the next state.
        var content = (byte[])raw.Clone();
        var compressor = Zstd.WithDictionary(content, DeltaLevel);
        _ = Task.Run(compressor.WarmUp);
        try
        {
            byte[]? stored = null;
            // The root is referenced by fingerprint, not by a foreign key: the store's write checks, in the same
            // transaction, that it is still stored (the trajectory may have been deleted and recreated by another store
            // since this one cached it), and reports RootKeyframeGoneException if not.
            var root = w?.Root;
            if (root is not null)
            {
                var rooted = root.TryCompress(raw);
                // a new root costs about what the root cost, in proportion to the state's size
                if (rooted is not null && w!.Policy.KeepRoot(rooted.Length, replaced, (long)root.StoredSize * raw.Length / Math.Max(1, root.Content.Length)))
                    stored = rooted;
                else root = null;
            }
            if (stored is null)
            {
                stored = Zstd.Compress(content, KeyframeLevel);
            }
            return new EncodedState
            {
                Codec = StateCodecKind.Keyframe, Data = [], RawSize = raw.Length,
                NewDictionaryData = stored, NewDictionaryContent = content, NewCompressor = compressor, NewDictionaryRoot = root,
                ReplacedDelta = replaced,
            };
        }
        catch
        {
            compressor.Dispose(); // a warm-up still to run finds it disposed
            throw;
        }
    }

    /// <summary>After the write committed: remember a new keyframe for the next states of the trajectory.</summary>
    internal void Committed(string trajectoryId, EncodedState state, long? newDictionaryId)
    {
        if (state.NewCompressor is null || newDictionaryId is null) return;
        // A plain keyframe is the trajectory's new root; a rooted one keeps the root it was compressed against.
        var root = state.NewDictionaryRoot ?? new KeyframeRoot(newDictionaryId.Value, state.NewDictionaryContent!, state.NewDictionaryData!.Length);
        WriterState? old;
        lock (_gate)
        {
            _writers.TryGetValue(trajectoryId, out old);
            // the policy's estimates (change rate, root drift) carry over to the new keyframe
            var w = new WriterState(newDictionaryId.Value, state.NewDictionaryContent!, root, old?.Policy ?? new KeyframePolicy(), state.NewCompressor);
            w.Policy.Started(state.NewDictionaryData!.Length + state.Data.Length, isRoot: state.NewDictionaryRoot is null, state.ReplacedDelta);
            _writers[trajectoryId] = w;
        }
        old?.Dispose(disposeRoot: !ReferenceEquals(old.Root, root));
        _dictionaries.Set(newDictionaryId.Value, state.NewDictionaryContent!);
    }

    /// <summary>The write failed: drop what the plan created.</summary>
    internal static void Abandoned(EncodedState state)
    {
        state.NewCompressor?.Dispose();
    }

    /// <summary>Forget a trajectory (deleted, or the dictionary it referred to is gone).</summary>
    public void Forget(string trajectoryId)
    {
        WriterState? old;
        lock (_gate)
        {
            if (!_writers.Remove(trajectoryId, out old)) return;
        }
        old.Dispose(disposeRoot: true);
    }

    /// <summary>Drop cached keyframes by id (their rows were deleted; SQLite may reuse the ids).</summary>
    internal void ForgetDictionaries(IEnumerable<long> ids)
    {
        var gone = ids.ToHashSet();
        foreach (var id in gone) _dictionaries.Remove(id);
        lock (_rootsByFingerprint)
            foreach (var k in _rootsByFingerprint.Where(kv => gone.Contains(kv.Value.Id)).Select(kv => kv.Key).ToList())
                _rootsByFingerprint.Remove(k);
    }

    /// <summary>Forget every trajectory and cached keyframe (the database was restored underneath).</summary>
    internal void Reset()
    {
        lock (_gate)
        {
            foreach (var w in _writers.Values) w.Dispose(disposeRoot: true);
            _writers.Clear();
        }
        _dictionaries.Clear();
        lock (_rootsByFingerprint) _rootsByFingerprint.Clear();
    }

    /// <summary>
    /// Whether a state this codec just planned decodes from what will be stored (its row, and the new keyframe row if
    /// any, decompressed on its own or against its root; a delta against its keyframe's content) to exactly
    /// <paramref name="raw"/>. For an import that checks every state before its commit.
    /// </summary>
    internal bool RoundTrips(EncodedState state, byte[] raw)
    {
        try
        {
            if (state.NewDictionaryData is { } stored)
            {
                var content = !IsRooted(stored) ? Zstd.DecompressUpTo(stored, MaxDictionaryInput)
                    : state.NewDictionaryRoot is { } root && RootedData(root.Content.Length, Fingerprint(root.Content), []).AsSpan().SequenceEqual(stored.AsSpan(0, RootedHeader))
                        ? Zstd.DecompressUpTo(stored.AsSpan(RootedHeader), MaxDictionaryInput, root.Content) : null;
                return content is not null && state.Codec == StateCodecKind.Keyframe && state.Data.Length == 0 && content.AsSpan().SequenceEqual(raw);
            }
            return state.Codec switch
            {
                StateCodecKind.Raw => state.Data.AsSpan().SequenceEqual(raw),
                StateCodecKind.Zstd => Zstd.Decompress(state.Data, state.RawSize).AsSpan().SequenceEqual(raw),
                StateCodecKind.ZstdDictionary when state.DictionaryId is { } d && _dictionaries.TryGet(d, out var dict)
                    => Zstd.Decompress(state.Data, state.RawSize, dict).AsSpan().SequenceEqual(raw),
                _ => false,
            };
        }
        catch (ZstdFailure)
        {
            return false;
        }
    }

    /// <summary>Decode a stored state to its exact original bytes.</summary>
    internal byte[] Decode(StateCodecKind codec, byte[] data, int rawSize, long? dictionaryId, Func<long, byte[]?> loadDictionaryData)
    {
        try
        {
            switch (codec)
            {
                case StateCodecKind.Raw:
                    return Check(data, rawSize);
                case StateCodecKind.Zstd:
                    return Zstd.Decompress(data, rawSize);
                case StateCodecKind.Keyframe:
                    if (dictionaryId is null) throw Corrupt("a keyframe state has no dictionary");
                    if (data.Length != 0) throw Corrupt("a keyframe state has bytes of its own");
                    return Check((byte[])GetDictionary(dictionaryId.Value, loadDictionaryData).Clone(), rawSize);
                case StateCodecKind.ZstdDictionary:
                    if (dictionaryId is null) throw Corrupt("a dictionary-compressed state has no dictionary");
                    return Zstd.Decompress(data, rawSize, GetDictionary(dictionaryId.Value, loadDictionaryData));
                default:
                    throw new FleException(FleErrorIds.CorruptState, FleErrorKind.NotSupported,
                        $"A game state is stored with codec {(short)codec}, which this version of Fle does not know. Update the Fle module.");
            }
        }
        catch (ZstdFailure e)
        {
            throw Corrupt($"zstd could not decode it ({e.Message})");
        }
    }

    private byte[] GetDictionary(long id, Func<long, byte[]?>? loadDictionaryData)
    {
        if (_dictionaries.TryGet(id, out var content)) return content;
        var stored = loadDictionaryData?.Invoke(id) ?? throw Corrupt($"its keyframe dictionary {id} is missing");
        content = DecodeDictionary(id, stored, loadDictionaryData);
        _dictionaries.Set(id, content);
        return content;
    }

    // ------------------------------------------------------------------ rooted keyframe dictionaries
    //
    // A state_dictionaries row holds either a plain zstd frame of the keyframe (every Fle so far), or a rooted one:
    // "FLR1", the root keyframe's size (uint32 LE) and fingerprint (first 8 bytes of its SHA-256), then a zstd frame
    // compressed with the root keyframe (a plain row of the same trajectory) as its dictionary. The root is found by
    // trajectory, raw_size and fingerprint, never by id, so exports and imports that renumber rows keep it valid.
    // Any state still decodes from its own row, its keyframe and that keyframe's root: three rows, O(1).

    private static ReadOnlySpan<byte> RootedMagic => "FLR1"u8;
    private const int RootedHeader = 16;

    /// <summary>Candidate roots of a keyframe: (id, stored data) of the rows of its trajectory with that raw size. Set by the store.</summary>
    internal Func<long, int, IEnumerable<(long Id, byte[] Data)>>? RootCandidates { get; set; }

    private readonly Dictionary<ulong, (long Id, int StoredSize)> _rootsByFingerprint = new();

    internal static bool IsRooted(ReadOnlySpan<byte> stored) => stored.Length >= RootedHeader && stored[..4].SequenceEqual(RootedMagic);

    internal static ulong Fingerprint(ReadOnlySpan<byte> content) => BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.SHA256.HashData(content));

    internal static byte[] RootedData(int rootSize, ulong rootFingerprint, ReadOnlySpan<byte> frame)
    {
        var data = new byte[RootedHeader + frame.Length];
        RootedMagic.CopyTo(data);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), (uint)rootSize);
        BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(8), rootFingerprint);
        frame.CopyTo(data.AsSpan(RootedHeader));
        return data;
    }

    private byte[] DecodeDictionary(long id, byte[] stored, Func<long, byte[]?>? loadDictionaryData)
    {
        if (!IsRooted(stored)) return Zstd.DecompressUpTo(stored, MaxDictionaryInput);
        var root = FindRoot(id, stored) ?? throw Corrupt($"the root keyframe of keyframe dictionary {id} is missing");
        return Zstd.DecompressUpTo(stored.AsSpan(RootedHeader), MaxDictionaryInput, root.Content);
    }

    private (long Id, byte[] Content, int StoredSize)? FindRoot(long keyframeId, byte[] stored, bool fromCache = true)
    {
        var size = (int)BinaryPrimitives.ReadUInt32LittleEndian(stored.AsSpan(4));
        var fingerprint = BinaryPrimitives.ReadUInt64LittleEndian(stored.AsSpan(8));
        (long Id, int StoredSize) known;
        bool found;
        lock (_rootsByFingerprint) found = _rootsByFingerprint.TryGetValue(fingerprint, out known);
        if (fromCache && found && _dictionaries.TryGet(known.Id, out var cached) && cached.Length == size) return (known.Id, cached, known.StoredSize);
        foreach (var (cid, data) in RootCandidates?.Invoke(keyframeId, size) ?? [])
        {
            if (IsRooted(data)) continue;
            byte[] content;
            try
            {
                content = Zstd.DecompressUpTo(data, MaxDictionaryInput);
            }
            catch (ZstdFailure) { continue; }
            if (content.Length != size || Fingerprint(content) != fingerprint) continue;
            _dictionaries.Set(cid, content);
            lock (_rootsByFingerprint) _rootsByFingerprint[fingerprint] = (cid, data.Length);
            return (cid, content, data.Length);
        }
        return null;
    }

    /// <summary>Compress without a dictionary (used for keyframe rows and export helpers).</summary>
    internal static byte[] CompressPlain(ReadOnlySpan<byte> raw)
    {
        return Zstd.Compress(raw, CompressionLevel);
    }

    private static byte[] Check(byte[] result, int rawSize)
        => result.Length == rawSize ? result : throw Corrupt($"it decoded to {result.Length} bytes instead of {rawSize}");

    private static FleException Corrupt(string why) => new(FleErrorIds.CorruptState, FleErrorKind.InvalidData,
        $"A stored game state is damaged: {why}. Check the database (decode every state), and restore from a backup if needed.");

    private static EncodedState Raw(byte[] raw) => new() { Codec = StateCodecKind.Raw, Data = raw, RawSize = raw.Length };

    private static EncodedState Plain(byte[] raw)
    {
        var z = CompressPlain(raw);
        return z.Length < raw.Length ? new EncodedState { Codec = StateCodecKind.Zstd, Data = z, RawSize = raw.Length } : Raw(raw);
    }

    private static bool StartsWithDictMagic(byte[] raw) => raw.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(raw) == ZstdDictMagic;

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var w in _writers.Values) w.Dispose(disposeRoot: true);
            _writers.Clear();
        }
    }

    /// <summary>A trajectory's root keyframe and a compressor that uses it as dictionary (for new keyframe rows).</summary>
    internal sealed class KeyframeRoot(long id, byte[] content, int storedSize) : IDisposable
    {
        private DictionaryCompressor? _compressor;
        private ulong _fingerprint;
        private bool _disposed;
        public long Id { get; } = id;
        public byte[] Content { get; } = content;
        public int StoredSize { get; } = storedSize;

        /// <summary>The rooted dictionary data for a new keyframe, or null when this root was disposed meanwhile.</summary>
        public byte[]? TryCompress(byte[] raw)
        {
            lock (this)
            {
                if (_disposed) return null;
                if (_compressor is null)
                {
                    _compressor = Zstd.WithDictionary(Content, RootedLevel);
                    _fingerprint = Fingerprint(Content);
                }
                return RootedData(Content.Length, _fingerprint, _compressor.Compress(raw));
            }
        }

        public void Dispose()
        {
            lock (this)
            {
                _disposed = true;
                _compressor?.Dispose();
                _compressor = null;
            }
        }
    }

    private sealed class WriterState
    {
        public WriterState(long id, byte[] content, KeyframeRoot? root, KeyframePolicy policy, DictionaryCompressor? compressor = null)
        {
            DictionaryId = id;
            Root = root;
            Policy = policy;
            Compressor = compressor ?? Zstd.WithDictionary(content, DeltaLevel);
        }

        public long DictionaryId { get; }
        public DictionaryCompressor Compressor { get; }
        public KeyframePolicy Policy { get; }
        public KeyframeRoot? Root { get; }

        public bool Disposed { get; private set; }

        /// <summary>Under the writer's lock, so never while another thread compresses with it.</summary>
        public void Dispose(bool disposeRoot)
        {
            lock (this)
            {
                if (Disposed) return;
                Disposed = true;
                Compressor.Dispose();
            }
            if (disposeRoot) Root?.Dispose();
        }
    }
}

/// <summary>
/// The root keyframe a new keyframe was compressed against is no longer stored (its trajectory was deleted, and
/// perhaps recreated, by another store). Nothing was written; the caller forgets the trajectory's keyframes and
/// plans the state again.
/// </summary>
internal sealed class RootKeyframeGoneException() : Exception("The root keyframe of the trajectory is no longer stored.");

/// <summary>A small thread-safe LRU bounded by count and total weight.</summary>
internal sealed class LruCache<TKey, TValue> where TKey : notnull
{
    private readonly int _maxCount;
    private readonly long _maxWeight;
    private readonly Func<TValue, long> _weight;
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new();
    private readonly LinkedList<(TKey Key, TValue Value)> _list = new();
    private long _total;

    public LruCache(int maxCount, long maxWeight, Func<TValue, long> weight)
    {
        _maxCount = maxCount;
        _maxWeight = maxWeight;
        _weight = weight;
    }

    public bool TryGet(TKey key, out TValue value)
    {
        lock (_map)
        {
            if (_map.TryGetValue(key, out var node))
            {
                _list.Remove(node);
                _list.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }
        value = default!;
        return false;
    }

    public void Remove(TKey key)
    {
        lock (_map)
        {
            if (!_map.Remove(key, out var node)) return;
            _list.Remove(node);
            _total -= _weight(node.Value.Value);
        }
    }

    public void Clear()
    {
        lock (_map)
        {
            _map.Clear();
            _list.Clear();
            _total = 0;
        }
    }

    public void Set(TKey key, TValue value)
    {
        lock (_map)
        {
            if (_map.Remove(key, out var old))
            {
                _list.Remove(old);
                _total -= _weight(old.Value.Value);
            }
            _map[key] = _list.AddFirst((key, value));
            _total += _weight(value);
            while (_list.Count > 1 && (_list.Count > _maxCount || _total > _maxWeight))
            {
                var last = _list.Last!;
                _list.RemoveLast();
                _map.Remove(last.Value.Key);
                _total -= _weight(last.Value.Value);
            }
        }
    }
}
