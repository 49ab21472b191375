using System.Text;
using Fle.Core;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

public abstract partial class StoreContractTests
{
    private static readonly byte[] DictMagic = [0x37, 0xA4, 0x30, 0xEC]; // 0xEC30A437 little-endian: a zstd dictionary header

    /// <summary>Game states that take each path through the codec (raw, plain zstd, keyframe dictionary, refused as dictionary).</summary>
    public static byte[] Case(string name) => name switch
    {
        "unicode-json" => Encoding.UTF8.GetBytes(
            "{\"player\":\"Ægir 🚀\",\"message\":\"工厂 ⚙ готово\",\"escaped\":\"\\u00e9\\n\",\"values\":[" +
            string.Join(",", Enumerable.Range(0, 300).Select(i => $"{{\"n\":{i},\"s\":\"ü{i}😀\"}}")) + "]}"),
        "empty" => [],
        "one-byte" => [0],
        "tiny-json" => "{\"tick\":1}"u8.ToArray(),
        "63-bytes" => RandomBytes(63, 63),
        "64-random-bytes" => RandomBytes(64, 64),
        "255-byte-json" => Encoding.UTF8.GetBytes("{\"a\":\"" + new string('a', 247) + "\"}"),
        "256-byte-json" => Encoding.UTF8.GetBytes("{\"a\":\"" + new string('b', 248) + "\"}"),
        "random-binary-300k" => RandomBytes(300_000, 7),
        "zeros-1mb" => new byte[1 << 20],
        "all-byte-values" => [.. Enumerable.Range(0, 64 * 256).Select(i => (byte)(i % 256))],
        "invalid-utf8" => [0xFF, 0xFE, 0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, .. "{\"json\":false}"u8, 0xF0, 0x28, 0x8C, 0xBC, .. new byte[400]],
        "dict-magic-tiny" => [.. DictMagic, 1, 2, 3],
        "dict-magic-only" => DictMagic,
        "dict-magic-json" => [.. DictMagic, .. GameState(11, 0, 20_000)],
        "dict-magic-random" => [.. DictMagic, .. RandomBytes(5_000, 5)],
        "dict-magic-after-1-byte" => [0x00, .. DictMagic, .. GameState(12, 0, 5_000)],
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    public static TheoryData<string> Cases => new(
        "unicode-json", "empty", "one-byte", "tiny-json", "63-bytes", "64-random-bytes", "255-byte-json", "256-byte-json",
        "random-binary-300k", "zeros-1mb", "all-byte-values", "invalid-utf8", "dict-magic-tiny", "dict-magic-only",
        "dict-magic-json", "dict-magic-random", "dict-magic-after-1-byte");

    /// <summary>Reads a checkpoint back every way there is, from the given store.</summary>
    private static async Task AssertReadsBack(FleStore store, string trajectoryId, long step, byte[] expected, bool isLatest, string label)
    {
        var at = await store.GetCheckpointAsync(trajectoryId, step);
        Assert.True(at is not null, $"{label}: GetCheckpoint({step}) returned null");
        SameBytes(expected, at.GameState, $"{label}: GetCheckpoint({step})");
        Assert.Equal(expected.Length, at.GameStateSize);
        Assert.Contains(at.Codec, new[] { "raw", "zstd", "zstd-dict", "keyframe" });

        var viaSteps = (await store.GetStepsAsync(trajectoryId, FleStepRange.Single(step), includeGameState: true).ToListAsync()).Single();
        Assert.True(viaSteps.HasGameState, $"{label}: GetSteps says there is no state");
        SameBytes(expected, viaSteps.GameState, $"{label}: GetSteps({step}, includeGameState)");

        var light = (await store.GetStepsAsync(trajectoryId, FleStepRange.Single(step)).ToListAsync()).Single();
        Assert.True(light.HasGameState);
        Assert.Equal(expected.Length, light.GameStateSize);
        Assert.Null(light.GameState);

        if (isLatest)
        {
            var latest = await store.GetLatestCheckpointAsync(trajectoryId);
            Assert.Equal(step, latest?.StepNumber);
            SameBytes(expected, latest!.GameState, $"{label}: GetLatestCheckpoint");
        }
    }

    [ContractTheory]
    [MemberData(nameof(Cases))]
    public async Task Game_states_round_trip_byte_for_byte(string name)
    {
        var state = Case(name);

        // alone in a trajectory (the first state: a keyframe candidate)
        var alone = await NewTrajectoryAsync("rt", "alone");
        var saved = await CheckpointAsync(alone.Id, 0, state);
        SameBytes(state, saved.GameState, "returned by SaveCheckpoint");
        Assert.Equal(state.Length, saved.GameStateSize);

        // after FLE states (compressed against an existing keyframe, or a new one), then followed by one
        var mixed = await NewTrajectoryAsync("rt", "mixed");
        await CheckpointAsync(mixed.Id, 0, GameState(21, 0, 30_000));
        await CheckpointAsync(mixed.Id, 1, GameState(21, 1, 30_000));
        await CheckpointAsync(mixed.Id, 2, state);

        await AssertReadsBack(Store, alone.Id, 0, state, isLatest: true, $"{name} alone");
        await AssertReadsBack(Store, mixed.Id, 2, state, isLatest: true, $"{name} mixed");

        await CheckpointAsync(mixed.Id, 3, GameState(21, 3, 30_000));
        await AssertReadsBack(Store, mixed.Id, 3, GameState(21, 3, 30_000), isLatest: true, $"{name} mixed, next state");

        // a fresh store has no cached keyframes: everything must decode from what is in the database
        var cold = await OpenStoreAsync();
        await AssertReadsBack(cold, alone.Id, 0, state, isLatest: true, $"{name} alone, cold store");
        await AssertReadsBack(cold, mixed.Id, 2, state, isLatest: false, $"{name} mixed, cold store");
        await AssertReadsBack(cold, mixed.Id, 3, GameState(21, 3, 30_000), isLatest: true, $"{name} mixed next, cold store");

        // and a fresh store that writes next (it loads the latest keyframe from the database)
        var writer = await OpenStoreAsync();
        await CheckpointAsync(mixed.Id, 4, state, writer);
        await CheckpointAsync(alone.Id, 1, GameState(21, 4, 30_000), writer);
        var reader = await OpenStoreAsync();
        await AssertReadsBack(reader, mixed.Id, 4, state, isLatest: true, $"{name} written by a cold store");
        await AssertReadsBack(reader, alone.Id, 1, GameState(21, 4, 30_000), isLatest: true, $"{name} alone, next state by a cold store");
        var all = await reader.GetTrajectoryStepsAsync(mixed.Id);
        Assert.Equal([Sha(GameState(21, 0, 30_000)), Sha(GameState(21, 1, 30_000)), Sha(state), Sha(GameState(21, 3, 30_000)), Sha(state)],
            all.Select(s => Sha(s.GameState)));
    }

    [ContractFact]
    public async Task A_caller_that_reuses_one_buffer_for_every_state_reads_each_state_back()
    {
        // Engine callers may fill one array with each new state: nothing Fle keeps (keyframes, their zstd tables, built
        // on another core) may point into it once the save returned.
        var t = await NewTrajectoryAsync();
        var states = Enumerable.Range(0, 40).Select(i => GameState(61 + i / 10, i, 20_000)).ToList();
        var buffer = new byte[states.Max(s => s.Length)];
        for (var i = 0; i < states.Count; i++)
        {
            Array.Clear(buffer);
            var view = buffer.AsSpan(0, states[i].Length);
            states[i].CopyTo(view);
            var exact = buffer.Length == states[i].Length ? buffer : view.ToArray();
            await CheckpointAsync(t.Id, i, exact);
            Array.Fill(exact, (byte)'x'); // the caller scribbles over its array right after the save
        }
        foreach (var reader in new[] { Store, await OpenStoreAsync() })
            for (var i = 0; i < states.Count; i++)
                SameBytes(states[i], (await reader.GetCheckpointAsync(t.Id, i))!.GameState, $"step {i}");
    }

    [ContractFact]
    public async Task A_10_MB_state_round_trips_byte_for_byte()
    {
        var big = GameState(31, 0, 10 * 1024 * 1024);
        Assert.True(big.Length >= 10 * 1024 * 1024);
        var t = await NewTrajectoryAsync();
        var cp = await CheckpointAsync(t.Id, 0, big);
        Assert.Equal(big.Length, cp.GameStateSize);
        await AssertReadsBack(Store, t.Id, 0, big, isLatest: true, "10 MB");

        // a similar 10 MB state next, read back cold
        var next = GameState(31, 1, 10 * 1024 * 1024);
        await CheckpointAsync(t.Id, 1, next);
        var cold = await OpenStoreAsync();
        await AssertReadsBack(cold, t.Id, 0, big, isLatest: false, "10 MB, cold");
        await AssertReadsBack(cold, t.Id, 1, next, isLatest: true, "10 MB next, cold");
    }

    [ContractFact]
    public async Task Similar_states_share_a_keyframe_dictionary_and_drift_starts_a_new_one()
    {
        var t = await NewTrajectoryAsync();
        var states = new List<byte[]>();
        var saved = new List<FleCheckpoint>();
        for (var i = 0; i < 25; i++)
        {
            states.Add(GameState(41, i));
            saved.Add(await CheckpointAsync(t.Id, i, states[^1]));
        }
        Assert.All(states, s => Assert.InRange(s.Length, 45_000, 60_000));
        Assert.Equal(1, await CountRowsAsync("state_dictionaries", t.Id));

        // the content drifts completely: a new keyframe
        for (var i = 25; i < 50; i++)
        {
            states.Add(GameState(42, i));
            saved.Add(await CheckpointAsync(t.Id, i, states[^1]));
        }
        Assert.Equal(2, await CountRowsAsync("state_dictionaries", t.Id));

        // a keyframe's own row is the keyframe (no bytes of its own); every other state is a delta against it
        for (var i = 0; i < saved.Count; i++) Assert.Equal(i is 0 or 25 ? "keyframe" : "zstd-dict", saved[i].Codec);
        // deltas against the keyframe are a small fraction of the raw state
        var deltas = saved.Where((_, i) => i is not 0 and not 25).Select(cp => cp.StoredSize).ToList();
        Assert.True(deltas.Average() < states[0].Length / 10.0, $"average delta {deltas.Average():F0} bytes for {states[0].Length}-byte states");
        var storedStates = await Db.CountAsync("SELECT SUM(LENGTH(state_data)) FROM game_states WHERE trajectory_id = @t", ("@t", t.Id));
        Assert.True(storedStates < states.Sum(s => (long)s.Length) / 10, $"{storedStates} bytes stored for {states.Sum(s => (long)s.Length)}");

        // every state reads back exactly, from this store and from cold ones
        var steps = await Store.GetStepsAsync(t.Id, includeGameState: true).ToListAsync();
        Assert.Equal(50, steps.Count);
        for (var i = 0; i < 50; i++) SameBytes(states[i], steps[i].GameState, $"GetSteps step {i}");
        Assert.Contains("zstd-dict", steps.Cast<FleCheckpoint>().Select(c => c.Codec));

        var cold = await OpenStoreAsync();
        for (var i = 49; i >= 0; i -= 3) SameBytes(states[i], (await cold.GetCheckpointAsync(t.Id, i))!.GameState, $"cold GetCheckpoint step {i}");
        SameBytes(states[49], (await (await OpenStoreAsync()).GetLatestCheckpointAsync(t.Id))!.GameState, "cold GetLatestCheckpoint");
        var coldSteps = await (await OpenStoreAsync()).GetStepsAsync(t.Id, new FleStepRange(20, 30), includeGameState: true).ToListAsync();
        Assert.Equal(11, coldSteps.Count);
        foreach (var s in coldSteps) SameBytes(states[(int)s.StepNumber], s.GameState, $"cold GetSteps step {s.StepNumber}");

        // a new store continues against the latest keyframe instead of starting another
        var writer = await OpenStoreAsync();
        var more = GameState(42, 50);
        var cp50 = await CheckpointAsync(t.Id, 50, more, writer);
        Assert.Equal("zstd-dict", cp50.Codec);
        Assert.Equal(2, await CountRowsAsync("state_dictionaries", t.Id));
        Assert.True(cp50.StoredSize < more.Length / 10, $"stored {cp50.StoredSize} of {more.Length}");
        SameBytes(more, (await (await OpenStoreAsync()).GetLatestCheckpointAsync(t.Id))!.GameState, "state 50, cold");
    }
}
