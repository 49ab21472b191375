using System.Diagnostics;
using Fle.Core.Codec;

namespace Fle.Bench;

/// <summary>
/// Keyframe policies as the engine runs them (zstd through the engine's Zstd): the engine's own StateCodec (its levels:
/// StateCodec.DeltaLevel, RootedLevel, KeyframeLevel), and the engine before issue 15 (a keyframe when a delta exceeds
/// half the last keyframe; a new root when rooting saves less than a tenth; deltas at level 1 against the keyframe,
/// keyframe rows at level 1 against the trajectory's root, roots plain at level 9). Bytes are the stored rows, and the SQLite pages they fill (4 KB pages, rows appended in id
/// order, overflow pages counted; a row's other columns estimated), which is what a SQLite file pays.
/// </summary>
public static class KeyframeStudy
{
    public sealed record Result(string Name, int Keyframes, int Roots, double PayloadPerState, double SqlitePagesPerState, double EncodeMicros);

    public static List<Result> Run(IReadOnlyList<byte[]> states, Action<string> log)
    {
        var raw = states.Average(s => (double)s.Length);
        var results = new List<Result> { Before(states), Engine(states) };
        foreach (var r in results)
            log($"  {r.Name,-52} keyframes {r.Keyframes,4} (roots {r.Roots,3})  {r.PayloadPerState,6:N0} B/state = {100 * r.PayloadPerState / raw,5:F2}% of raw state;" +
                $" in SQLite pages {r.SqlitePagesPerState,6:N0} B/state  enc {r.EncodeMicros,4:N0} µs/state");
        return results;
    }

    /// <summary>The engine's StateCodec, one trajectory, keyframes numbered as a store would.</summary>
    private static Result Engine(IReadOnlyList<byte[]> states)
    {
        using var codec = new StateCodec();
        var dict = new List<int>();
        var rows = new List<int>();
        int roots = 0;
        long id = 0;
        var sw = Stopwatch.StartNew();
        foreach (var s in states)
        {
            var e = codec.Encode("t", s, () => null);
            rows.Add(e.Data.Length);
            if (e.NewDictionaryData is { } d)
            {
                dict.Add(d.Length);
                if (e.NewDictionaryRoot is null) roots++;
                codec.Committed("t", e, ++id);
            }
        }
        return Summarize($"engine: change rate, rent-or-buy (L{StateCodec.DeltaLevel}/L{StateCodec.RootedLevel}/L{StateCodec.KeyframeLevel})", dict, rows, roots, sw.Elapsed, states.Count);
    }

    /// <summary>The engine before issue 15: its rule and its levels.</summary>
    private static Result Before(IReadOnlyList<byte[]> states)
    {
        var dict = new List<int>();
        var rows = new List<int>();
        byte[]? root = null;
        var rootStored = 0;
        Zstd.DictionaryCompressor? rootC = null, keyC = null;
        long keyCost = 0;
        var roots = 0;
        var sw = Stopwatch.StartNew();
        foreach (var s in states)
        {
            if (keyC is not null)
            {
                var d = keyC.Compress(s).Length;
                if (!(d > 256 && (d > 0.5 * keyCost || d > s.Length / 4))) { rows.Add(d); continue; }
            }
            var stored = -1;
            if (root is not null)
            {
                var rooted = rootC!.Compress(s).Length + 16;
                if (rooted * 10L <= 9L * rootStored * s.Length / root.Length) stored = rooted;
            }
            if (stored < 0)
            {
                stored = Zstd.Compress(s, 9).Length;
                root = s;
                rootStored = stored;
                roots++;
                rootC?.Dispose();
                rootC = Zstd.WithDictionary(root, 1);
            }
            dict.Add(stored);
            rows.Add(0);
            keyC?.Dispose();
            keyC = Zstd.WithDictionary(s, 1);
            keyCost = stored;
        }
        rootC?.Dispose();
        keyC?.Dispose();
        return Summarize("before issue 15 (delta > half the keyframe; L1/L1/L9)", dict, rows, roots, sw.Elapsed, states.Count);
    }

    private static Result Summarize(string name, List<int> dict, List<int> rows, int roots, TimeSpan t, int n)
    {
        // other columns of a row: trajectory id (36), created_at / timestamp text (27), ids, sizes, codec, record header
        var pages = SqlitePages(dict.Select(x => x + 75)) + SqlitePages(rows.Select(x => x + 92));
        return new Result(name, dict.Count, roots, (dict.Sum(x => (double)x) + rows.Sum(x => (double)x)) / n, pages * 4096.0 / n, t.TotalMicroseconds / n);
    }

    /// <summary>SQLite table b-tree leaf pages (4 KB) for rows appended in id order, plus their overflow pages.</summary>
    public static int SqlitePages(IEnumerable<int> payloads, int pageSize = 4096)
    {
        int maxLocal = pageSize - 35, minLocal = (pageSize - 12) * 32 / 255 - 23;
        int pages = 1, free = pageSize - 8;
        long rowid = 1;
        foreach (var p in payloads)
        {
            var k = minLocal + (p - minLocal) % (pageSize - 4);
            var local = p <= maxLocal ? p : k <= maxLocal ? k : minLocal;
            var overflow = p > local ? (p - local + pageSize - 5) / (pageSize - 4) : 0;
            var cell = 2 + Varint(p) + Varint(rowid++) + local + (overflow > 0 ? 4 : 0);
            if (cell > free) { pages++; free = pageSize - 8; }
            free -= cell;
            pages += overflow;
        }
        return pages;
    }

    private static int Varint(long v)
    {
        var n = 1;
        while (v >= 128) { v >>= 7; n++; }
        return n;
    }
}
