using System.Text;

namespace Fle.Core.Report;

/// <summary>
/// The part of the page about one trajectory: its summary, the exact numbers of each metric, its failed steps, and the
/// listed steps with their code, feedback and metadata in collapsible &lt;details&gt; (readable without script).
/// </summary>
internal sealed class TrajectorySection(StringBuilder b, TrajectoryReport r, ReportPlan plan, FleReportOptions options)
{
    private const int MaxMetadataShown = 4000;

    public void Write()
    {
        var t = r.Trajectory;
        b.Append("<section class=\"trajectory c").Append(r.Index).Append("\" id=\"t").Append(r.Index).Append("\" data-trajectory=\"").Append(Html.Escape(t.Id))
            .Append("\">\n<h2><span class=\"sw\"></span>").Append(Html.Escape(t.Id)).Append("</h2>\n<dl class=\"facts\">");
        Fact("Task", t.TaskId);
        Fact("Model", r.Model ?? "—");
        Fact("Status", t.Status.ToString());
        Fact("Started", Html.Time(t.StartTime));
        Fact("Ended", t.EndTime is { } e ? Html.Time(e) : "— (running)");
        Fact("Duration", ReportPage.DurationText(r));
        Fact("Steps", r.Steps == 0 ? "0" : $"{Html.Count(r.Steps)} (numbers {Html.Count(r.FirstStep!.Value)}–{Html.Count(r.LastStep!.Value)})");
        Fact("Failed steps", Html.Count(r.FailedCount));
        Fact("Game states", $"{Html.Count(r.States)}: {Html.Count(r.RawStateBytes)} bytes as saved, {Html.Count(r.StoredStateBytes)} bytes stored{ReportPage.Ratio(r)}");
        if (r.Lineage is { } l) Fact("Forked from", $"{l.ParentTrajectoryId} at step {l.ForkStepNumber}");
        b.Append("</dl>\n<details class=\"meta\"><summary>Trajectory metadata</summary><pre>")
            .Append(Html.Escape(Html.Cut(t.MetadataJson, MaxMetadataShown))).Append(t.MetadataJson.Length > MaxMetadataShown ? $"\n… ({Html.Count(t.MetadataJson.Length)} characters in all)" : "")
            .Append("</pre></details>\n");
        Stats();
        Failed();
        Steps();
        b.Append("</section>\n");
    }

    private void Fact(string name, string value) => b.Append("<dt>").Append(name).Append("</dt><dd>").Append(Html.Escape(value)).Append("</dd>");

    private void Stats()
    {
        var rows = plan.Plots.Select(p => (p.Title, p.Key, p.Kind, Series: p.Series(r))).Where(x => x.Series is { Stats.Count: > 0 }).ToList();
        if (rows.Count == 0) return;
        b.Append("<h3>Numbers (every step)</h3>\n<table class=\"stats\"><thead><tr><th>Metric</th><th class=\"n\">Steps</th><th class=\"n\">First</th><th class=\"n\">Last</th>")
            .Append("<th class=\"n\">Min (step)</th><th class=\"n\">Max (step)</th><th class=\"n\">Mean</th></tr></thead><tbody>\n");
        foreach (var (title, key, kind, series) in rows)
        {
            var s = series!.Stats;
            b.Append("<tr data-metric=\"").Append(Html.Escape(key)).Append("\"><td>").Append(Html.Escape(title)).Append("</td><td class=\"n count\">").Append(Html.Count(s.Count))
                .Append("</td><td class=\"n first\">").Append(Value(s.First, kind)).Append("</td><td class=\"n last\">").Append(Value(s.Last, kind))
                .Append("</td><td class=\"n min\">").Append(Value(s.Min, kind)).Append(" (").Append(s.MinStep).Append(")</td><td class=\"n max\">").Append(Value(s.Max, kind))
                .Append(" (").Append(s.MaxStep).Append(")</td><td class=\"n mean\">").Append(Value(s.Mean, kind)).Append("</td></tr>\n");
        }
        b.Append("</tbody></table>\n");
    }

    private static string Value(double v, AxisKind kind) => Html.Escape(kind == AxisKind.Number ? Html.Num(Math.Round(v, 6)) : SvgPlot.Label(v, kind));

    private void Failed()
    {
        if (r.FailedCount == 0) return;
        var listed = r.Sections.Select(s => s.Step).ToHashSet();
        b.Append("<h3>Failed steps (").Append(Html.Count(r.FailedCount)).Append(")</h3>\n<ul class=\"failed-list\">");
        foreach (var f in r.FailedList)
        {
            b.Append("<li data-step=\"").Append(f.Step).Append("\">");
            if (listed.Contains(f.Step)) b.Append("<a href=\"#t").Append(r.Index).Append("-s").Append(f.Step).Append("\">step ").Append(f.Step).Append("</a>");
            else b.Append("step ").Append(f.Step);
            b.Append(": ").Append(Html.Escape(f.Reason)).Append("</li>");
        }
        b.Append("</ul>\n");
        if (r.FailedCount > r.FailedList.Count)
            b.Append("<p class=\"note\">").Append(Html.Count(r.FailedCount - r.FailedList.Count)).Append(" more failed steps are not listed.</p>\n");
    }

    private void Steps()
    {
        if (r.Sections.Count == 0) return;
        b.Append("<h3>Steps</h3>\n");
        if (r.Sections.Count < r.Steps)
        {
            b.Append("<p class=\"note\">").Append(Html.Count(r.Sections.Count)).Append(" of ").Append(Html.Count(r.Steps))
                .Append(" steps are listed: the first and the last ones and failed ones between them.");
            if (options.MoreStepsCommand is { } more)
                b.Append(" <code>").Append(Html.Escape(string.Format(System.Globalization.CultureInfo.InvariantCulture, more, r.Trajectory.Id))).Append("</code> shows any of them.");
            b.Append("</p>\n");
        }
        long expected = 0;
        foreach (var s in r.Sections)
        {
            if (s.Ordinal > expected)
                b.Append("<p class=\"gap\">… ").Append(Html.Count(s.Ordinal - expected)).Append(" step(s) not listed …</p>\n");
            expected = s.Ordinal + 1;
            Section(s);
        }
        if (r.Steps > expected) b.Append("<p class=\"gap\">… ").Append(Html.Count(r.Steps - expected)).Append(" step(s) not listed …</p>\n");
    }

    private void Section(StepSection s)
    {
        b.Append("<details class=\"step").Append(s.FailureReason is null ? "" : " failed").Append("\" id=\"t").Append(r.Index).Append("-s").Append(s.Step)
            .Append("\" data-step=\"").Append(s.Step).Append("\"><summary><b>Step ").Append(s.Step).Append("</b> <span class=\"when\">").Append(Html.Time(s.Timestamp)).Append("</span>");
        if (s.DurationSeconds is { } d) b.Append(" <span class=\"dur\">").Append(Html.Seconds(d)).Append("</span>");
        if (s.GameStateSize is { } g) b.Append(" <span class=\"state\">state ").Append(Html.Bytes(g)).Append("</span>");
        if (s.FailureReason is { } why) b.Append(" <span class=\"why\">failed: ").Append(Html.Escape(why)).Append("</span>");
        b.Append("</summary>\n");
        Text("Agent code", "code", s.Code, s.CodeLength);
        Text("Feedback", "feedback", s.Feedback, s.FeedbackLength);
        Text("Metadata", "metadata", s.Metadata, s.MetadataLength);
        b.Append("</details>\n");
    }

    private void Text(string title, string cls, string text, int fullLength)
    {
        b.Append("<h4>").Append(title).Append("</h4><pre class=\"").Append(cls).Append("\">").Append(Html.Escape(text)).Append("</pre>");
        if (fullLength > text.Length)
            b.Append("<p class=\"cut\">Cut here: ").Append(Html.Count(text.Length)).Append(" of ").Append(Html.Count(fullLength)).Append(" characters shown.</p>");
        b.Append('\n');
    }
}
