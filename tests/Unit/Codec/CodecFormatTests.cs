using System.Text;
using Fle.Core;
using Fle.Core.Codec;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Xunit;
using ZstdSharp;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Codec;

/// <summary>
/// Storage formats of game states through a real store (issue 5): every codec path reads back byte-exact, rows in the
/// first engine's format (plain keyframe dictionaries, codecs raw / zstd / zstd-dict) still read and can be extended,
/// and rooted keyframe dictionaries survive renumbered ids (as an export/import produces).
/// </summary>
public sealed class CodecFormatTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fle-codec-" + Guid.NewGuid().ToString("n")[..8]);
    private string DbPath => Path.Combine(_dir, "fle.db");

    public CodecFormatTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private Task<FleStore> OpenAsync() => FleStore.OpenAsync(FleSettingsResolver.Resolve(new FleSettingsOverrides
    {
        Backend = FleBackend.Sqlite, SqlitePath = DbPath, Environment = new Dictionary<string, string?>(), WorkingDirectory = _dir,
    }));

    /// <summary>An FLE-like state: a large stable part (the research table), a base64 blob that changes every third step, a counter.</summary>
    private static byte[] FleLikeState(int step)
    {
        var rng = new Random(5);
        var sb = new StringBuilder("{\"research\": {");
        for (var i = 0; i < 120; i++)
            sb.Append($"\"tech-{i}\": {{\"prerequisites\": [\"tech-{rng.Next(Math.Max(1, i))}\"], \"unit_count\": {rng.Next(10, 500)}, \"researched\": false}}, ");
        var blob = new byte[4000 + 40 * (step / 3)];
        new Random(1000 + step / 3).NextBytes(blob);
        sb.Append("\"progress\": 0.5}, \"entities\": \"").Append(Convert.ToBase64String(blob)).Append("\", \"timestamp\": ").Append(1000 + step).Append('}');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var c = new SqliteConnection($"Data Source={DbPath};Pooling=false");
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Every_codec_path_reads_back_byte_exact()
    {
        var states = new List<byte[]> { Array.Empty<byte>(), new byte[] { 1, 2, 3 }, RandomBytes(100, 1), new byte[200], new byte[300], RandomBytes(20_000, 2), new byte[] { 0x37, 0xA4, 0x30, 0xEC }.Concat(FleLikeState(0)).ToArray() };
        for (var i = 0; i < 60; i++) states.Add(FleLikeState(i));
        string id;
        await using (var store = await OpenAsync())
        {
            id = (await store.CreateTrajectoryAsync("codec")).Id;
            for (var n = 0; n < states.Count; n++)
            {
                var cp = await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = n, AgentCode = "", EnvironmentFeedback = "", GameState = states[n] });
                SameBytes(states[n], cp.GameState, $"step {n} as returned by save");
            }
            for (var n = 0; n < states.Count; n++)
                SameBytes(states[n], (await store.GetCheckpointAsync(id, n))!.GameState, $"step {n}, warm store");
        }
        // every path was taken: raw, zstd, zstd-dict; plain (root) and rooted keyframe dictionaries
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM game_states WHERE codec = 0") > 0, "no raw rows");
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM game_states WHERE codec = 1") > 0, "no zstd rows");
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM game_states WHERE codec = 2") > 0, "no zstd-dict rows");
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM state_dictionaries WHERE hex(substr(data, 1, 4)) <> '464C5231'") > 0, "no plain keyframe");
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM state_dictionaries WHERE hex(substr(data, 1, 4)) = '464C5231'") > 0, "no rooted keyframe");

        // a new process: nothing cached, every keyframe and root is found from the rows
        SqliteConnection.ClearAllPools();
        await using (var cold = await OpenAsync())
        {
            for (var n = states.Count - 1; n >= 0; n--)
                SameBytes(states[n], (await cold.GetCheckpointAsync(id, n))!.GameState, $"step {n}, cold store");
            SameBytes(states[^1], (await cold.GetLatestCheckpointAsync(id))!.GameState, "latest, cold store");
            // the writer resumes from a rooted keyframe after a restart
            for (var i = 60; i < 70; i++)
            {
                var s = FleLikeState(i);
                await cold.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = states.Count, AgentCode = "", EnvironmentFeedback = "", GameState = s });
                states.Add(s);
            }
        }
        SqliteConnection.ClearAllPools();
        await using (var again = await OpenAsync())
            for (var n = 0; n < states.Count; n++)
                SameBytes(states[n], (await again.GetCheckpointAsync(id, n))!.GameState, $"step {n} after the writer resumed");
    }

    [Fact]
    public async Task Rows_in_the_first_engine_format_still_read_and_extend()
    {
        // The first engine wrote plain keyframe dictionaries (a zstd level-3 frame of the keyframe) and rows with
        // codec 0 (raw), 1 (zstd) and 2 (zstd against the keyframe). Write exactly that by hand, then read it.
        string id;
        await using (var store = await OpenAsync()) id = (await store.CreateTrajectoryAsync("old")).Id;
        var keyframe = FleLikeState(0);
        var old = new List<(int Codec, byte[] Raw, byte[] Data, bool Dict)>();
        using (var plain = new Compressor(3))
        using (var delta = new Compressor(3))
        {
            delta.LoadDictionary(keyframe);
            old.Add((0, new byte[] { 7, 7, 7 }, new byte[] { 7, 7, 7 }, false));
            var z = RandomBytes(50, 9).Concat(new byte[200]).ToArray();
            old.Add((1, z, plain.Wrap(z).ToArray(), false));
            old.Add((2, keyframe, delta.Wrap(keyframe).ToArray(), true));
            for (var i = 1; i < 8; i++) { var s = FleLikeState(i); old.Add((2, s, delta.Wrap(s).ToArray(), true)); }
        }
        await using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=false"))
        {
            await c.OpenAsync();
            await using var tx = c.BeginTransaction();
            var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO state_dictionaries (trajectory_id, raw_size, data, created_at) VALUES ($t, $size, $data, '2026-01-01T00:00:00.000000Z') RETURNING id";
            cmd.Parameters.AddWithValue("$t", id);
            cmd.Parameters.AddWithValue("$size", keyframe.Length);
            using (var plain = new Compressor(3)) cmd.Parameters.AddWithValue("$data", plain.Wrap(keyframe).ToArray());
            var dictId = (long)(await cmd.ExecuteScalarAsync())!;
            for (var n = 0; n < old.Count; n++)
            {
                var step = c.CreateCommand();
                step.Transaction = tx;
                step.CommandText = "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, timestamp, metadata) VALUES ($t, $n, '', '', '2026-01-01T00:00:00.000000Z', '{}') RETURNING id";
                step.Parameters.AddWithValue("$t", id);
                step.Parameters.AddWithValue("$n", n);
                var stepId = (long)(await step.ExecuteScalarAsync())!;
                var gs = c.CreateCommand();
                gs.Transaction = tx;
                gs.CommandText = "INSERT INTO game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, timestamp) VALUES ($t, $s, $n, $codec, $dict, $size, $data, '2026-01-01T00:00:00.000000Z')";
                gs.Parameters.AddWithValue("$t", id);
                gs.Parameters.AddWithValue("$s", stepId);
                gs.Parameters.AddWithValue("$n", n);
                gs.Parameters.AddWithValue("$codec", old[n].Codec);
                gs.Parameters.AddWithValue("$dict", old[n].Dict ? dictId : DBNull.Value);
                gs.Parameters.AddWithValue("$size", old[n].Raw.Length);
                gs.Parameters.AddWithValue("$data", old[n].Data);
                await gs.ExecuteNonQueryAsync();
            }
            await tx.CommitAsync();
        }
        SqliteConnection.ClearAllPools();
        var expected = old.Select(o => o.Raw).ToList();
        await using (var store = await OpenAsync())
        {
            for (var n = 0; n < expected.Count; n++)
                SameBytes(expected[n], (await store.GetCheckpointAsync(id, n))!.GameState, $"old-format step {n}");
            // the new engine continues the old trajectory (its writer starts from the old plain keyframe)
            for (var i = 8; i < 40; i++)
            {
                var s = FleLikeState(i);
                await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = expected.Count, AgentCode = "", EnvironmentFeedback = "", GameState = s });
                expected.Add(s);
            }
        }
        SqliteConnection.ClearAllPools();
        await using (var store = await OpenAsync())
            for (var n = 0; n < expected.Count; n++)
                SameBytes(expected[n], (await store.GetCheckpointAsync(id, n))!.GameState, $"mixed old/new step {n}");
    }

    [Fact]
    public async Task Rooted_keyframes_survive_renumbered_ids_and_a_missing_root_is_reported()
    {
        string id;
        var states = Enumerable.Range(0, 40).Select(FleLikeState).ToList();
        await using (var store = await OpenAsync())
        {
            id = (await store.CreateTrajectoryAsync("renumber")).Id;
            for (var n = 0; n < states.Count; n++)
                await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = n, AgentCode = "", EnvironmentFeedback = "", GameState = states[n] });
        }
        Assert.True(await ScalarAsync("SELECT COUNT(*) FROM state_dictionaries WHERE hex(substr(data, 1, 4)) = '464C5231'") > 0, "no rooted keyframe");

        // Renumber every dictionary in reverse order (an import into another database assigns new ids).
        await using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=false;Foreign Keys=False"))
        {
            await c.OpenAsync();
            await using var tx = c.BeginTransaction();
            foreach (var sql in new[]
            {
                "CREATE TEMP TABLE remap AS SELECT id AS old_id, 100000 - id AS new_id FROM state_dictionaries",
                "UPDATE state_dictionaries SET id = (SELECT new_id FROM remap WHERE old_id = id)",
                "UPDATE game_states SET dictionary_id = (SELECT new_id FROM remap WHERE old_id = dictionary_id) WHERE dictionary_id IS NOT NULL",
            })
            {
                var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = sql;
                await cmd.ExecuteNonQueryAsync();
            }
            await tx.CommitAsync();
        }
        SqliteConnection.ClearAllPools();
        await using (var store = await OpenAsync())
            for (var n = states.Count - 1; n >= 0; n--)
                SameBytes(states[n], (await store.GetCheckpointAsync(id, n))!.GameState, $"step {n} after renumbering");

        // Without its root, a rooted keyframe cannot be decoded: CorruptGameState, not wrong bytes.
        await using (var c = new SqliteConnection($"Data Source={DbPath};Pooling=false;Foreign Keys=False"))
        {
            await c.OpenAsync();
            var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM state_dictionaries WHERE hex(substr(data, 1, 4)) <> '464C5231'";
            await cmd.ExecuteNonQueryAsync();
        }
        SqliteConnection.ClearAllPools();
        await using (var store = await OpenAsync())
        {
            var rootedStep = await ScalarAsync("SELECT MAX(g.step_number) FROM game_states g JOIN state_dictionaries d ON d.id = g.dictionary_id");
            await ThrowsFle(FleErrorIds.CorruptState, () => store.GetCheckpointAsync(id, rootedStep));
        }
    }
}
