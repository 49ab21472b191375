using Fle.Core;
using Fle.Core.Codec;
using Xunit;
using ZstdSharp;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Codec;

/// <summary>
/// The system's libzstd and the managed port (ZstdSharp) write and read the same frames, so a database written on a
/// machine with libzstd reads on one without (Windows) and back. Every primitive the codec uses, both ways.
/// </summary>
public sealed class ZstdTests
{
    /// <summary>libzstd, or null on a machine without it (then these tests have nothing to compare).</summary>
    private static NativeZstd? Native()
    {
        var n = Zstd.NativeLibraryOrNull;
        // This machine (Debian, CI) has libzstd.so.1: the native path must load here, or the speed-up silently vanishes.
        if (n is null && OperatingSystem.IsLinux() && (File.Exists("/usr/lib/x86_64-linux-gnu/libzstd.so.1") || File.Exists("/lib/x86_64-linux-gnu/libzstd.so.1")))
            Assert.Fail("libzstd.so.1 is installed but Fle did not load it");
        return n;
    }

    public static TheoryData<string> Inputs => new("fle-state", "similar-state", "random", "zeros", "one-byte");

    private static byte[] Input(string name) => name switch
    {
        "fle-state" => GameState(7, 0, 60_000),
        "similar-state" => GameState(7, 3, 60_000),
        "random" => RandomBytes(30_000, 4),
        "zeros" => new byte[100_000],
        "one-byte" => [42],
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Plain_frames_read_back_across_implementations(string name)
    {
        if (Native() is not { } native) return;
        var raw = Input(name);
        foreach (var level in new[] { StateCodec.DeltaLevel, StateCodec.CompressionLevel, StateCodec.KeyframeLevel })
        {
            var n = native.Compress(raw, level);
            using (var d = new Decompressor())
                SameBytes(raw, d.Unwrap(n).ToArray(), $"{name}, native level {level} read by ZstdSharp");
            byte[] m;
            using (var c = new Compressor(level)) m = c.Wrap(raw).ToArray();
            SameBytes(raw, native.Decompress(m, raw.Length, default), $"{name}, ZstdSharp level {level} read by libzstd");
            Assert.Equal((ulong)raw.Length, NativeZstd.FrameContentSize(m));
        }
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Dictionary_frames_read_back_across_implementations(string name)
    {
        if (Native() is not { } native) return;
        var dictionary = GameState(7, 1, 60_000);
        var raw = Input(name);
        using var viaNative = new Zstd.DictionaryCompressor(dictionary, StateCodec.DeltaLevel, native);
        using var viaManaged = new Zstd.DictionaryCompressor(dictionary, StateCodec.DeltaLevel, null);
        var n = viaNative.Compress(raw);
        var m = viaManaged.Compress(raw);
        using (var d = new Decompressor())
        {
            d.LoadDictionary(dictionary);
            SameBytes(raw, d.Unwrap(n).ToArray(), $"{name}: libzstd with a dictionary, read by ZstdSharp");
        }
        SameBytes(raw, native.Decompress(m, raw.Length, dictionary), $"{name}: ZstdSharp with a dictionary, read by libzstd");
        SameBytes(raw, native.Decompress(n, raw.Length, dictionary), $"{name}: libzstd both ways");
        if (name == "similar-state") Assert.True(n.Length < raw.Length / 20, $"a similar state compressed to {n.Length} of {raw.Length} bytes");
    }

    [Fact]
    public void Damaged_frames_and_wrong_sizes_fail_cleanly_in_both_implementations()
    {
        if (Native() is not { } native) return;
        var raw = GameState(8, 0, 20_000);
        var frame = native.Compress(raw, 3);
        var damaged = (byte[])frame.Clone();
        damaged[damaged.Length / 2] ^= 0xFF;
        foreach (var useNative in new[] { true, false })
        {
            var impl = useNative ? "libzstd" : "ZstdSharp";
            Assert.Throws<ZstdFailure>(() => Decode(useNative, frame, raw.Length + 1));
            Assert.Throws<ZstdFailure>(() => Decode(useNative, frame, raw.Length - 1));
            Assert.Throws<ZstdFailure>(() => Decode(useNative, RandomBytes(100, 9), 100));
            Assert.Throws<ZstdFailure>(() => Decode(useNative, frame.AsSpan(0, frame.Length - 10).ToArray(), raw.Length));
            try
            {
                // a flipped byte in the middle is caught by the frame's structure (no checksum), or decodes to other bytes
                var result = Decode(useNative, damaged, raw.Length);
                Assert.False(result.AsSpan().SequenceEqual(raw), $"{impl}: a damaged frame decoded to the original");
            }
            catch (ZstdFailure) { }
            SameBytes(raw, Decode(useNative, frame, raw.Length), $"{impl}: the intact frame");
        }

        byte[] Decode(bool useNative, byte[] data, int size)
            => useNative ? native.Decompress(data, size, default) : Zstd.DecompressManaged(data, size);
    }

    [Fact]
    public void The_codec_says_which_implementation_it_uses()
    {
        Assert.Matches(Zstd.NativeLibraryOrNull is null ? "^ZstdSharp" : @"^libzstd 1\.\d+\.\d+ \(native\)$|^ZstdSharp", Zstd.Implementation);
    }
}
