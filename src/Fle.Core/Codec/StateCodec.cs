using System.Buffers.Binary;
using ZstdSharp;

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
    internal Compressor? NewCompressor { get; init; }

    public string CodecName => Name(Codec);

    public static string Name(StateCodecKind k) => k switch
    {
        StateCodecKind.Raw => "raw",
        StateCodecKind.Zstd => "zstd",
        StateCodecKind.ZstdDictionary => "zstd-dict",
        _ => k.ToString(),
    };
}

/// <summary>
/// Compresses game states. Consecutive FLE states share most of their bytes (the research table,
/// inventories), so each trajectory keeps a keyframe (a whole state) as a zstd dictionary and every
/// later state is compressed against it. A new keyframe starts when the deltas grow. Decoding a state
/// needs at most its own row and its keyframe: O(1) whatever the trajectory's length.
/// Thread-safe; one instance per store.
/// </summary>
public sealed class StateCodec : IDisposable
{
    public const int CompressionLevel = 3;
    private const int MinDictionaryInput = 256;
    private const int MaxDictionaryInput = 16 * 1024 * 1024;
    private static readonly uint ZstdDictMagic = 0xEC30A437;

    private readonly object _gate = new();
    private readonly Dictionary<string, WriterState> _writers = new(StringComparer.Ordinal);
    private readonly LruCache<long, byte[]> _dictionaries = new(64, 128L * 1024 * 1024, b => b.Length);

    /// <summary>Plan how to store a state. <paramref name="loadLatestDictionary"/> is called once per trajectory per process.</summary>
    internal EncodedState Encode(string trajectoryId, byte[] raw, Func<(long Id, byte[] Content)?> loadLatestDictionary)
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
            if (latest is { } l && l.Content.Length <= MaxDictionaryInput)
            {
                w = new WriterState(l.Id, l.Content);
                lock (_gate) _writers[trajectoryId] = w;
                _dictionaries.Set(l.Id, l.Content);
            }
        }

        byte[]? delta = null;
        if (w is not null)
        {
            // Committed (a newer keyframe) or Forget (a delete) may dispose this keyframe's compressor after we
            // fetched it: then start a new keyframe rather than fail.
            try { lock (w) delta = w.Compressor.Wrap(raw).ToArray(); }
            catch (ObjectDisposedException) { }
        }
        if (w is not null && delta is not null)
        {
            var drifted = w.FirstDeltaSize > 0 && delta.Length > 2 * w.FirstDeltaSize + 1024 && delta.Length > raw.Length / 20;
            if (!drifted)
            {
                if (w.FirstDeltaSize == 0) w.FirstDeltaSize = delta.Length;
                return new EncodedState { Codec = StateCodecKind.ZstdDictionary, Data = delta, RawSize = raw.Length, DictionaryId = w.DictionaryId };
            }
        }

        // A new keyframe: the state itself becomes the dictionary; compressed against itself it is a few bytes.
        var content = raw;
        var compressor = new Compressor(CompressionLevel);
        compressor.LoadDictionary(content);
        var self = compressor.Wrap(raw).ToArray();
        using var plain = new Compressor(CompressionLevel);
        var stored = plain.Wrap(content).ToArray();
        return new EncodedState
        {
            Codec = StateCodecKind.ZstdDictionary, Data = self, RawSize = raw.Length,
            NewDictionaryData = stored, NewDictionaryContent = content, NewCompressor = compressor,
        };
    }

    /// <summary>After the write committed: remember a new keyframe for the next states of the trajectory.</summary>
    internal void Committed(string trajectoryId, EncodedState state, long? newDictionaryId)
    {
        if (state.NewCompressor is null || newDictionaryId is null) return;
        var w = new WriterState(newDictionaryId.Value, state.NewDictionaryContent!, state.NewCompressor);
        WriterState? old;
        lock (_gate)
        {
            _writers.TryGetValue(trajectoryId, out old);
            _writers[trajectoryId] = w;
        }
        old?.Dispose();
        _dictionaries.Set(newDictionaryId.Value, state.NewDictionaryContent!);
    }

    /// <summary>The write failed: drop what the plan created.</summary>
    internal static void Abandoned(EncodedState state) => state.NewCompressor?.Dispose();

    /// <summary>Forget a trajectory (deleted, or the dictionary it referred to is gone).</summary>
    public void Forget(string trajectoryId)
    {
        WriterState? old;
        lock (_gate)
        {
            if (!_writers.Remove(trajectoryId, out old)) return;
        }
        old.Dispose();
    }

    /// <summary>Drop cached keyframes by id (their rows were deleted; SQLite may reuse the ids).</summary>
    internal void ForgetDictionaries(IEnumerable<long> ids)
    {
        foreach (var id in ids) _dictionaries.Remove(id);
    }

    /// <summary>Forget every trajectory and cached keyframe (the database was restored underneath).</summary>
    internal void Reset()
    {
        lock (_gate)
        {
            foreach (var w in _writers.Values) w.Dispose();
            _writers.Clear();
        }
        _dictionaries.Clear();
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
                    using (var d = new Decompressor())
                        return Check(d.Unwrap(data, rawSize).ToArray(), rawSize);
                case StateCodecKind.ZstdDictionary:
                    if (dictionaryId is null) throw Corrupt("a dictionary-compressed state has no dictionary");
                    var dict = GetDictionary(dictionaryId.Value, loadDictionaryData);
                    using (var d = new Decompressor())
                    {
                        d.LoadDictionary(dict);
                        return Check(d.Unwrap(data, rawSize).ToArray(), rawSize);
                    }
                default:
                    throw new FleException(FleErrorIds.CorruptState, FleErrorKind.NotSupported,
                        $"A game state is stored with codec {(short)codec}, which this version of Fle does not know. Update the Fle module.");
            }
        }
        catch (ZstdException e)
        {
            throw Corrupt($"zstd could not decode it ({e.Message})");
        }
    }

    private byte[] GetDictionary(long id, Func<long, byte[]?> loadDictionaryData)
    {
        if (_dictionaries.TryGet(id, out var content)) return content;
        var stored = loadDictionaryData(id) ?? throw Corrupt($"its keyframe dictionary {id} is missing");
        using var d = new Decompressor();
        content = d.Unwrap(stored, MaxDictionaryInput).ToArray();
        _dictionaries.Set(id, content);
        return content;
    }

    /// <summary>Compress without a dictionary (used for keyframe rows and export helpers).</summary>
    internal static byte[] CompressPlain(ReadOnlySpan<byte> raw)
    {
        using var c = new Compressor(CompressionLevel);
        return c.Wrap(raw).ToArray();
    }

    private static byte[] Check(byte[] result, int rawSize)
        => result.Length == rawSize ? result : throw Corrupt($"it decoded to {result.Length} bytes instead of {rawSize}");

    private static FleException Corrupt(string why) => new(FleErrorIds.CorruptState, FleErrorKind.InvalidData,
        $"A stored game state is damaged: {why}. Run Test-FleDatabase to check the database, and restore from a backup if needed.");

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
            foreach (var w in _writers.Values) w.Dispose();
            _writers.Clear();
        }
    }

    private sealed class WriterState : IDisposable
    {
        public WriterState(long id, byte[] content, Compressor? compressor = null)
        {
            DictionaryId = id;
            if (compressor is null)
            {
                compressor = new Compressor(CompressionLevel);
                compressor.LoadDictionary(content);
            }
            Compressor = compressor;
        }

        public long DictionaryId { get; }
        public Compressor Compressor { get; }
        public int FirstDeltaSize { get; set; }
        public void Dispose() => Compressor.Dispose();
    }
}

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
