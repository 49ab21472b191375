using System.Text;

namespace Fle.Core.Import;

/// <summary>
/// JSON as Python's <c>json.dumps</c> writes it by default (<c>allow_nan=True</c>): standard JSON plus the bare tokens
/// <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c> for non-finite floats (FLE writes, for example, a NaN
/// <c>production_score</c> into <c>meta</c>). Neither System.Text.Json nor PostgreSQL's jsonb accepts them, so Fle stores
/// a non-finite number as the JSON string of Python's spelling: <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>,
/// the same on both backends and in export files (and the same as a NaN or ±Infinity REAL column of a row).
/// </summary>
public static class PythonJson
{
    /// <summary>The JSON string a non-finite number becomes: "NaN", "Infinity" or "-Infinity" (Python's spelling).</summary>
    public static string NonFinite(double value) => double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";

    /// <summary>
    /// The text with every bare <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c> token outside strings replaced by the JSON
    /// string of the same spelling; everything else is left exactly as it was (so invalid JSON stays invalid). Text
    /// without such a token is returned as is (the same instance).
    /// </summary>
    public static string ToStandardJson(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Contains("NaN", StringComparison.Ordinal) && !text.Contains("Infinity", StringComparison.Ordinal)) return text;
        StringBuilder? sb = null;
        var copied = 0;
        var inString = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
                continue;
            }
            if (c == '"')
            {
                inString = true;
                continue;
            }
            var token = c switch
            {
                'N' when Matches(text, i, "NaN") => "NaN",
                'I' when Matches(text, i, "Infinity") => "Infinity",
                '-' when Matches(text, i, "-Infinity") => "-Infinity",
                _ => null,
            };
            if (token is null) continue;
            sb ??= new StringBuilder(text.Length + 16);
            sb.Append(text, copied, i - copied).Append('"').Append(token).Append('"');
            i += token.Length - 1;
            copied = i + 1;
        }
        if (sb is null) return text;
        return sb.Append(text, copied, text.Length - copied).ToString();
    }

    // A whole token: not part of a longer name (NaNa) or number.
    private static bool Matches(string text, int at, string token)
    {
        if (string.CompareOrdinal(text, at, token, 0, token.Length) != 0) return false;
        var end = at + token.Length;
        return end >= text.Length || !(char.IsLetterOrDigit(text[end]) || text[end] == '_');
    }
}
