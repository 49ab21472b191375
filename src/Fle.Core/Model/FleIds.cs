using System.Security.Cryptography;

namespace Fle.Core;

/// <summary>Time-ordered, globally unique trajectory ids (RFC 9562 UUID version 7, as lowercase text).</summary>
public static class FleIds
{
    private static long _lastMs;
    private static long _seq;
    private static readonly object Gate = new();

    /// <summary>A new UUIDv7. Ids from one process sort by creation time; ids from different machines never collide.</summary>
    public static string NewTrajectoryId()
    {
        Span<byte> b = stackalloc byte[16];
        RandomNumberGenerator.Fill(b);
        long ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long seq;
        lock (Gate)
        {
            if (ms <= _lastMs) { ms = _lastMs; seq = ++_seq; }
            else { _lastMs = ms; _seq = seq = 0; }
            if (seq > 0xFFF) { ms = ++_lastMs; _seq = seq = 0; }
        }
        b[0] = (byte)(ms >> 40); b[1] = (byte)(ms >> 32); b[2] = (byte)(ms >> 24);
        b[3] = (byte)(ms >> 16); b[4] = (byte)(ms >> 8); b[5] = (byte)ms;
        // version 7 + 12-bit sequence (monotonic within a millisecond)
        b[6] = (byte)(0x70 | ((seq >> 8) & 0x0F));
        b[7] = (byte)seq;
        b[8] = (byte)((b[8] & 0x3F) | 0x80); // variant
        return Convert.ToHexString(b).ToLowerInvariant().Insert(20, "-").Insert(16, "-").Insert(12, "-").Insert(8, "-");
    }

    /// <summary>Checks a caller-supplied id: 1-200 characters, no control characters.</summary>
    public static void Validate(string? id, string what = "trajectory id")
    {
        if (string.IsNullOrWhiteSpace(id))
            throw FleException.InvalidArgument($"The {what} is empty.");
        if (id.Length > 200)
            throw FleException.InvalidArgument($"The {what} is {id.Length} characters long; the limit is 200.", id[..20] + "...");
        foreach (var c in id)
            if (char.IsControl(c))
                throw FleException.InvalidArgument($"The {what} contains a control character.", id);
        FleText.Validate(id, what);
    }
}
