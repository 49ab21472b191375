using System.Diagnostics;
using System.IO.Compression;
using ZstdSharp;

namespace Fle.Bench;

/// <summary>
/// Measures candidate state encodings on the generated states: bytes per state (as a fraction of the raw state),
/// encode and decode time. Each candidate decodes any state from at most its own bytes plus one keyframe.
/// </summary>
public static class CodecStudy
{
    public sealed record Result(string Name, double BytesPerState, double FractionOfRawState, double EncodeMicros, double DecodeMicros, int Keyframes);

    public static List<Result> Run(IReadOnlyList<byte[]> states, Action<string> log, bool quick = false)
    {
        var results = new List<Result>();
        var raw = states.Average(s => (double)s.Length);
        void Add(Result r)
        {
            results.Add(r);
            log($"  {r.Name,-40} {r.BytesPerState,9:N0} B/state  {100 * r.FractionOfRawState,6:F2}% of raw  enc {r.EncodeMicros,7:N0} µs  dec {r.DecodeMicros,6:N0} µs  keyframes {r.Keyframes}");
        }

        // whole-state, no redundancy across steps
        Add(Independent("zlib level 6 (FLE-style, per state)", states, raw, s => ZLib(s, CompressionLevel.Optimal), b => UnZLib(b)));
        Add(Independent("deflate smallest-size", states, raw, s => Deflate(s, CompressionLevel.SmallestSize), b => UnDeflate(b)));
        Add(Independent("brotli q5 w22", states, raw, s => Brotli(s, 5), b => UnBrotli(b)));
        Add(Independent("brotli q9 w22", states, raw, s => Brotli(s, 9), b => UnBrotli(b)));
        if (!quick) Add(Independent("brotli q11 w22", states, raw, s => Brotli(s, 11), b => UnBrotli(b)));
        foreach (var level in quick ? new[] { 1, 3, 9 } : new[] { 1, 3, 9, 19 })
        {
            var l = level;
            Add(Independent($"zstd level {l}", states, raw, s => { using var c = new Compressor(l); return c.Wrap(s).ToArray(); },
                b => { using var d = new Decompressor(); return d.Unwrap(b).ToArray(); }));
        }

        // keyframe dictionary (the engine's scheme): the keyframe state is the zstd raw-content dictionary
        foreach (var level in new[] { 1, 3, 6 })
            Add(Keyframed($"zstd-dict L{level}, drift rule (old engine)", states, raw, level, 3, new DriftPolicy()));
        foreach (var every in new[] { 25, 100, 400 })
            Add(Keyframed($"zstd-dict L3, keyframe every {every}", states, raw, 3, 3, new FixedPolicy(every)));
        Add(Keyframed("zstd-dict L3, renewal rule, keyframe L3", states, raw, 3, 3, new RenewalPolicy()));
        Add(Keyframed("zstd-dict L3, renewal rule, keyframe L9", states, raw, 3, 9, new RenewalPolicy()));
        if (!quick) Add(Keyframed("zstd-dict L6, renewal rule, keyframe L19", states, raw, 6, 19, new RenewalPolicy()));
        Add(Keyframed("zstd-dict L3, renewal, keyframes vs root", states, raw, 3, 9, new RenewalPolicy(), rooted: true));
        Add(Keyframed("zstd-dict L3, rooted L9, greedy 0.5", states, raw, 3, 9, new HalfKeyframePolicy(), rooted: true));
        Add(Keyframed("zstd-dict L3, rooted L3, greedy 0.5", states, raw, 3, 3, new HalfKeyframePolicy(), rooted: true));
        Add(Keyframed("zstd-dict L1, rooted L1, greedy 0.5", states, raw, 1, 1, new HalfKeyframePolicy(), rooted: true));
        Add(Keyframed("zstd-dict L1, rooted L3, greedy 0.5", states, raw, 1, 3, new HalfKeyframePolicy(), rooted: true));
        foreach (var f in quick ? new[] { 0.3, 0.7 } : new[] { 0.3, 0.7, 0.9 })
            Add(Keyframed($"zstd-dict L3, rooted, greedy {f}", states, raw, 3, 9, new GreedyPolicy(f), rooted: true));
        return results;
    }

    private static Result Independent(string name, IReadOnlyList<byte[]> all, double raw, Func<byte[], byte[]> enc, Func<byte[], byte[]> dec)
    {
        // each state is encoded alone, so a regular sample (every 5th state) gives the same mean without the slow levels' cost
        var states = all.Where((_, i) => i % 5 == 0).ToList();
        raw = states.Average(s => (double)s.Length);
        long total = 0;
        var sw = Stopwatch.StartNew();
        var encoded = new byte[states.Count][];
        for (var i = 0; i < states.Count; i++) { encoded[i] = enc(states[i]); total += encoded[i].Length; }
        var encUs = sw.Elapsed.TotalMicroseconds / states.Count;
        sw.Restart();
        var sample = Math.Min(states.Count, 200);
        for (var i = 0; i < sample; i++)
        {
            var k = (int)((long)i * states.Count / sample);
            if (!dec(encoded[k]).AsSpan().SequenceEqual(states[k])) throw new InvalidOperationException($"{name}: state {k} did not round-trip");
        }
        var decUs = sw.Elapsed.TotalMicroseconds / sample;
        var per = (double)total / states.Count;
        return new Result(name, per, per / raw, encUs, decUs, 0);
    }

    public interface IKeyframePolicy
    {
        void Reset(long keyframeCost, int firstDelta);
        bool ShouldRestart(int delta, int rawSize);
        void Accept(int delta);
    }

    /// <summary>The policy the engine had: a new keyframe when a delta exceeds 2× the first delta + 1 KiB and 5% of the state.</summary>
    public sealed class DriftPolicy : IKeyframePolicy
    {
        private int _first;
        public void Reset(long keyframeCost, int firstDelta) => _first = 0;
        public bool ShouldRestart(int delta, int rawSize) => _first > 0 && delta > 2 * _first + 1024 && delta > rawSize / 20;
        public void Accept(int delta) { if (_first == 0) _first = delta; }
    }

    public sealed class FixedPolicy(int every) : IKeyframePolicy
    {
        private int _n;
        public void Reset(long keyframeCost, int firstDelta) => _n = 0;
        public bool ShouldRestart(int delta, int rawSize) => _n >= every;
        public void Accept(int delta) => _n++;
    }

    /// <summary>
    /// Renewal rule: keep the keyframe while the recent delta size (a moving average) stays below the average cost per
    /// step of the current segment, keyframe included; when it exceeds it, a new keyframe lowers the long-run average.
    /// </summary>
    public sealed class RenewalPolicy : IKeyframePolicy
    {
        private long _segmentBytes;
        private int _count;
        private double _recent = -1;
        public void Reset(long keyframeCost, int firstDelta) { _segmentBytes = Math.Max(1, keyframeCost); _count = 1; _recent = -1; }
        public bool ShouldRestart(int delta, int rawSize)
        {
            if (_count < 8) return false;
            var recent = _recent < 0 ? delta : 0.875 * _recent + 0.125 * delta;
            return recent > (double)_segmentBytes / _count;
        }
        public void Accept(int delta) { _segmentBytes += delta; _count++; _recent = _recent < 0 ? delta : 0.875 * _recent + 0.125 * delta; }
    }

    /// <summary>The engine's restart rule before issue 15: a delta over half the last keyframe (or a quarter of the state). The engine's own policy is KeyframeStudy's.</summary>
    public sealed class HalfKeyframePolicy : IKeyframePolicy
    {
        private long _k;
        public void Reset(long keyframeCost, int firstDelta) => _k = Math.Max(1, keyframeCost);
        public bool ShouldRestart(int delta, int rawSize) => delta > 256 && (delta > 0.5 * _k || delta > rawSize / 4);
        public void Accept(int delta) { }
    }

    public sealed class GreedyPolicy(double f) : IKeyframePolicy
    {
        private long _k;
        public void Reset(long keyframeCost, int firstDelta) => _k = keyframeCost;
        public bool ShouldRestart(int delta, int rawSize) => delta > f * _k;
        public void Accept(int delta) { }
    }

    private static Result Keyframed(string name, IReadOnlyList<byte[]> states, double raw, int level, int keyframeLevel, IKeyframePolicy policy, bool rooted = false)
    {
        byte[]? root = null;
        long total = 0;
        var keyframes = 0;
        Compressor? dictCompressor = null;
        var keyIndex = new int[states.Count];
        var encoded = new byte[states.Count][];
        var dicts = new List<byte[]>();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            if (dictCompressor is not null)
            {
                var delta = dictCompressor.Wrap(s).ToArray();
                if (!policy.ShouldRestart(delta.Length, s.Length))
                {
                    policy.Accept(delta.Length);
                    encoded[i] = delta;
                    keyIndex[i] = dicts.Count - 1;
                    total += delta.Length;
                    continue;
                }
            }
            // new keyframe: the dictionary row (compressed whole state) plus the state's own row (compressed against itself)
            dictCompressor?.Dispose();
            dictCompressor = new Compressor(level);
            dictCompressor.LoadDictionary(s);
            using (var kc = new Compressor(keyframeLevel))
            {
                if (rooted && root is not null) kc.LoadDictionary(root);
                root ??= s;
                var stored = kc.Wrap(s).ToArray();
                total += stored.Length;
                var self = dictCompressor.Wrap(s).ToArray();
                total += self.Length;
                encoded[i] = self;
                policy.Reset(stored.Length + self.Length, self.Length);
            }
            dicts.Add(s);
            keyIndex[i] = dicts.Count - 1;
            keyframes++;
        }
        dictCompressor?.Dispose();
        var encUs = sw.Elapsed.TotalMicroseconds / states.Count;
        sw.Restart();
        var sample = Math.Min(states.Count, 200);
        for (var i = 0; i < sample; i++)
        {
            var k = (int)((long)i * states.Count / sample);
            using var d = new Decompressor();
            d.LoadDictionary(dicts[keyIndex[k]]);
            if (!d.Unwrap(encoded[k]).ToArray().AsSpan().SequenceEqual(states[k])) throw new InvalidOperationException($"{name}: state {k} did not round-trip");
        }
        var decUs = sw.Elapsed.TotalMicroseconds / sample;
        var per = (double)total / states.Count;
        return new Result(name, per, per / raw, encUs, decUs, keyframes);
    }

    private static byte[] ZLib(byte[] s, CompressionLevel l)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, l, true)) z.Write(s);
        return ms.ToArray();
    }

    private static byte[] UnZLib(byte[] b)
    {
        using var z = new ZLibStream(new MemoryStream(b), CompressionMode.Decompress);
        using var o = new MemoryStream();
        z.CopyTo(o);
        return o.ToArray();
    }

    private static byte[] Deflate(byte[] s, CompressionLevel l)
    {
        using var ms = new MemoryStream();
        using (var z = new DeflateStream(ms, l, true)) z.Write(s);
        return ms.ToArray();
    }

    private static byte[] UnDeflate(byte[] b)
    {
        using var z = new DeflateStream(new MemoryStream(b), CompressionMode.Decompress);
        using var o = new MemoryStream();
        z.CopyTo(o);
        return o.ToArray();
    }

    private static byte[] Brotli(byte[] s, int q)
    {
        var dest = new byte[BrotliEncoder.GetMaxCompressedLength(s.Length)];
        if (!BrotliEncoder.TryCompress(s, dest, out var n, q, 22)) throw new InvalidOperationException("brotli");
        return dest.AsSpan(0, n).ToArray();
    }

    private static byte[] UnBrotli(byte[] b)
    {
        using var z = new BrotliStream(new MemoryStream(b), CompressionMode.Decompress);
        using var o = new MemoryStream();
        z.CopyTo(o);
        return o.ToArray();
    }
}
