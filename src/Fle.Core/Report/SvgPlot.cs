using System.Text;

namespace Fle.Core.Report;

/// <summary>How a plot's values read: plain numbers, seconds or bytes.</summary>
internal enum AxisKind
{
    Number,
    Seconds,
    Bytes,
}

/// <summary>One trajectory's curve in a plot: its colour index, the points to draw, its failed-step marks and how many points it stands for.</summary>
internal sealed record PlotLine(int Color, string Name, string Label, IReadOnlyList<SamplePoint> Points, IReadOnlyList<FailureSampler.Mark> Failures, long Total);

/// <summary>
/// A line plot as inline SVG (no script): gridlines with labelled ticks, one polyline per trajectory, the failed steps
/// marked (a red ring on the curve where the failed step has a value, and a red tick under the curve at every failed
/// step's place), and a legend. Points carry data-step/data-value and a &lt;title&gt; (the browser's tooltip) when a curve
/// has few enough of them to show as dots.
/// </summary>
internal static class SvgPlot
{
    private const double Width = 620, Height = 230, Left = 62, Right = 12, Top = 10, Bottom = 34;
    private const int MaxDots = 150;

    public static void Write(StringBuilder w, string title, string key, AxisKind kind, IReadOnlyList<PlotLine> lines)
    {
        var drawn = lines.Where(l => l.Points.Count > 0 || l.Failures.Count > 0).ToList();
        w.Append("<figure class=\"plot\" data-metric=\"").Append(Html.Escape(key)).Append("\" data-series=\"").Append(drawn.Count(l => l.Points.Count > 0))
            .Append("\"><figcaption>").Append(Html.Escape(title)).Append("</figcaption>\n");
        if (drawn.Count == 0)
        {
            w.Append("<p class=\"note\">No step has a value here.</p></figure>\n");
            return;
        }
        var steps = drawn.SelectMany(l => l.Points.Select(p => p.Step).Concat(l.Failures.Select(f => f.Step))).ToList();
        var (x0, x1) = ((double)steps.Min(), (double)steps.Max());
        if (x1 - x0 < 1) { x0 -= 0.5; x1 += 0.5; }
        var values = drawn.SelectMany(l => l.Points).Select(p => p.Value).ToList();
        var (y0, y1) = values.Count == 0 ? (0d, 1d) : (values.Min(), values.Max());
        var yTicks = kind == AxisKind.Bytes ? ByteTicks(ref y0, ref y1) : Ticks(ref y0, ref y1, 5, integers: false);
        var xTicks = Ticks(ref x0, ref x1, 8, integers: true, extend: false);
        double X(double step) => Left + (step - x0) / (x1 - x0) * (Width - Left - Right);
        double Y(double v) => Top + (1 - (v - y0) / (y1 - y0)) * (Height - Top - Bottom);

        w.Append("<svg viewBox=\"0 0 ").Append(Html.Coord(Width)).Append(' ').Append(Html.Coord(Height))
            .Append("\" role=\"img\" aria-label=\"").Append(Html.Escape(title)).Append(" by step number\">\n<g class=\"grid\">");
        foreach (var t in yTicks)
        {
            var y = Html.Coord(Y(t));
            w.Append("<line x1=\"").Append(Html.Coord(Left)).Append("\" x2=\"").Append(Html.Coord(Width - Right)).Append("\" y1=\"").Append(y).Append("\" y2=\"").Append(y)
                .Append("\"/><text class=\"yl\" x=\"").Append(Html.Coord(Left - 6)).Append("\" y=\"").Append(y).Append("\">").Append(Html.Escape(Label(t, kind))).Append("</text>");
        }
        foreach (var t in xTicks)
        {
            var x = Html.Coord(X(t));
            w.Append("<line x1=\"").Append(x).Append("\" x2=\"").Append(x).Append("\" y1=\"").Append(Html.Coord(Top)).Append("\" y2=\"").Append(Html.Coord(Height - Bottom))
                .Append("\"/><text class=\"xl\" x=\"").Append(x).Append("\" y=\"").Append(Html.Coord(Height - Bottom + 14)).Append("\">").Append(Html.Count((long)t)).Append("</text>");
        }
        w.Append("<text class=\"xt\" x=\"").Append(Html.Coord(Left + (Width - Left - Right) / 2)).Append("\" y=\"").Append(Html.Coord(Height - 3)).Append("\">step</text></g>\n");

        foreach (var l in drawn)
        {
            w.Append("<g class=\"series c").Append(l.Color).Append("\" data-trajectory=\"").Append(Html.Escape(l.Name)).Append("\" data-points=\"").Append(l.Points.Count)
                .Append("\" data-total=\"").Append(l.Total).Append("\" data-failed-marks=\"").Append(l.Failures.Count).Append("\">");
            foreach (var f in l.Failures)
            {
                var x = Html.Coord(X(f.Step));
                w.Append("<path class=\"fail-mark\" data-step=\"").Append(f.Step).Append("\" d=\"M").Append(x).Append(' ').Append(Html.Coord(Height - Bottom))
                    .Append("v-9\"><title>").Append(Html.Escape(FailureTitle(l.Name, f))).Append("</title></path>");
            }
            if (l.Points.Count > 1)
            {
                w.Append("<polyline points=\"");
                foreach (var p in l.Points) w.Append(Html.Coord(X(p.Step))).Append(',').Append(Html.Coord(Y(p.Value))).Append(' ');
                w.Length--;
                w.Append("\"/>");
            }
            var dots = l.Points.Count <= MaxDots;
            foreach (var p in l.Points)
            {
                if (!dots && !p.Failed) continue;
                w.Append("<circle class=\"").Append(p.Failed ? "fail-pt" : "pt").Append("\" cx=\"").Append(Html.Coord(X(p.Step))).Append("\" cy=\"").Append(Html.Coord(Y(p.Value)))
                    .Append("\" r=\"").Append(p.Failed ? "4" : "2.5").Append("\" data-step=\"").Append(p.Step).Append("\" data-value=\"").Append(Html.Num(p.Value))
                    .Append("\"><title>").Append(Html.Escape($"{l.Name} · step {p.Step}: {Label(p.Value, kind, exact: true)}{(p.Failed ? " (failed)" : "")}")).Append("</title></circle>");
            }
            w.Append("</g>\n");
        }
        w.Append("</svg>\n");
        if (lines.Count > 1)
        {
            w.Append("<ul class=\"legend\">");
            foreach (var l in lines)
                w.Append("<li class=\"c").Append(l.Color).Append("\"><span class=\"sw\"></span>").Append(Html.Escape(l.Label))
                    .Append(l.Points.Count == 0 ? " <em>(no values)</em>" : "").Append("</li>");
            w.Append("</ul>\n");
        }
        if (drawn.Any(l => l.Total > l.Points.Count))
            w.Append("<p class=\"note\">Drawn downsampled for the screen (lowest, highest, first and last value of each pixel column, and every failed step's column kept); the table below each trajectory has the exact numbers.</p>\n");
        w.Append("</figure>\n");
    }

    private static string FailureTitle(string name, FailureSampler.Mark f) => f.Count == 1
        ? $"{name} · step {f.Step} failed: {f.Reason}"
        : $"{name} · {f.Count} failed steps in {f.Step}–{f.LastStep}; step {f.Step}: {f.Reason}";

    public static string Label(double v, AxisKind kind, bool exact = false) => kind switch
    {
        AxisKind.Seconds => Html.Seconds(v),
        AxisKind.Bytes => exact ? Html.Count((long)v) + " B" : Html.Bytes(v),
        _ => exact ? Html.Num(v) : Html.Compact(v),
    };

    /// <summary>Byte ticks at round numbers of the unit the largest value reads in (B, KB, MB: powers of 1024), so labels read 0 B, 1 KB, 2 KB.</summary>
    private static List<double> ByteTicks(ref double lo, ref double hi)
    {
        var unit = 1d;
        while (Math.Max(Math.Abs(lo), Math.Abs(hi)) / unit >= 1024 && unit < Math.Pow(1024, 4)) unit *= 1024;
        var (l, h) = (lo / unit, hi / unit);
        var ticks = Ticks(ref l, ref h, 5, integers: unit == 1);
        (lo, hi) = (l * unit, h * unit);
        return ticks.Select(t => t * unit).ToList();
    }

    /// <summary>Round tick values (1, 2, 5 × 10^n) covering [lo, hi]; with <paramref name="extend"/> the range grows to whole ticks.</summary>
    internal static List<double> Ticks(ref double lo, ref double hi, int count, bool integers, bool extend = true)
    {
        if (hi - lo <= 0)
        {
            var pad = Math.Abs(lo) > 0 ? Math.Abs(lo) * 0.1 : 1;
            lo -= pad;
            hi += pad;
        }
        var raw = (hi - lo) / count;
        var mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = (raw / mag) switch { <= 1 => 1, <= 2 => 2, <= 5 => 5, _ => 10 } * mag;
        if (integers) step = Math.Max(1, Math.Round(step));
        if (!double.IsFinite(step) || step <= 0 || !double.IsFinite(lo) || !double.IsFinite(hi) || (hi - lo) / step > 100)
            return [lo, hi]; // values at the edge of double's range: just the ends
        if (extend)
        {
            lo = Math.Floor(lo / step) * step;
            hi = Math.Ceiling(hi / step) * step;
        }
        var ticks = new List<double>();
        for (var t = Math.Ceiling(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
            ticks.Add(Math.Abs(t) < step * 1e-9 ? 0 : t);
        return ticks;
    }
}
