using System.Collections;
using System.Management.Automation;
using System.Text;
using System.Text.Json;
using Fle.Core;

namespace Fle.PowerShell.Internal;

/// <summary>Turns PowerShell values (hashtables, PSCustomObjects, strings, byte arrays) into what the engine stores.</summary>
internal static class PSConvert
{
    private const int MaxDepth = 64;

    /// <summary>Metadata: a hashtable/dictionary/PSCustomObject, or a JSON object string. Null stays null.</summary>
    public static string? MetadataJson(object? value)
    {
        value = Unwrap(value);
        return value switch
        {
            null => null,
            string s => FleJson.NormalizeObject(s),
            IDictionary or PSObject => JsonSerializer.Serialize(ToPlain(value, 0), JsonOptions),
            _ => throw new FleException(FleErrorIds.InvalidMetadata, FleErrorKind.InvalidArgument,
                $"Metadata must be a hashtable, a PSCustomObject or a JSON object string, not {value.GetType().Name}."),
        };
    }

    /// <summary>A game state: a string (stored as its exact UTF-8 bytes), a byte[] (as is), or any object (as JSON).</summary>
    public static byte[] GameState(object? value)
    {
        value = Unwrap(value);
        switch (value)
        {
            case null:
                throw new FleException(FleErrorIds.InvalidArgument, FleErrorKind.InvalidArgument, "The game state is null.");
            case byte[] bytes:
                return bytes;
            case string s:
                return FleText.ToUtf8(s, "game state"); // validated while encoded
            case object[] arr when arr.Length > 0 && arr.All(o => Unwrap(o) is byte):
                return arr.Select(o => (byte)Unwrap(o)!).ToArray();
            default:
                return JsonSerializer.SerializeToUtf8Bytes(ToPlain(value, 0), JsonOptions);
        }
    }

    public static object? Unwrap(object? value) => value is PSObject pso && pso.BaseObject is not PSCustomObject ? pso.BaseObject : value;

    /// <summary>Convert to dictionaries, arrays and primitives that System.Text.Json writes faithfully.</summary>
    public static object? ToPlain(object? value, int depth)
    {
        if (depth > MaxDepth)
            throw new FleException(FleErrorIds.InvalidMetadata, FleErrorKind.InvalidArgument, $"The value is nested more than {MaxDepth} levels deep (a cycle?).");
        value = Unwrap(value);
        switch (value)
        {
            case null: return null;
            case string s:
                FleText.Validate(s, "metadata value");
                return s;
            case char c:
                FleText.Validate(c.ToString(), "metadata value");
                return c;
            case bool: return value;
            case DateTime dt: return dt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(dt, DateTimeKind.Utc) : dt.ToUniversalTime();
            case DateTimeOffset or Guid or TimeSpan: return value.ToString();
            case Enum e: return e.ToString();
            case sbyte or byte or short or ushort or int or uint or long or ulong or float or double or decimal: return value;
            case System.Numerics.BigInteger bi: return bi.ToString();
            case byte[] b: return Convert.ToBase64String(b);
            case IDictionary d:
            {
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in d)
                {
                    var key = Convert.ToString(Unwrap(entry.Key), System.Globalization.CultureInfo.InvariantCulture) ?? "";
                    FleText.Validate(key, "metadata key");
                    result[key] = ToPlain(entry.Value, depth + 1);
                }
                return result;
            }
            case PSObject pso:
            {
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var p in pso.Properties)
                {
                    if (p.MemberType is not (PSMemberTypes.NoteProperty or PSMemberTypes.Property)) continue;
                    FleText.Validate(p.Name, "metadata key");
                    result[p.Name] = ToPlain(p.Value, depth + 1);
                }
                return result;
            }
            case IEnumerable en:
                return en.Cast<object?>().Select(x => ToPlain(x, depth + 1)).ToList();
            default:
            {
                var pso = PSObject.AsPSObject(value);
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var p in pso.Properties)
                {
                    if (p.MemberType is not PSMemberTypes.Property) continue;
                    try { result[p.Name] = ToPlain(p.Value, depth + 1); }
                    catch (GetValueException) { /* a property that throws is left out */ }
                }
                return result;
            }
        }
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
