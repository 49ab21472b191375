namespace Fle.Core.Report;

/// <summary>
/// The numbers in a step's metadata. Discovery (no -Metric) takes every numeric value: top-level keys (<c>reward</c>,
/// <c>ticks</c>) and the numbers of nested objects up to three levels deep, named with dots (<c>token_usage.total</c>,
/// <c>timing_metrics.eval</c>); booleans, texts and arrays are not numbers, and identifiers (a key named <c>id</c> or ending
/// in <c>_id</c>, such as FLE's <c>program_id</c> and <c>parent_id</c>) are left out. An explicit key (-Metric) is read as
/// a top-level key first, then as a dotted path; identifiers are not left out then.
/// </summary>
internal static class MetricReader
{
    private const int MaxDepth = 3;

    /// <summary>Every numeric value of the metadata, for discovery.</summary>
    public static IEnumerable<KeyValuePair<string, double>> Numbers(IDictionary<string, object?> metadata)
    {
        var found = new List<KeyValuePair<string, double>>();
        Collect(metadata, null, 1, found);
        return found;
    }

    private static void Collect(IDictionary<string, object?> d, string? prefix, int depth, List<KeyValuePair<string, double>> found)
    {
        foreach (var (key, value) in d)
        {
            if (IsIdentifier(key)) continue;
            var name = prefix is null ? key : prefix + "." + key;
            if (ToNumber(value) is { } n) found.Add(new(name, n));
            else if (value is IDictionary<string, object?> inner && depth < MaxDepth) Collect(inner, name, depth + 1, found);
        }
    }

    /// <summary>The value of an explicitly named metric, or null when the step has no number there.</summary>
    public static double? Read(IDictionary<string, object?> metadata, string key)
    {
        if (metadata.TryGetValue(key, out var direct) && ToNumber(direct) is { } n) return n;
        object? current = metadata;
        foreach (var part in key.Split('.'))
        {
            if (current is not IDictionary<string, object?> d || !d.TryGetValue(part, out current)) return null;
        }
        return ToNumber(current);
    }

    /// <summary>An identifier, not a measurement: <c>id</c> or <c>*_id</c>.</summary>
    public static bool IsIdentifier(string key) => key.Equals("id", StringComparison.OrdinalIgnoreCase)
        || key.EndsWith("_id", StringComparison.OrdinalIgnoreCase);

    private static double? ToNumber(object? value) => value switch
    {
        long l => l,
        int i => i,
        double d when double.IsFinite(d) => d,
        decimal m => (double)m,
        _ => null,
    };
}
