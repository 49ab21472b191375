using System.Security.Cryptography;
using Fle.Core;
using Fle.Core.Storage;

namespace Fle.Tests.Infrastructure;

/// <summary>A store's whole content as comparable lines, for round trips between stores (ids left out).</summary>
public static class StoreSnapshot
{
    /// <summary>Every field of every trajectory and step, exact timestamps, metadata as parsed JSON, SHA-256 of every decoded state.</summary>
    public static async Task<List<string>> TakeAsync(FleStore store)
    {
        var lines = new List<string>();
        foreach (var t in (await store.GetAllTrajectoriesAsync()).OrderBy(t => t.Id, StringComparer.Ordinal))
        {
            lines.Add($"T|{t.Id}|{t.TaskId}|{t.Status}|{t.StartTime.Ticks}|{t.EndTime?.Ticks}|{Canon(t.MetadataJson)}|{t.StepCount}|{t.ParentId}@{t.ForkStepNumber}");
            await foreach (var s in store.GetStepsAsync(t.Id, FleStepRange.All, includeGameState: true))
            {
                var cp = s as FleCheckpoint;
                lines.Add($"S|{t.Id}#{s.StepNumber}<{s.StoredIn}|{s.AgentCode}|{s.EnvironmentFeedback}|{s.Timestamp.Ticks}|{Canon(s.MetadataJson)}|{Sha(s.GameState)}|{cp?.StateTimestamp.Ticks}");
            }
        }
        return lines;
    }

    private static string Sha(byte[]? b) => b is null ? "-" : $"{b.Length}:{Convert.ToHexString(SHA256.HashData(b))}";

    /// <summary>A JSON object with its keys sorted at every level (two stores may keep key order differently).</summary>
    public static string Canon(string json)
    {
        static object? Sort(object? v) => v switch
        {
            IDictionary<string, object?> d => new SortedDictionary<string, object?>(d.ToDictionary(k => k.Key, k => Sort(k.Value)), StringComparer.Ordinal),
            object[] a => a.Select(Sort).ToArray(),
            _ => v,
        };
        return System.Text.Json.JsonSerializer.Serialize(Sort(FleJson.ToDictionary(json)));
    }
}
