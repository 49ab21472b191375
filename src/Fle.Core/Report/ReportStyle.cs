using System.Text;

namespace Fle.Core.Report;

/// <summary>The report's stylesheet (inline; system fonts only) and its series colours.</summary>
internal static class ReportStyle
{
    /// <summary>Series colours: red is kept for failures. Trajectories 13 to 24 reuse them with dashed lines.</summary>
    public static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
        "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39",
    ];

    public static readonly string Css = Build();

    private static string Build()
    {
        var b = new StringBuilder("""

            :root{color-scheme:light}
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0 auto;max-width:1120px;padding:12px 24px 40px;color:#1b1f24;background:#fff}
            h1{font-size:22px;margin:8px 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dee4;padding-bottom:4px}
            h3{font-size:15px;margin:18px 0 6px}h4{font-size:12px;margin:10px 0 2px;color:#57606a;text-transform:uppercase;letter-spacing:.04em}
            .meta,.note,.gap,.cut,footer{color:#57606a;font-size:12.5px}.gap{margin:4px 0 4px 14px}
            table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
            th{background:#f6f8fa;font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
            td a{color:inherit}.summary td{white-space:nowrap}.summary td:first-child{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;white-space:normal;word-break:break-all}
            .status.failed,.failed-list li,.why{color:#b42318}.status.completed{color:#1a7f37}.status.running{color:#9a6700}
            .sw{display:inline-block;width:12px;height:12px;border-radius:2px;background:var(--c);margin-right:6px;vertical-align:-1px}
            .plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:6px 28px}
            figure.plot{margin:10px 0 16px;min-width:0}figcaption{font-weight:600;margin-bottom:2px}
            svg{width:100%;height:auto;display:block}
            .grid line{stroke:#e3e6ea;stroke-width:1}.grid text{font-size:11px;fill:#57606a}.yl{text-anchor:end;dominant-baseline:middle}.xl,.xt{text-anchor:middle}
            .series polyline{fill:none;stroke:var(--c);stroke-width:1.6;stroke-linejoin:round}.series .pt{fill:var(--c)}
            .fail-pt{fill:#d62728;stroke:var(--c);stroke-width:1.5}.fail-mark{stroke:#d62728;stroke-width:2}
            .legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
            .legend li{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
            dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}dt{color:#57606a}dd{margin:0;word-break:break-all}
            details{border:1px solid #d8dee4;border-radius:6px;margin:4px 0;padding:2px 10px}details.failed{border-color:#f1aeb5;background:#fff8f8}
            summary{cursor:pointer;padding:3px 0}summary .when,summary .dur,summary .state{color:#57606a;font-size:12px;margin-left:8px}summary .why{font-size:12.5px;margin-left:8px}
            pre{background:#f6f8fa;border-radius:4px;padding:8px;overflow:auto;max-height:420px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;margin:2px 0}
            footer{margin-top:36px;border-top:1px solid #d8dee4;padding-top:8px}
            figure.tree{margin:6px 0}.tree .other{--c:#afb8c1}.tree .bar{stroke:var(--c);stroke-width:7;stroke-linecap:round}.tree .failed .bar{stroke-dasharray:10 3}
            .tree .join{fill:none;stroke:var(--c);stroke-width:1.6}.tree .fork{fill:#fff;stroke:var(--c);stroke-width:1.6}
            .tree .label{font:11.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;dominant-baseline:middle;fill:#1b1f24}
            """);
        for (var i = 0; i < 2 * Palette.Length; i++)
            b.Append(".c").Append(i).Append("{--c:").Append(Palette[i % Palette.Length]).Append('}');
        b.Append('\n');
        for (var i = Palette.Length; i < 2 * Palette.Length; i++)
            b.Append(i > Palette.Length ? "," : "").Append(".c").Append(i).Append(" polyline");
        b.Append("{stroke-dasharray:7 3}\n");
        return b.ToString();
    }
}
