using System.Diagnostics;
using ZstdSharp;

namespace Fle.Bench;

public static partial class Commands
{
    public static int ProfileKeyframe(Args o)
    {
        var states = new FleWorkload().Take(o.Int("steps", 400)).Select(s => s.State).ToList();
        var root = states[0];
        double T(Action a, int reps = 1) { var t0 = Stopwatch.GetTimestamp(); for (var i = 0; i < reps; i++) a(); return Engine.Ms(Stopwatch.GetTimestamp() - t0) / reps; }
        for (var pass = 0; pass < 2; pass++)
        {
            double newDict = 0, self = 0, r1 = 0, r3 = 0, p9 = 0, p3 = 0, delta = 0, sha = 0, dispose = 0; int n = 0;
            using var rc1 = new Compressor(1); rc1.LoadDictionary(root);
            using var rc3 = new Compressor(3); rc3.LoadDictionary(root);
            rc1.Wrap(root); rc3.Wrap(root);
            foreach (var s in states.Skip(1).Where((_, i) => i % 4 == 0))
            {
                n++;
                Compressor? c = null;
                newDict += T(() => { c = new Compressor(1); c.LoadDictionary(s); });
                self += T(() => c!.Wrap(s).ToArray());
                delta += T(() => c!.Wrap(states[states.Count - 1]).ToArray());
                dispose += T(() => c!.Dispose());
                r1 += T(() => rc1.Wrap(s).ToArray());
                r3 += T(() => rc3.Wrap(s).ToArray());
                p3 += T(() => { using var x = new Compressor(3); x.Wrap(s).ToArray(); });
                p9 += T(() => { using var x = new Compressor(9); x.Wrap(s).ToArray(); });
                sha += T(() => System.Security.Cryptography.SHA256.HashData(s));
            }
            Log($"per keyframe (ms): new+load {newDict / n:F3}, self-wrap {self / n:F3} (first use), next delta {delta / n:F3}, dispose {dispose / n:F3}, rooted L1 {r1 / n:F3}, rooted L3 {r3 / n:F3}, plain L3 {p3 / n:F3}, plain L9 {p9 / n:F3}, sha256 {sha / n:F3}");
        }
        return 0;
    }
}
