using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Fle.Core;

/// <summary>Checks on text before it reaches a database, so both backends accept or refuse the same input.</summary>
public static class FleText
{
    /// <summary>Throws when the text cannot be stored exactly: a lone UTF-16 surrogate (invalid UTF-8) or a NUL character.</summary>
    public static void Validate(string? text, string what)
    {
        if (text is null) return;
        // Nearly all text has neither: two vectorized scans (precompiled in the runtime, fast even before this method is
        // optimized by the JIT) instead of a loop over every character.
        var span = text.AsSpan();
        if (span.IndexOf('\0') < 0 && !span.ContainsAnyInRange('\uD800', '\uDFFF')) return;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0')
                throw FleException.InvalidArgument(
                    $"The {what} contains a NUL character (U+0000) at position {i}, which PostgreSQL cannot store in text. Remove it or store the value as binary.",
                    what, FleErrorIds.InvalidText);
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
                throw InvalidUtf(what, i);
            }
            if (char.IsLowSurrogate(c)) throw InvalidUtf(what, i);
        }
    }

    private static FleException InvalidUtf(string what, int at) => FleException.InvalidArgument(
        $"The {what} is not valid Unicode: a lone surrogate at position {at} has no UTF-8 form. Fix the text's encoding before saving it.",
        what, FleErrorIds.InvalidText);

    /// <summary>
    /// The exact UTF-8 bytes of a text that <see cref="Validate"/> accepts, else its error: one strict transcoding (a lone
    /// surrogate stops it) and a scan of the bytes for NUL (a NUL character is the byte 0 in UTF-8), instead of two scans
    /// of the UTF-16 text and then the transcoding (a checkpoint's game state is tens of kilobytes).
    /// </summary>
    public static byte[] ToUtf8(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        // ASCII text (JSON states nearly always are) has as many bytes as characters: try that size first (not zeroed, it is
        // all written); other text is counted, then transcoded.
        var bytes = GC.AllocateUninitializedArray<byte>(text.Length);
        var status = System.Text.Unicode.Utf8.FromUtf16(text, bytes, out _, out var written, replaceInvalidSequences: false);
        if (status == System.Buffers.OperationStatus.DestinationTooSmall)
        {
            bytes = GC.AllocateUninitializedArray<byte>(Encoding.UTF8.GetByteCount(text));
            status = System.Text.Unicode.Utf8.FromUtf16(text, bytes, out _, out written, replaceInvalidSequences: false);
        }
        if (status == System.Buffers.OperationStatus.Done && written == bytes.Length && bytes.AsSpan().IndexOf((byte)0) < 0)
            return bytes;
        Validate(text, what); // throws, naming the position
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>Decode UTF-8 bytes strictly; invalid bytes are an error naming the field.</summary>
    public static string DecodeStrict(ReadOnlySpan<byte> bytes, string what)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e)
        {
            throw FleException.InvalidArgument($"The {what} is not valid UTF-8 (bad byte at offset {e.Index}).", what, FleErrorIds.InvalidText);
        }
    }

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>Metadata documents: always JSON objects, compact, parsed into case-insensitive dictionaries.</summary>
public static class FleJson
{
    internal static readonly JsonSerializerOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    /// <summary>Serialize a dictionary (nested dictionaries, lists, primitives) to compact JSON.</summary>
    public static string Serialize(IEnumerable<KeyValuePair<string, object?>>? metadata)
    {
        if (metadata is null) return "{}";
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var kv in metadata)
        {
            FleText.Validate(kv.Key, "metadata key");
            ValidateValue(kv.Value, 0); // the serializer would silently turn a lone surrogate into U+FFFD
            dict[kv.Key] = kv.Value;
        }
        try { return JsonSerializer.Serialize(dict, Options); }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or JsonException)
        {
            throw FleException.InvalidArgument($"The metadata cannot be written as JSON: {e.Message}", null, FleErrorIds.InvalidMetadata);
        }
    }

    /// <summary>Check that text is a JSON object and return it compact. Null or empty means {}.</summary>
    public static string NormalizeObject(string? json, string what = "metadata")
    {
        // The text this thread normalized last is normalized already (a cmdlet checks the metadata before it calls the
        // engine, which checks it again on the same thread): strings are immutable, so the same object needs no new parse.
        if (json is not null && ReferenceEquals(json, t_lastNormalized)) return json;
        var normalized = Normalize(json, what);
        t_lastNormalized = normalized;
        return normalized;
    }

    [ThreadStatic] private static string? t_lastNormalized;

    private static string Normalize(string? json, string what)
    {
        if (string.IsNullOrWhiteSpace(json)) return "{}";
        FleText.Validate(json, what);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw FleException.InvalidArgument($"The {what} must be a JSON object ({{...}}), not a {doc.RootElement.ValueKind}.", null, FleErrorIds.InvalidMetadata);
            ValidateElement(doc.RootElement, what); // \u0000 or a lone \ud800 escape: PostgreSQL's jsonb refuses them
            return JsonSerializer.Serialize(doc.RootElement, Options);
        }
        catch (JsonException e)
        {
            throw FleException.InvalidArgument($"The {what} is not valid JSON: {e.Message}", null, FleErrorIds.InvalidMetadata);
        }
    }

    private static void ValidateValue(object? value, int depth)
    {
        if (depth > 64) return; // deeper (or cyclic) values are refused by the serializer itself
        switch (value)
        {
            case string s:
                FleText.Validate(s, "metadata value");
                break;
            case KeyValuePair<string, object?> kv:
                FleText.Validate(kv.Key, "metadata key");
                ValidateValue(kv.Value, depth + 1);
                break;
            case System.Collections.IDictionary d:
                foreach (System.Collections.DictionaryEntry e in d)
                {
                    if (e.Key is string k) FleText.Validate(k, "metadata key");
                    ValidateValue(e.Value, depth + 1);
                }
                break;
            case System.Collections.IEnumerable items:
                foreach (var x in items) ValidateValue(x, depth + 1);
                break;
        }
    }

    private static void ValidateElement(JsonElement e, string what)
    {
        try
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                    {
                        FleText.Validate(p.Name, what);
                        ValidateElement(p.Value, what);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var x in e.EnumerateArray()) ValidateElement(x, what);
                    break;
                case JsonValueKind.String:
                    FleText.Validate(e.GetString(), what);
                    break;
            }
        }
        catch (InvalidOperationException)
        {
            throw FleException.InvalidArgument(
                $"The {what} is not valid Unicode: a \\u escape names a lone surrogate, which has no UTF-8 form. Fix the text's encoding before saving it.",
                what, FleErrorIds.InvalidText);
        }
    }

    /// <summary>Parse a JSON object into a case-insensitive dictionary of plain .NET values.</summary>
    public static IDictionary<string, object?> ToDictionary(string? json)
    {
        var result = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(json)) return result;
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return result;
            foreach (var p in doc.RootElement.EnumerateObject())
                result[p.Name] = ToValue(p.Value);
        }
        catch (JsonException)
        {
            result["_raw"] = json;
        }
        return result;
    }

    /// <summary>Convert a JSON element to a .NET value: dictionary, object[], string, long, double, bool or null.</summary>
    public static object? ToValue(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Aggregate(
            new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase),
            (d, p) => { d[p.Name] = ToValue(p.Value); return d; }),
        JsonValueKind.Array => e.EnumerateArray().Select(ToValue).ToArray(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
