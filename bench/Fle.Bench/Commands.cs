using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fle.Bench;

public static partial class Commands
{
    static void Log(string s) => Console.WriteLine(s);

    static void WriteJson(Args o, JsonNode node)
    {
        if (o.Get("json") is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
    }

    public static Task<int> Codec(Args o)
    {
        var steps = o.Int("steps", 1000);
        var json = new JsonObject();
        foreach (var rate in o.Flag("quick") ? new[] { 0.35 } : new[] { 0.35, 1.0 })
        {
            var w = new FleWorkload(new WorkloadOptions { EntityChangeRate = rate });
            var states = w.Take(steps).Select(s => s.State).ToList();
            Log($"codec candidates on {steps} generated states, entity change rate {rate:P0} (mean raw state {states.Average(s => s.Length):N0} B):");
            var results = CodecStudy.Run(states, Log, o.Flag("quick"));
            json[$"entity_change_rate_{rate:F2}"] = new JsonObject
            {
                ["mean_raw_state_bytes"] = states.Average(s => s.Length),
                ["candidates"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
                {
                    ["name"] = r.Name, ["bytes_per_state"] = Math.Round(r.BytesPerState, 1), ["fraction_of_raw_state"] = Math.Round(r.FractionOfRawState, 5),
                    ["encode_us"] = Math.Round(r.EncodeMicros, 1), ["decode_us"] = Math.Round(r.DecodeMicros, 1), ["keyframes"] = r.Keyframes,
                }).ToArray()),
            };
        }
        // keyframe policies as the engine runs them, at three entity change rates (cheap: the quick run does all three)
        var policies = new JsonObject();
        foreach (var rate in new[] { 0.10, 0.35, 1.0 })
        {
            var states = new FleWorkload(new WorkloadOptions { EntityChangeRate = rate }).Take(steps).Select(s => s.State).ToList();
            Log($"keyframe policies on {steps} generated states, entity change rate {rate:P0} (engine zstd settings; SQLite pages estimated):");
            policies[$"entity_change_rate_{rate:F2}"] = new JsonArray(KeyframeStudy.Run(states, Log).Select(r => (JsonNode)new JsonObject
            {
                ["name"] = r.Name, ["keyframes"] = r.Keyframes, ["roots"] = r.Roots, ["bytes_per_state"] = Math.Round(r.PayloadPerState, 1),
                ["sqlite_page_bytes_per_state"] = Math.Round(r.SqlitePagesPerState, 1), ["encode_us"] = Math.Round(r.EncodeMicros, 1),
            }).ToArray());
        }
        json["keyframe_policies"] = policies;
        WriteJson(o, json);
        return Task.FromResult(0);
    }
}
