using System.Reflection;
using Fle.Core;
using Fle.Core.Codec;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Codec;

/// <summary>The keyframe codec on its own (no database): encode/decode paths and its thread safety.</summary>
public sealed class StateCodecTests
{
    private static byte[] Decode(StateCodec codec, EncodedState e, Dictionary<long, byte[]> dictionaries)
        => codec.Decode(e.Codec, e.Data, e.RawSize, e.DictionaryId, id => dictionaries.TryGetValue(id, out var d) ? StateCodec.CompressPlain(d) : null);

    [Fact]
    public void Every_encoding_path_decodes_to_the_original_bytes()
    {
        using var codec = new StateCodec();
        var dictionaries = new Dictionary<long, byte[]>();
        long nextId = 1;
        var inputs = new[]
        {
            Array.Empty<byte>(), new byte[] { 1, 2, 3 }, RandomBytes(100, 1), new byte[300], GameState(1, 0, 10_000),
            GameState(1, 1, 10_000), GameState(1, 2, 10_000), RandomBytes(10_000, 2), [0x37, 0xA4, 0x30, 0xEC, .. GameState(1, 3, 5_000)],
            GameState(2, 0, 10_000), GameState(2, 1, 10_000),
        };
        var seen = new HashSet<string>();
        foreach (var raw in inputs)
        {
            var e = codec.Encode("t", raw, () => null);
            long? newId = e.NewDictionaryData is null ? null : nextId++;
            if (newId is { } id) dictionaries[id] = raw;
            codec.Committed("t", e, newId);
            seen.Add(e.CodecName);
            var withId = new EncodedState { Codec = e.Codec, Data = e.Data, RawSize = e.RawSize, DictionaryId = newId ?? e.DictionaryId };
            SameBytes(raw, Decode(codec, withId, dictionaries), $"{raw.Length}-byte input ({e.CodecName})");
            SameBytes(raw, Decode(new StateCodec(), withId, dictionaries), $"{raw.Length}-byte input ({e.CodecName}), cold codec");
        }
        Assert.Equal(["keyframe", "raw", "zstd", "zstd-dict"], seen.Order());
    }

    [Fact]
    public void Damaged_data_and_unknown_codecs_fail_with_CorruptGameState()
    {
        using var codec = new StateCodec();
        var raw = GameState(3, 0, 5_000);
        var z = StateCodec.CompressPlain(raw);
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode(StateCodecKind.Zstd, RandomBytes(200, 3), raw.Length, null, _ => null));
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode(StateCodecKind.Zstd, z, raw.Length + 1, null, _ => null));
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode(StateCodecKind.ZstdDictionary, z, raw.Length, null, _ => null));
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode(StateCodecKind.ZstdDictionary, z, raw.Length, 42, _ => null));
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode((StateCodecKind)9, z, raw.Length, null, _ => null));
        ThrowsFle(FleErrorIds.CorruptState, () => codec.Decode(StateCodecKind.Raw, [1, 2, 3], 4, null, _ => null));
        SameBytes(raw, codec.Decode(StateCodecKind.Zstd, z, raw.Length, null, _ => null), "intact zstd");
    }

    [Fact]
    public void A_writer_waiting_for_a_keyframe_that_is_forgotten_meanwhile_starts_a_new_keyframe()
    {
        using var codec = new StateCodec();
        var first = codec.Encode("t", GameState(4, 0, 20_000), () => null);
        codec.Committed("t", first, 1);

        // Hold the keyframe's lock, as a long compression of another thread would.
        var writers = (System.Collections.IDictionary)typeof(StateCodec).GetField("_writers", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(codec)!;
        var keyframe = writers["t"]!;
        EncodedState? result = null;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = codec.Encode("t", GameState(4, 1, 20_000), () => null); }
            catch (Exception e) { error = e; }
        });
        lock (keyframe)
        {
            thread.Start();
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while ((thread.ThreadState & ThreadState.WaitSleepJoin) == 0 && waited.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(1);
            Assert.True((thread.ThreadState & ThreadState.WaitSleepJoin) != 0, "the encoding thread never waited for the keyframe");
            codec.Forget("t"); // the trajectory was deleted: its keyframe is disposed
        }
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)));

        Assert.Null(error);
        Assert.NotNull(result);
        Assert.NotNull(result.NewDictionaryData); // a new keyframe, not a delta against the disposed one
        Assert.Null(result.DictionaryId);
    }
}
