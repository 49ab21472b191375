using System.Globalization;
using System.Text;

namespace Fle.Core.Report;

/// <summary>
/// Escaping for everything a report takes from the database (agent code, feedback, metadata keys and values, task and
/// trajectory ids): the same escape for element text and for attribute values (always double-quoted), so no text can
/// close an element or an attribute, open a tag (<c>&lt;script&gt;</c>, <c>&lt;img onerror&gt;</c>) or start an entity.
/// Characters HTML does not allow (C0/C1 controls other than tab, line feed and carriage return, lone surrogates,
/// non-characters) become U+FFFD.
/// </summary>
internal static class Html
{
    public static string Escape(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "";
        var sb = new StringBuilder(s.Length + 16);
        Append(sb, s);
        return sb.ToString();
    }

    public static void Append(StringBuilder sb, string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case '\t' or '\n': sb.Append(c); break;
                case '\r': sb.Append(i + 1 < s.Length && s[i + 1] == '\n' ? "" : "\n"); break;
                default:
                    if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                    {
                        var cp = char.ConvertToUtf32(c, s[i + 1]);
                        if ((cp & 0xFFFE) == 0xFFFE) sb.Append('\uFFFD'); else sb.Append(c).Append(s[i + 1]);
                        i++;
                    }
                    else if (char.IsSurrogate(c) || c < 0x20 || (c >= 0x7F && c <= 0x9F) || c is '\uFFFE' or '\uFFFF' || (c >= '\uFDD0' && c <= '\uFDEF'))
                        sb.Append('\uFFFD');
                    else
                        sb.Append(c);
                    break;
            }
        }
    }

    /// <summary>A number as HTML/SVG wants it (invariant, shortest round-trip form).</summary>
    public static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A coordinate with one decimal.</summary>
    public static string Coord(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A value for people: at most 4 significant digits, k/M/G for large ones.</summary>
    public static string Compact(double v)
    {
        var a = Math.Abs(v);
        if (a >= 1e9) return (v / 1e9).ToString("0.###", CultureInfo.InvariantCulture) + "G";
        if (a >= 1e6) return (v / 1e6).ToString("0.###", CultureInfo.InvariantCulture) + "M";
        if (a >= 1e4) return (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "k";
        if (a == 0) return "0";
        if (a < 1e-3) return v.ToString("0.##E+0", CultureInfo.InvariantCulture);
        return v.ToString(a >= 100 ? "0.#" : a >= 1 ? "0.###" : "0.####", CultureInfo.InvariantCulture);
    }

    public static string Bytes(double b)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        var u = 0;
        var a = Math.Abs(b);
        while (a >= 1024 && u < units.Length - 1) { a /= 1024; b /= 1024; u++; }
        return (u == 0 ? b.ToString("0", CultureInfo.InvariantCulture) : b.ToString(a >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture)) + " " + units[u];
    }

    public static string Seconds(double s)
    {
        var a = Math.Abs(s);
        if (a == 0) return "0 s";
        if (a < 1) return (s * 1000).ToString(a < 0.01 ? "0.##" : "0", CultureInfo.InvariantCulture) + " ms";
        if (a < 120) return s.ToString(a < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture) + " s";
        if (a < 7200) return (s / 60).ToString("0.#", CultureInfo.InvariantCulture) + " min";
        return (s / 3600).ToString("0.#", CultureInfo.InvariantCulture) + " h";
    }

    public static string Duration(TimeSpan d)
    {
        if (d < TimeSpan.Zero) return "-" + Duration(-d);
        if (d.TotalSeconds < 60) return Seconds(d.TotalSeconds);
        if (d.TotalHours < 1) return $"{(int)d.TotalMinutes} min {d.Seconds:00} s";
        if (d.TotalDays < 1) return $"{(int)d.TotalHours} h {d.Minutes:00} min";
        return $"{(int)d.TotalDays} d {d.Hours:00} h";
    }

    public static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Cut a text to at most <paramref name="max"/> characters (never inside a surrogate pair).</summary>
    public static string Cut(string s, int max)
    {
        if (s.Length <= max) return s;
        var n = max > 0 && char.IsHighSurrogate(s[max - 1]) ? max - 1 : max;
        return s[..n];
    }
}
