using System.Security.Cryptography;
using System.Text;
using Fle.Core;
using Xunit;

namespace Fle.Tests.Infrastructure;

/// <summary>Game states and assertions shared by the contract tests.</summary>
public static class TestData
{
    /// <summary>A FLE-like JSON game state of about <paramref name="approxBytes"/> bytes. States of one
    /// <paramref name="world"/> share almost all their bytes; <paramref name="tick"/> changes a few entities.</summary>
    public static byte[] GameState(int world, int tick, int approxBytes = 50_000)
    {
        var rng = new Random(world);
        var sb = new StringBuilder(approxBytes + 512);
        sb.Append("{\"world\":").Append(world).Append(",\"tick\":").Append(tick * 60).Append(",\"player\":{\"position\":{\"x\":")
          .Append(tick * 0.5).Append(",\"y\":").Append(-tick * 0.25).Append("}},\"research\":{\"current\":\"automation-")
          .Append(world).Append("\",\"progress\":").Append((tick % 100) / 100.0).Append("},\"entities\":[");
        string[] kinds = ["burner-mining-drill", "stone-furnace", "transport-belt", "inserter", "assembling-machine-1", "iron-chest", "pipe", "boiler"];
        for (var i = 0; sb.Length < approxBytes; i++)
        {
            if (i > 0) sb.Append(',');
            var kind = kinds[rng.Next(kinds.Length)];
            var x = rng.Next(-500, 500) + rng.NextDouble();
            var y = rng.Next(-500, 500) + rng.NextDouble();
            var fuel = rng.Next(0, 50);
            var status = rng.Next(3);
            // a few entities change per tick
            if ((i + tick) % 37 == 0) { fuel = (fuel + tick) % 50; status = (status + tick) % 3; }
            sb.Append("{\"name\":\"").Append(kind).Append("\",\"unit_number\":").Append(world * 100_000 + i)
              .Append(",\"position\":{\"x\":").Append(x.ToString("F3", System.Globalization.CultureInfo.InvariantCulture))
              .Append(",\"y\":").Append(y.ToString("F3", System.Globalization.CultureInfo.InvariantCulture))
              .Append("},\"direction\":").Append(rng.Next(4) * 2)
              .Append(",\"fuel\":{\"coal\":").Append(fuel).Append("},\"status\":\"")
              .Append(status switch { 0 => "working", 1 => "no_fuel", _ => "waiting_for_source_items" })
              .Append("\",\"label\":\"fábrica-").Append(i).Append(" 工厂 ⚙\"}");
        }
        sb.Append("],\"inventory\":{\"iron-plate\":").Append(100 + tick).Append(",\"coal\":").Append(50 + tick * 2).Append("}}");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    public static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    public static string Sha(byte[]? b) => b is null ? "(null)" : $"{b.Length}:{Convert.ToHexString(SHA256.HashData(b))}";

    /// <summary>Byte-for-byte equality, compared by length and SHA-256 (a failure message stays short).</summary>
    public static void SameBytes(byte[] expected, byte[]? actual, string where)
    {
        Assert.True(actual is not null, $"{where}: no game state bytes were returned");
        Assert.True(Sha(expected) == Sha(actual), $"{where}: expected {Sha(expected)}, got {Sha(actual)}");
    }

    public static async Task<FleException> ThrowsFle(string errorId, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<FleException>(action);
        Assert.True(errorId == e.ErrorId, $"expected ErrorId {errorId}, got {e.ErrorId}: {e.Message}");
        return e;
    }

    public static FleException ThrowsFle(string errorId, Action action)
    {
        var e = Assert.Throws<FleException>(action);
        Assert.True(errorId == e.ErrorId, $"expected ErrorId {errorId}, got {e.ErrorId}: {e.Message}");
        return e;
    }

    public static async Task<List<T>> ToListAsync<T>(this IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var x in source) list.Add(x);
        return list;
    }
}
