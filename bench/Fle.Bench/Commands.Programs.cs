using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Fle.Bench;

public static partial class Commands
{
    /// <summary>
    /// Fill FLE's <c>programs</c> table (created beforehand with FLE's own DDL, by FLE's client: bench/Run-Bench.ps1 does
    /// that) with the generated workload, one row per step as FLE's create_program writes it: runs of 250 steps (a version
    /// each, process 0, instance 0), depth halved (0.5, 1.5, ...), meta as FLE's trajectory runner builds it, the last
    /// turns of the conversation, created_at one second apart. The same steps as <c>populate</c>, so the two imports
    /// read the same payload. Prints the rows and their raw payload (code + response + state_json bytes).
    /// </summary>
    public static int Programs(Args o)
    {
        var target = o.Req("target");
        var steps = o.Int("steps", 1000);
        var per = o.Int("per-run", 250);
        using var c = new SqliteConnection($"Data Source={target};Pooling=false");
        c.Open();
        using (var check = c.CreateCommand())
        {
            check.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'programs'";
            if (Convert.ToInt64(check.ExecuteScalar(), CultureInfo.InvariantCulture) != 1)
                throw new InvalidOperationException($"{target} has no programs table: create it with FLE's client first (tests/FleClient/fle_programs.py, op create_table).");
        }
        using var tx = c.BeginTransaction();
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO programs (code, value, visits, parent_id, state_json, conversation_json, completion_token_usage, prompt_token_usage, " +
                          "token_usage, response, holdout_value, raw_reward, version, version_description, model, meta, achievements_json, instance, depth, " +
                          "advantage, ticks, created_at, timing_metrics_json) VALUES (@code, @value, 0, @parent, @state, @conv, 150, 3000, 3150, @response, NULL, " +
                          "@value, @version, @description, 'gpt-4o', @meta, @achievements, 0, @depth, 0.0, @ticks, @created, NULL) RETURNING id";
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "@code", "@value", "@parent", "@state", "@conv", "@response", "@version", "@description", "@meta", "@achievements", "@depth", "@ticks", "@created" })
            p[name] = cmd.Parameters.Add(name, SqliteType.Text);
        long raw = 0, stateBytes = 0;
        var written = 0;
        var run = 0;
        var time = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        while (written < steps)
        {
            run++;
            long? parent = null;
            var k = 0;
            foreach (var s in new FleWorkload(new WorkloadOptions { Seed = run }).Take(Math.Min(per, steps - written)))
            {
                k++;
                var state = Encoding.UTF8.GetString(s.State);
                p["@code"].Value = s.Code;
                p["@value"].Value = 0.01 * k;
                p["@parent"].Value = (object?)parent ?? DBNull.Value;
                p["@state"].Value = state;
                p["@conv"].Value = Conversation(s, k);
                p["@response"].Value = s.Feedback;
                p["@version"].Value = run;
                p["@description"].Value = "model:gpt-4o\ntype:iron_plate_throughput\nnum_agents:1";
                // json.dumps of the trajectory runner's meta; a NaN production score now and then, as FLE writes it
                p["@meta"].Value = $"{{\"model\": \"gpt-4o\", \"process_id\": 0, \"error_occurred\": {(k % 17 == 0 ? "true" : "false")}, \"sweep_id\": \"unknown\", \"production_score\": {(k % 50 == 0 ? "NaN" : (1.5 * k).ToString("R", CultureInfo.InvariantCulture))}}}";
                p["@achievements"].Value = $"{{\"static\": {{\"iron-plate\": {10 * k}}}, \"dynamic\": {{}}}}";
                p["@depth"].Value = k - 0.5;
                p["@ticks"].Value = 600 * k;
                p["@created"].Value = time.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
                time = time.AddSeconds(1);
                parent = (long)cmd.ExecuteScalar()!;
                raw += s.RawPayload;
                stateBytes += s.State.Length;
                written++;
            }
        }
        tx.Commit();
        Console.WriteLine(JsonSerializer.Serialize(new { rows = written, runs = run, raw_bytes = raw, state_bytes = stateBytes, file_bytes = new FileInfo(target).Length }));
        return 0;
    }

    // json.dumps(conversation.dict()): the system prompt and the last turns (FLE keeps up to max_conversation_length).
    private static string Conversation(BenchStep s, int k)
    {
        var messages = new List<object>
        {
            new { role = "system", content = "You are an agent playing Factorio. Write Python that uses the FLE API.", metadata = new { } },
            new { role = "assistant", content = s.Code, metadata = new { } },
            new { role = "user", content = s.Feedback, metadata = new { } },
        };
        return JsonSerializer.Serialize(new { messages, turn = k }).Replace("\",\"", "\", \"", StringComparison.Ordinal);
    }
}
