using System.Text;

namespace Fle.Core.Report;

/// <summary>
/// Writes the report page: one self-contained HTML file (inline CSS and SVG, no script, no external reference; a
/// Content-Security-Policy that allows nothing else to load or run), written in pieces as it is rendered.
/// </summary>
internal sealed class ReportPage(FleReportOptions options, IReadOnlyList<TrajectoryReport> reports, ReportPlan plan, IReadOnlyCollection<TreeNode>? tree = null)
{
    private readonly StringBuilder _b = new(64 * 1024);

    public async Task WriteAsync(TextWriter w, CancellationToken ct)
    {
        Head();
        await FlushAsync(w, ct).ConfigureAwait(false);
        Overview();
        if (tree is not null)
        {
            _b.Append("<section id=\"tree\"><h2>Tree of forks</h2>\n<p class=\"note\">One row per trajectory: a fork starts at its parent's fork step and reads the steps before it through the parent; grey rows are ancestors that are not in this report.</p>\n");
            SvgTree.Write(_b, tree);
            _b.Append("</section>\n");
        }
        await FlushAsync(w, ct).ConfigureAwait(false);
        _b.Append("<section id=\"plots\"><h2>Metrics by step</h2>\n");
        foreach (var note in plan.Notes) _b.Append("<p class=\"note\">").Append(Html.Escape(note)).Append("</p>\n");
        _b.Append("<div class=\"plots\">\n");
        foreach (var plot in plan.Plots)
        {
            SvgPlot.Write(_b, plot.Title, plot.Key, plot.Kind, reports.Select(r => plot.Line(r)).ToList());
            await FlushAsync(w, ct).ConfigureAwait(false);
        }
        _b.Append("</div></section>\n");
        foreach (var r in reports)
        {
            new TrajectorySection(_b, r, plan, options).Write();
            await FlushAsync(w, ct).ConfigureAwait(false);
        }
        _b.Append("<footer><p>").Append(Html.Escape(FailureRuleText)).Append("</p><p>")
            .Append(Html.Escape($"Made by {options.Generator} on {Html.Time(options.GeneratedAt ?? DateTime.UtcNow)}. This file loads nothing and runs no script.")).Append("</p></footer>\n</body>\n</html>\n");
        await FlushAsync(w, ct).ConfigureAwait(false);
    }

    internal const string FailureRuleText = "A step counts as failed when its metadata says so (error_occurred, failed, is_error or meta.error_occurred true, or a non-empty error text; false says it did not fail) or, without such a flag, when a line of its feedback starts with a Python traceback, an exception name and a colon (NameError: ...) or the word Error.";

    private async Task FlushAsync(TextWriter w, CancellationToken ct)
    {
        await w.WriteAsync(_b, ct).ConfigureAwait(false);
        _b.Clear();
    }

    private void Head()
    {
        var title = reports.Count == 1
            ? $"Fle report: {reports[0].Trajectory.TaskId} ({reports[0].Trajectory.Id})"
            : $"Fle report: {reports.Count} trajectories of {string.Join(", ", reports.Select(r => r.Trajectory.TaskId).Distinct(StringComparer.Ordinal).Take(3))}";
        _b.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"").Append(Html.Escape(options.Generator)).Append("\">\n<title>")
            .Append(Html.Escape(title)).Append("</title>\n<style>").Append(ReportStyle.Css).Append("</style>\n</head>\n<body>\n<header><h1>")
            .Append(Html.Escape(title)).Append("</h1><p class=\"meta\">")
            .Append(Html.Escape($"{reports.Count} trajector{(reports.Count == 1 ? "y" : "ies")} · {Html.Count(reports.Sum(r => r.Steps))} steps · made {Html.Time(options.GeneratedAt ?? DateTime.UtcNow)}"))
            .Append(options.Source is { } src ? " · from " + Html.Escape(src) : "").Append("</p></header>\n");
    }

    private void Overview()
    {
        _b.Append("<section id=\"overview\"><h2>Trajectories</h2>\n<table class=\"summary\"><thead><tr><th>Trajectory</th><th>Task</th><th>Model</th><th>Status</th>")
            .Append("<th class=\"n\">Steps</th><th class=\"n\">Failed</th><th class=\"n\">Duration</th><th class=\"n\">States</th><th class=\"n\">Raw bytes</th><th class=\"n\">Stored bytes</th></tr></thead><tbody>\n");
        foreach (var r in reports)
        {
            var t = r.Trajectory;
            _b.Append("<tr class=\"c").Append(r.Index).Append("\" data-trajectory=\"").Append(Html.Escape(t.Id)).Append("\"><td><span class=\"sw\"></span><a href=\"#t")
                .Append(r.Index).Append("\">").Append(Html.Escape(t.Id)).Append("</a></td><td>").Append(Html.Escape(t.TaskId)).Append("</td><td>").Append(Html.Escape(r.Model ?? "—"))
                .Append("</td><td class=\"status ").Append(t.Status.ToString().ToLowerInvariant()).Append("\">").Append(t.Status).Append("</td><td class=\"n steps\">").Append(Html.Count(r.Steps))
                .Append("</td><td class=\"n failed\">").Append(Html.Count(r.FailedCount)).Append("</td><td class=\"n\">").Append(Html.Escape(DurationText(r)))
                .Append("</td><td class=\"n\">").Append(Html.Count(r.States)).Append("</td><td class=\"n raw\" title=\"").Append(Html.Count(r.RawStateBytes)).Append(" bytes\">")
                .Append(Html.Bytes(r.RawStateBytes)).Append("</td><td class=\"n stored\" title=\"").Append(Html.Count(r.StoredStateBytes)).Append(" bytes\">")
                .Append(Html.Bytes(r.StoredStateBytes)).Append(Ratio(r)).Append("</td></tr>\n");
        }
        _b.Append("</tbody></table></section>\n");
    }

    internal static string DurationText(TrajectoryReport r) => r.Duration is not { } d ? "—"
        : r.Trajectory.EndTime is null ? Html.Duration(d) + " so far" : Html.Duration(d);

    internal static string Ratio(TrajectoryReport r) => r.StoredStateBytes > 0 && r.RawStateBytes > 0
        ? $" ({(100.0 * r.StoredStateBytes / r.RawStateBytes).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)} %)" : "";
}

/// <summary>What the plots are (metrics in order, then step duration and game-state size) and the notes above them.</summary>
internal sealed class ReportPlan
{
    public required IReadOnlyList<PlotSpec> Plots { get; init; }
    public required IReadOnlyList<string> Metrics { get; init; }
    public required IReadOnlyList<string> MissingMetrics { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    public static ReportPlan For(IReadOnlyList<TrajectoryReport> reports, FleReportOptions options)
    {
        var notes = new List<string>();
        List<string> metrics;
        var missing = new List<string>();
        if (options.Metrics is { } wanted)
        {
            metrics = wanted.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            missing.AddRange(metrics.Where(m => !reports.Any(r => r.Metrics.ContainsKey(m))));
        }
        else
        {
            var found = reports.SelectMany(r => r.Metrics.Keys).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();
            metrics = found.Take(options.MaxPlottedMetrics).ToList();
            var left = found.Skip(options.MaxPlottedMetrics).Concat(reports.SelectMany(r => r.Untracked))
                .Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();
            if (left.Count > 0)
                notes.Add($"{left.Count} more numeric metadata key(s) not plotted (at most {options.MaxPlottedMetrics} are; choose with {options.MetricsName}): {string.Join(", ", left.Take(40))}{(left.Count > 40 ? ", ..." : "")}.");
            if (metrics.Count == 0) notes.Add("No step has a numeric metadata value to plot (such as reward or ticks).");
        }
        var plots = metrics.Select(m => new PlotSpec(m, m, AxisKind.Number, r => r.Metrics.GetValueOrDefault(m))).ToList();
        plots.Add(new PlotSpec("Step duration", "step-duration", AxisKind.Seconds, r => r.StepSeconds));
        plots.Add(new PlotSpec("Game-state size", "game-state-size", AxisKind.Bytes, r => r.StateBytes));
        return new ReportPlan { Plots = plots, Metrics = metrics, MissingMetrics = missing, Notes = notes };
    }
}

/// <summary>One plot: its caption, its key (data-metric), how its values read and where each trajectory's series is.</summary>
internal sealed record PlotSpec(string Title, string Key, AxisKind Kind, Func<TrajectoryReport, TrajectorySeries?> Series)
{
    public PlotLine Line(TrajectoryReport r)
    {
        var s = Series(r);
        var label = r.Model is null ? r.Trajectory.Id : $"{r.Model} · {r.Trajectory.Id}";
        return new PlotLine(r.Index, r.Trajectory.Id, label, s?.Sampler.Points().ToList() ?? [], r.Failures?.Marks().ToList() ?? [], s?.Stats.Count ?? 0);
    }
}
