using System.Text.RegularExpressions;

namespace Fle.Core.Report;

/// <summary>
/// When a step counts as failed in a report. First the step's metadata: the first of the flags <c>error_occurred</c>,
/// <c>failed</c>, <c>is_error</c>, <c>error</c> and <c>meta.error_occurred</c> (FLE's program meta, as Import-FleProgramTable
/// keeps it) that holds <c>true</c> (or, for <c>error</c>, a non-empty text) marks the step failed; one that holds
/// <c>false</c> marks it not failed, whatever the feedback says. Other values (null, numbers, empty text) are ignored.
/// Without such a flag, the feedback decides: the step failed when a line of it starts (after spaces, an FLE-style
/// <c>12: </c> line prefix and opening brackets or quotes) with <c>Traceback (most recent call last)</c>, a Python exception
/// name and a colon (<c>NameError:</c>, <c>Exception:</c>, <c>fle.env.SomeError:</c>) or the word <c>Error</c>/<c>ERROR</c>
/// (<c>Error: ...</c>, <c>Error occurred in ...</c>). The first <see cref="ScannedChars"/> characters of the feedback are scanned.
/// </summary>
internal static class StepFailureRule
{
    /// <summary>How much of a step's feedback is looked at (a traceback is near the start of FLE's feedback).</summary>
    public const int ScannedChars = 256 * 1024;

    private const int MaxReasonChars = 160;

    private static readonly string[] Flags = ["error_occurred", "failed", "is_error", "error"];

    // Linear time whatever the text (NonBacktracking): feedback is untrusted and may be large.
    private static readonly Regex ErrorLine = new(
        @"^[ \t]*(?:[0-9]+[ \t]*:[ \t]*)?[\(\[""']*[ \t]*(?:Traceback \(most recent call last\)|(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)[ \t]*:|Exception[ \t]*:|Error\b|ERROR\b)",
        RegexOptions.Multiline | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);

    /// <summary>Why the step failed, or null when it did not.</summary>
    public static string? Reason(IDictionary<string, object?> metadata, string? feedback)
    {
        foreach (var flag in Flags)
        {
            if (!metadata.TryGetValue(flag, out var v)) continue;
            if (Decide(flag, v) is { } decided) return decided.Failed ? decided.Reason : null;
        }
        if (metadata.TryGetValue("meta", out var meta) && meta is IDictionary<string, object?> m && m.TryGetValue("error_occurred", out var eo)
            && Decide("meta.error_occurred", eo) is { } d)
            return d.Failed ? d.Reason : null;
        return FeedbackReason(feedback);
    }

    /// <summary>The line of the feedback that reports an error, or null.</summary>
    public static string? FeedbackReason(string? feedback)
    {
        if (string.IsNullOrEmpty(feedback)) return null;
        var text = feedback.Length > ScannedChars ? feedback[..ScannedChars] : feedback;
        var match = ErrorLine.Match(text);
        if (!match.Success) return null;
        var end = text.IndexOf('\n', match.Index);
        var line = (end < 0 ? text[match.Index..] : text[match.Index..end]).Trim();
        return Cut(line);
    }

    private static (bool Failed, string Reason)? Decide(string flag, object? value) => value switch
    {
        bool b => (b, $"metadata {flag} = {(b ? "true" : "false")}"),
        string s when flag == "error" && s.Length > 0 => (true, Cut($"metadata error: {s}")),
        _ => null,
    };

    private static string Cut(string s) => s.Length <= MaxReasonChars ? s : s[..(MaxReasonChars - 1)] + "…";
}
