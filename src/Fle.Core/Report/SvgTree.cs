using System.Text;

namespace Fle.Core.Report;

/// <summary>One trajectory of the tree drawn in a report: its own steps span FirstStep..LastStep (a fork's start after its fork point).</summary>
internal sealed record TreeNode(string Id, string? ParentId, long? ForkStepNumber, long? LastStep, int? Color, string Label, string Status);

/// <summary>
/// The trajectories of a report as the tree of forks they belong to: one row per trajectory, its steps as a bar along
/// the step axis, a fork joined to its parent's row at the fork step. Trajectories of the report are drawn in their
/// series colours; ancestors that are not in the report (needed to join the tree) in grey. Inline SVG, no script.
/// </summary>
internal static class SvgTree
{
    private const double Width = 1000, Left = 250, Right = 16, Row = 24, Top = 8, Bottom = 30;

    /// <summary>The rows in drawing order: each root, then its forks depth first (by fork step, then id).</summary>
    public static List<(TreeNode Node, int Depth)> Rows(IReadOnlyCollection<TreeNode> nodes)
    {
        var ids = nodes.Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var children = nodes.Where(n => n.ParentId is not null && ids.Contains(n.ParentId))
            .GroupBy(n => n.ParentId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(n => n.ForkStepNumber).ThenBy(n => n.Id, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        var rows = new List<(TreeNode, int)>();
        void Visit(TreeNode n, int depth)
        {
            rows.Add((n, depth));
            foreach (var c in children.GetValueOrDefault(n.Id) ?? []) Visit(c, depth + 1);
        }
        foreach (var root in nodes.Where(n => n.ParentId is null || !ids.Contains(n.ParentId)).OrderBy(n => n.Id, StringComparer.Ordinal)) Visit(root, 0);
        return rows;
    }

    public static void Write(StringBuilder w, IReadOnlyCollection<TreeNode> nodes)
    {
        var rows = Rows(nodes);
        var maxStep = Math.Max(1, rows.Max(r => Math.Max(r.Node.LastStep ?? 0, r.Node.ForkStepNumber ?? 0)));
        var height = Top + rows.Count * Row + Bottom;
        double X(double step) => Left + step / maxStep * (Width - Left - Right);
        var y = rows.Select((r, i) => (r.Node.Id, Y: Top + i * Row + Row / 2)).ToDictionary(p => p.Id, p => p.Y, StringComparer.Ordinal);

        w.Append("<figure class=\"tree\"><svg viewBox=\"0 0 ").Append(Html.Coord(Width)).Append(' ').Append(Html.Coord(height))
            .Append("\" role=\"img\" aria-label=\"The tree of forks: one row per trajectory, its steps along the step axis\">\n<g class=\"grid\">");
        double x0 = 0, x1 = maxStep;
        foreach (var t in SvgPlot.Ticks(ref x0, ref x1, 8, integers: true, extend: false))
        {
            var x = Html.Coord(X(t));
            w.Append("<line x1=\"").Append(x).Append("\" x2=\"").Append(x).Append("\" y1=\"").Append(Html.Coord(Top)).Append("\" y2=\"").Append(Html.Coord(height - Bottom))
                .Append("\"/><text class=\"xl\" x=\"").Append(x).Append("\" y=\"").Append(Html.Coord(height - Bottom + 14)).Append("\">").Append(Html.Count((long)t)).Append("</text>");
        }
        w.Append("<text class=\"xt\" x=\"").Append(Html.Coord((Left + Width - Right) / 2)).Append("\" y=\"").Append(Html.Coord(height - 3)).Append("\">step number</text></g>\n");

        foreach (var (n, depth) in rows)
        {
            var ry = y[n.Id];
            var start = n.ForkStepNumber is { } f ? f : 0;
            var end = Math.Max(start, n.LastStep ?? start);
            var joined = n.ParentId is not null && y.ContainsKey(n.ParentId);
            w.Append("<g class=\"branch ").Append(n.Color is { } c ? "c" + c : "other").Append(' ').Append(n.Status).Append("\" data-trajectory=\"").Append(Html.Escape(n.Id))
                .Append("\" data-parent=\"").Append(Html.Escape(n.ParentId ?? "")).Append("\" data-fork-step=\"").Append(n.ForkStepNumber?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "")
                .Append("\" data-depth=\"").Append(depth).Append("\"><title>").Append(Html.Escape(Tooltip(n))).Append("</title>");
            if (joined)
                w.Append("<path class=\"join\" d=\"M").Append(Html.Coord(X(start))).Append(' ').Append(Html.Coord(y[n.ParentId!])).Append(" V").Append(Html.Coord(ry)).Append("\"/>")
                    .Append("<circle class=\"fork\" cx=\"").Append(Html.Coord(X(start))).Append("\" cy=\"").Append(Html.Coord(y[n.ParentId!])).Append("\" r=\"3.5\"/>");
            w.Append("<line class=\"bar\" x1=\"").Append(Html.Coord(X(start))).Append("\" x2=\"").Append(Html.Coord(Math.Max(X(end), X(start) + 2))).Append("\" y1=\"")
                .Append(Html.Coord(ry)).Append("\" y2=\"").Append(Html.Coord(ry)).Append("\"/>")
                .Append("<text class=\"label\" x=\"").Append(Html.Coord(6 + 12 * Math.Min(depth, 8))).Append("\" y=\"").Append(Html.Coord(ry)).Append("\">")
                .Append(Html.Escape(n.Label)).Append("</text></g>\n");
        }
        w.Append("</svg></figure>\n");
    }

    private static string Tooltip(TreeNode n)
    {
        var steps = n.LastStep is { } l ? $"steps to {l}" : "no steps";
        var where = n.ParentId is null ? "a root" : $"forked from {n.ParentId} at step {n.ForkStepNumber}";
        return $"{n.Id}: {where}, {steps}, {n.Status}{(n.Color is null ? " (not in this report)" : "")}";
    }
}
