using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using ZstdSharp;

namespace Fle.Core.Codec;

/// <summary>A zstd frame could not be written or read (damaged data, a wrong dictionary, a size that does not match).</summary>
internal sealed class ZstdFailure(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// zstd for the state codec. It uses the system's libzstd when the machine has one (every mainstream Linux does; on
/// macOS with Homebrew), and ZstdSharp, the managed port, otherwise. Both write and read the same standard zstd
/// frames, so a database written with one reads with the other. bench/ measured libzstd 1.5.4 here at about 4x the
/// managed port's speed for a delta against a keyframe and 6x for a plain level-3 frame. FLE_ZSTD=managed forces
/// the port. On Windows the port is always used (no system libzstd, and no DLL is loaded from the search path).
/// </summary>
internal static class Zstd
{
    private static readonly NativeZstd? Native = NativeZstd.TryLoad();

    /// <summary>The system's libzstd, when this machine has a usable one (whatever <see cref="UseNative"/> says).</summary>
    internal static NativeZstd? NativeLibraryOrNull => Native;

    /// <summary>False forces the managed port (tests run every codec path both ways).</summary>
    internal static bool UseNative { get; set; } = Native is not null
        && !string.Equals(Environment.GetEnvironmentVariable("FLE_ZSTD"), "managed", StringComparison.OrdinalIgnoreCase);

    private static NativeZstd? Active => UseNative ? Native : null;

    /// <summary>Which implementation compresses the states (for diagnostics and the benchmark).</summary>
    public static string Implementation => Active is { } n ? $"libzstd {n.Version} (native)" : "ZstdSharp (managed)";

    /// <summary>Compress without a dictionary.</summary>
    public static byte[] Compress(ReadOnlySpan<byte> src, int level)
    {
        if (Active is { } n) return n.Compress(src, level);
        using var c = new Compressor(level);
        return c.Wrap(src).ToArray();
    }

    /// <summary>Decompress a frame that must hold exactly <paramref name="size"/> bytes (optionally against a raw-content dictionary).</summary>
    public static byte[] Decompress(ReadOnlySpan<byte> src, int size, ReadOnlySpan<byte> dictionary = default)
    {
        return Active is { } n ? n.Decompress(src, size, dictionary) : DecompressManaged(src, size, dictionary);
    }

    /// <summary><see cref="Decompress"/> with the managed port.</summary>
    internal static byte[] DecompressManaged(ReadOnlySpan<byte> src, int size, ReadOnlySpan<byte> dictionary = default)
    {
        try
        {
            using var d = new Decompressor();
            if (!dictionary.IsEmpty) d.LoadDictionary(dictionary);
            var result = new byte[size];
            var written = d.Unwrap(src, result.AsSpan());
            if (written != size) throw new ZstdFailure($"it decoded to {written} bytes instead of {size}");
            return result;
        }
        catch (ZstdException e) { throw new ZstdFailure(e.Message, e); }
        catch (ArgumentException e) { throw new ZstdFailure(e.Message, e); }
    }

    /// <summary>Decompress a frame of unknown size, at most <paramref name="maxSize"/> bytes.</summary>
    public static byte[] DecompressUpTo(ReadOnlySpan<byte> src, int maxSize, ReadOnlySpan<byte> dictionary = default)
    {
        if (Active is not null && NativeZstd.FrameContentSize(src) is { } known)
        {
            if (known > (ulong)maxSize) throw new ZstdFailure($"its frame declares {known} bytes, more than {maxSize}");
            return Decompress(src, (int)known, dictionary);
        }
        try
        {
            using var d = new Decompressor();
            if (!dictionary.IsEmpty) d.LoadDictionary(dictionary);
            return d.Unwrap(src, maxSize).ToArray();
        }
        catch (ZstdException e) { throw new ZstdFailure(e.Message, e); }
    }

    /// <summary>A compressor with a raw-content dictionary, for many inputs. Not thread-safe: callers lock around it.</summary>
    public static DictionaryCompressor WithDictionary(byte[] dictionary, int level) => new(dictionary, level, Active);

    /// <summary>
    /// The dictionary's tables are built by <see cref="Prepare"/> (or the first <see cref="Compress"/>), once, so that a
    /// task can build them on another core (<see cref="WarmUp"/>). Disposing frees the native memory; never dispose while
    /// compressing.
    /// </summary>
    internal sealed class DictionaryCompressor : IDisposable
    {
        private readonly byte[] _dictionary;
        private readonly int _level;
        private readonly NativeZstd? _native;
        private readonly object _gate = new(); // building the tables, and disposing
        private NativeZstd.Prepared? _prepared;
        private Compressor? _managed;
        private bool _disposed;

        internal DictionaryCompressor(byte[] dictionary, int level, NativeZstd? native)
        {
            _dictionary = dictionary;
            _level = level;
            _native = native;
        }

        /// <summary>
        /// Build the tables if no one has: a caller that finds another thread building them waits for that build. So a
        /// warm-up task still waiting for a core (a busy machine) never holds up the writer: the writer builds the tables
        /// itself (about 50-60 µs for an FLE state) and the task then finds them built.
        /// </summary>
        public void Prepare()
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                BuildTables();
            }
        }

        /// <summary>For a task on another core: build the tables unless they are built, or the compressor is disposed.</summary>
        public void WarmUp()
        {
            try
            {
                lock (_gate)
                {
                    if (!_disposed) BuildTables();
                }
            }
            catch (ZstdFailure) { } // the writer's Prepare builds them again and reports the failure
        }

        private void BuildTables()
        {
            if (_prepared is not null || _managed is not null) return;
            if (_native is not null) _prepared = _native.PrepareDictionary(_dictionary, _level);
            else
            {
                var c = new Compressor(_level);
                c.LoadDictionary(_dictionary);
                c.Wrap(_dictionary.AsSpan(0, Math.Min(1, _dictionary.Length))); // zstd builds the tables on first use
                _managed = c;
            }
        }

        public byte[] Compress(ReadOnlySpan<byte> src)
        {
            Prepare();
            return _prepared is { } p ? _native!.Compress(p, src) : _managed!.Wrap(src).ToArray();
        }

        public void Dispose()
        {
            lock (_gate)
            {
                if (_disposed) return;
                _disposed = true;
                _prepared?.Dispose();
                _managed?.Dispose();
            }
        }
    }
}

/// <summary>The system's libzstd through function pointers (no DllImport: a machine without it just uses the managed port).</summary>
internal sealed unsafe class NativeZstd
{
    private const int MinVersion = 10400; // 1.4.0: every function below, with these semantics
    private const ulong ContentSizeUnknown = unchecked((ulong)-1), ContentSizeError = unchecked((ulong)-2);
    private const int PooledContexts = 8;

    private readonly delegate* unmanaged<nuint, uint> _isError;
    private readonly delegate* unmanaged<nuint, byte*> _errorName;
    private readonly delegate* unmanaged<nuint, nuint> _bound;
    private readonly delegate* unmanaged<nint> _createCCtx, _createDCtx;
    private readonly delegate* unmanaged<nint, nuint> _freeCCtx, _freeDCtx, _freeCDict;
    private readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint> _compressCCtx;
    private readonly delegate* unmanaged<byte*, nuint, int, nint> _createCDict;
    private readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nint, nuint> _compressUsingCDict;
    private readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, byte*, nuint, nuint> _decompressUsingDict;
    private static delegate* unmanaged<byte*, nuint, ulong> s_frameContentSize;
    private readonly ConcurrentBag<nint> _cctxs = [], _dctxs = [];

    public string Version { get; }

    private NativeZstd(nint lib, uint version)
    {
        nint F(string name) => NativeLibrary.GetExport(lib, name);
        _isError = (delegate* unmanaged<nuint, uint>)F("ZSTD_isError");
        _errorName = (delegate* unmanaged<nuint, byte*>)F("ZSTD_getErrorName");
        _bound = (delegate* unmanaged<nuint, nuint>)F("ZSTD_compressBound");
        _createCCtx = (delegate* unmanaged<nint>)F("ZSTD_createCCtx");
        _createDCtx = (delegate* unmanaged<nint>)F("ZSTD_createDCtx");
        _freeCCtx = (delegate* unmanaged<nint, nuint>)F("ZSTD_freeCCtx");
        _freeDCtx = (delegate* unmanaged<nint, nuint>)F("ZSTD_freeDCtx");
        _freeCDict = (delegate* unmanaged<nint, nuint>)F("ZSTD_freeCDict");
        _compressCCtx = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint>)F("ZSTD_compressCCtx");
        _createCDict = (delegate* unmanaged<byte*, nuint, int, nint>)F("ZSTD_createCDict");
        _compressUsingCDict = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nint, nuint>)F("ZSTD_compress_usingCDict");
        _decompressUsingDict = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, byte*, nuint, nuint>)F("ZSTD_decompress_usingDict");
        s_frameContentSize = (delegate* unmanaged<byte*, nuint, ulong>)F("ZSTD_getFrameContentSize");
        Version = $"{version / 10000}.{version / 100 % 100}.{version % 100}";
    }

    /// <summary>libzstd if this machine has a recent enough one, else null.</summary>
    public static NativeZstd? TryLoad()
    {
        if (OperatingSystem.IsWindows()) return null;
        string[] names = OperatingSystem.IsMacOS()
            ? ["libzstd.1.dylib", "/opt/homebrew/lib/libzstd.1.dylib", "/usr/local/lib/libzstd.1.dylib"]
            : ["libzstd.so.1"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            try
            {
                if (!NativeLibrary.TryGetExport(lib, "ZSTD_versionNumber", out var v)) continue;
                var version = ((delegate* unmanaged<uint>)v)();
                if (version < MinVersion) continue;
                var n = new NativeZstd(lib, version);
                n.SelfTest();
                return n;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or ZstdFailure)
            {
                // an incomplete or misbehaving library: use the managed port
            }
        }
        return null;
    }

    /// <summary>Round-trip a small input with and without a dictionary before trusting the library.</summary>
    private void SelfTest()
    {
        var sample = "Fle self-test: the quick brown fox jumps over the lazy dog, twice: the quick brown fox."u8.ToArray();
        if (!Decompress(Compress(sample, 3), sample.Length, default).AsSpan().SequenceEqual(sample)) throw new ZstdFailure("self-test");
        using var p = PrepareDictionary(sample, 1);
        if (!Decompress(Compress(p, sample), sample.Length, sample).AsSpan().SequenceEqual(sample)) throw new ZstdFailure("self-test with a dictionary");
    }

    private nuint Check(nuint code)
    {
        if (_isError(code) == 0) return code;
        throw new ZstdFailure(Marshal.PtrToStringAnsi((nint)_errorName(code)) ?? "zstd error");
    }

    private nint RentC() => _cctxs.TryTake(out var c) ? c : _createCCtx() is var n && n != 0 ? n : throw new OutOfMemoryException("ZSTD_createCCtx failed");
    private nint RentD() => _dctxs.TryTake(out var c) ? c : _createDCtx() is var n && n != 0 ? n : throw new OutOfMemoryException("ZSTD_createDCtx failed");

    private void Return(ConcurrentBag<nint> bag, nint ctx, delegate* unmanaged<nint, nuint> free)
    {
        if (bag.Count < PooledContexts) bag.Add(ctx);
        else free(ctx);
    }

    public byte[] Compress(ReadOnlySpan<byte> src, int level)
    {
        var ctx = RentC();
        try
        {
            var dst = new byte[(int)_bound((nuint)src.Length)];
            nuint n;
            fixed (byte* s = src)
            fixed (byte* d = dst)
                n = Check(_compressCCtx(ctx, d, (nuint)dst.Length, s, (nuint)src.Length, level));
            return dst.AsSpan(0, (int)n).ToArray();
        }
        finally
        {
            Return(_cctxs, ctx, _freeCCtx);
        }
    }

    public byte[] Decompress(ReadOnlySpan<byte> src, int size, ReadOnlySpan<byte> dictionary)
    {
        var ctx = RentD();
        try
        {
            var dst = new byte[size];
            nuint n;
            fixed (byte* s = src)
            fixed (byte* d = dst)
            fixed (byte* dict = dictionary)
                n = Check(_decompressUsingDict(ctx, d, (nuint)dst.Length, s, (nuint)src.Length, dict, (nuint)dictionary.Length));
            return n == (nuint)size ? dst : throw new ZstdFailure($"it decoded to {n} bytes instead of {size}");
        }
        finally
        {
            Return(_dctxs, ctx, _freeDCtx);
        }
    }

    /// <summary>The content size a frame declares, or null when it does not say (or is not a frame).</summary>
    public static ulong? FrameContentSize(ReadOnlySpan<byte> src)
    {
        if (s_frameContentSize == null) return null;
        fixed (byte* s = src)
        {
            var n = s_frameContentSize(s, (nuint)src.Length);
            return n is ContentSizeUnknown or ContentSizeError ? null : n;
        }
    }

    /// <summary>A digested dictionary (ZSTD_CDict, tables built now) and its own compression context.</summary>
    public Prepared PrepareDictionary(byte[] dictionary, int level)
    {
        nint cdict;
        fixed (byte* d = dictionary) cdict = _createCDict(d, (nuint)dictionary.Length, level);
        if (cdict == 0) throw new ZstdFailure("ZSTD_createCDict failed");
        return new Prepared(this, cdict, RentC());
    }

    public byte[] Compress(Prepared p, ReadOnlySpan<byte> src)
    {
        var dst = new byte[(int)_bound((nuint)src.Length)];
        nuint n;
        fixed (byte* s = src)
        fixed (byte* d = dst)
            n = Check(_compressUsingCDict(p.CCtx, d, (nuint)dst.Length, s, (nuint)src.Length, p.CDict));
        return dst.AsSpan(0, (int)n).ToArray();
    }

    internal sealed class Prepared(NativeZstd owner, nint cdict, nint cctx) : IDisposable
    {
        public nint CDict { get; private set; } = cdict;
        public nint CCtx { get; private set; } = cctx;

        public void Dispose()
        {
            if (CDict != 0) owner._freeCDict(CDict);
            if (CCtx != 0) owner.Return(owner._cctxs, CCtx, owner._freeCCtx);
            CDict = 0;
            CCtx = 0;
        }
    }
}
