using System.Text.Json;
using Fle.Core;
using Fle.Core.Import;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>The rules of the program-table import that need no database: Python's JSON, step numbering.</summary>
public sealed class ProgramRulesTests
{
    [Theory]
    [InlineData("""{"a": NaN}""", """{"a": "NaN"}""")]
    [InlineData("""{"a": Infinity, "b": -Infinity}""", """{"a": "Infinity", "b": "-Infinity"}""")]
    [InlineData("""[NaN,-Infinity,Infinity]""", """["NaN","-Infinity","Infinity"]""")]
    [InlineData("""{"NaN": "NaN Infinity -Infinity", "x": "a \" NaN"}""", """{"NaN": "NaN Infinity -Infinity", "x": "a \" NaN"}""")] // in strings: kept
    [InlineData("""{"a": 1.5, "b": null}""", """{"a": 1.5, "b": null}""")]
    [InlineData("""{"a": NaNa}""", """{"a": NaNa}""")] // not a token: left as it is (and stays invalid)
    public void Python_json_tokens_become_strings(string python, string expected)
    {
        var json = PythonJson.ToStandardJson(python);
        Assert.Equal(expected, json);
        if (!expected.Contains("NaNa", StringComparison.Ordinal)) JsonDocument.Parse(json).Dispose();
    }

    [Fact]
    public void Text_without_tokens_is_returned_as_is()
    {
        var text = """{"model": "gpt-4o", "process_id": 0}""";
        Assert.Same(text, PythonJson.ToStandardJson(text));
        Assert.Equal(("NaN", "Infinity", "-Infinity"), (PythonJson.NonFinite(double.NaN), PythonJson.NonFinite(double.PositiveInfinity), PythonJson.NonFinite(double.NegativeInfinity)));
    }

    private static ProgramRunPlan Run(params double?[] depths)
    {
        var plan = new ProgramRunPlan("1|0|-1", 1L, 0L, -1L);
        var t = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < depths.Length; i++) plan.AddDated(100 + i, t.AddSeconds(i), depths[i], null, "type:x", "gpt-4o", "{}");
        return plan;
    }

    private static ProgramChain Chain(params double?[] depths) => Assert.Single(ProgramTree.Plan([Run(depths)]).Chains);

    [Theory]
    [InlineData(new double[] { 0.5, 1.5, 3.5 }, new long[] { 1, 2, 4 }, FleStepNumbering.HalvedDepth, null)] // FLE's create_program: depth / 2
    [InlineData(new double[] { 1, 3, 5 }, new long[] { 1, 2, 3 }, FleStepNumbering.Depth, null)] // conversation depth
    [InlineData(new double[] { 0.5, 1.5, 1.5, 2.5, 9.5 }, new long[] { 1, 2, 3, 4, 5 }, FleStepNumbering.HalvedDepth, 3L)] // trimmed: position from 3 on
    [InlineData(new double[] { 1, 2, 3 }, new long[] { 1, 2, 3 }, FleStepNumbering.Depth, 2L)] // 2 is no conversation depth
    [InlineData(new double[] { 0, 1, 2 }, new long[] { 1, 2, 3 }, FleStepNumbering.Position, null)] // FLE's trajectory runner: (len(messages) - 2) / 2
    [InlineData(new double[] { 0.5, 4.5, 2.5 }, new long[] { 1, 5, 6 }, FleStepNumbering.HalvedDepth, 6L)] // going back: by position
    public void Step_numbers_only_look_back(double[] depths, long[] steps, FleStepNumbering scheme, long? positionFrom)
    {
        var chain = Chain(depths.Select(d => (double?)d).ToArray());
        Assert.Equal(steps, chain.Rows.Select(r => r.Step));
        Assert.Equal(scheme, chain.Numbering);
        Assert.Equal(positionFrom, chain.PositionFromStep);
        // Prefix-stable: the numbers of the first rows do not change when rows are added after them.
        for (var n = 1; n < depths.Length; n++)
            Assert.Equal(steps.Take(n), Chain(depths.Take(n).Select(d => (double?)d).ToArray()).Rows.Select(r => r.Step));
    }

    [Fact]
    public void A_missing_depth_numbers_by_position_and_rows_without_created_at_take_no_number()
    {
        var plan = Run(0.5, null, 2.5);
        plan.AddUndated(200);
        var chain = Assert.Single(ProgramTree.Plan([plan]).Chains);
        Assert.Equal(new long[] { 1, 2, 3 }, chain.Rows.Select(r => r.Step));
        Assert.Equal(2, chain.PositionFromStep);
        Assert.Equal((4L, 3), (plan.Rows, plan.Dated.Count));
        Assert.Equal(100L, chain.FirstRowId);
    }

    private static readonly DateTime T0 = new(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>A run of FLE's search (no process_id) or of its trajectory runner, with rows (id, parent_id, stored depth) one second apart.</summary>
    private static ProgramRunPlan Rows(bool search, int instance, params (long Id, long? Parent, double? Depth)[] rows)
    {
        var plan = new ProgramRunPlan($"8|{(search ? "null" : "0")}|{instance}", 8L, search ? null : 0L, (long)instance);
        foreach (var (id, parent, depth) in rows) plan.AddDated(id, T0.AddSeconds(id), depth, parent, "type:x", "gpt-4o", "{}");
        return plan;
    }

    /// <summary>Each row as (first row of its chain, step), in id order: its trajectory and step.</summary>
    private static List<(long Row, long Chain, long Step)> Placed(params ProgramRunPlan[] runs)
        => ProgramTree.Plan(runs).Rows.OrderBy(p => p.Key).Select(p => (p.Key, p.Value.Chain.FirstRowId, p.Value.Step)).ToList();

    [Fact]
    public void Without_parent_ids_a_runner_run_is_one_trajectory_and_a_search_run_a_root_per_row()
    {
        (long, long?, double?)[] rows = [(1, null, 1.5), (2, null, 1.5), (3, null, 1.5)];
        Assert.Equal([(1L, 1L, 2L), (2L, 1L, 3L), (3L, 1L, 4L)], Placed(Rows(false, 0, rows))); // runner: repeated depth, by position
        Assert.Equal([(1L, 1L, 2L), (2L, 2L, 2L), (3L, 3L, 2L)], Placed(Rows(true, -1, rows))); // MCTS: three samples from the start
    }

    [Fact]
    public void The_first_child_continues_its_parent_and_every_later_one_forks_at_its_step()
    {
        // mcts.py: r1 r2 r3 from the start; r4 r5 r6 expand r2; r7 r8 expand r4; r9 expands r1.
        var run = Rows(true, -1, (1, null, 1.5), (2, null, 1.5), (3, null, 1.5), (4, 2, 2.5), (5, 2, 2.5), (6, 2, 2.5), (7, 4, 3.5), (8, 4, 3.5), (9, 1, 2.5));
        var (chains, rows) = ProgramTree.Plan([run]);
        Assert.Equal([(1L, 1L, 2L), (2L, 2L, 2L), (3L, 3L, 2L), (4L, 2L, 3L), (5L, 5L, 3L), (6L, 6L, 3L), (7L, 2L, 4L), (8L, 8L, 4L), (9L, 1L, 3L)], Placed(run));
        var forks = chains.Where(c => c.Parent is not null).Select(c => (c.FirstRowId, c.Parent!.FirstRowId, c.ParentRowId, c.ParentStep)).ToList();
        Assert.Equal([(5L, 2L, (long?)2L, 2L), (6L, 2L, 2L, 2L), (8L, 2L, 4L, 3L)], forks);
        Assert.All(chains, c => Assert.Equal((FleStepNumbering.HalvedDepth, (long?)null), (c.Numbering, c.PositionFromStep))); // forks by depth too
        Assert.Equal(rows[8].Chain.TrajectoryId, FleProgramTableImporter.TrajectoryId("8|null|-1", 8, T0.AddSeconds(8)));
    }

    [Fact]
    public void A_parent_deleted_later_or_the_row_itself_counts_as_no_parent()
    {
        // 2: its parent was deleted (pruned); 3 names 4, a later row (3 and 4 name each other); 5 names itself.
        (long, long?, double?)[] rows = [(1, null, 0), (2, 99, 1), (3, 4, 0), (4, 3, 1), (5, 5, 0)];
        Assert.Equal([(1L, 1L, 1L), (2L, 2L, 1L), (3L, 3L, 1L), (4L, 3L, 2L), (5L, 5L, 1L)], Placed(Rows(true, -1, rows))); // search: roots
        Assert.Equal([(1L, 1L, 1L), (2L, 1L, 2L), (3L, 1L, 3L), (4L, 1L, 4L), (5L, 1L, 5L)], Placed(Rows(false, 0, rows))); // runner: the previous row
    }

    [Fact]
    public void A_child_in_another_run_forks_even_from_the_last_row()
    {
        // chunked_mcts.py: a chunk on instance 1 continues the last chunk of instance 0, which then goes on itself.
        var a = Rows(true, 0, (1, null, 1), (2, 1, 3), (4, 2, 5));
        var b = Rows(true, 1, (3, 2, 5), (5, 3, 7));
        var (chains, _) = ProgramTree.Plan([a, b]);
        Assert.Equal([(1L, 1L, 1L), (2L, 1L, 2L), (3L, 3L, 3L), (4L, 1L, 3L), (5L, 3L, 4L)], Placed(a, b));
        var fork = Assert.Single(chains, c => c.Parent is not null);
        Assert.Equal((b, a, 2L, 2L), (fork.Run, fork.Parent!.Run, fork.ParentRowId!.Value, fork.ParentStep));
    }

    [Fact]
    public void A_fork_is_numbered_as_if_it_continued_its_parent()
    {
        // A fork's first step is its fork step + 1, by depth when the depth says so (9: 2.5 after step 2), else by position
        // from there: a depth that jumps (4) or gives no higher number (6), or a parent already by position at the fork
        // step (5: its parent went by position from step 2).
        var run = Rows(true, -1, (1, null, 0.5), (2, 1, 0.5), (3, 2, 1.5), (4, 1, 9.5), (5, 2, 2.5), (6, 1, 0.5), (7, null, 1.5), (8, 7, 2.5), (9, 7, 2.5));
        var chains = ProgramTree.Plan([run]).Chains;
        Assert.Equal([(1L, 1L, 1L), (2L, 1L, 2L), (3L, 1L, 3L), (4L, 4L, 2L), (5L, 5L, 3L), (6L, 6L, 2L), (7L, 7L, 2L), (8L, 7L, 3L), (9L, 9L, 3L)], Placed(run));
        Assert.Equal([2L, 2L, 3L, 2L, null, null], chains.Select(c => c.PositionFromStep));
    }

    [Fact]
    public void Every_prefix_of_a_random_tree_plans_its_rows_alike()
    {
        // FLE's search over 300 rows: each program a child of an earlier one (MCTS samples any node), or a new root, over two
        // instances; depth as MCTS writes it (one level more than the parent). Rows added later change nothing planned before.
        var rng = new Random(14);
        var rows = new List<(long Id, long? Parent, double Depth, int Instance)>();
        for (var i = 0; i < 300; i++)
        {
            long? parent = i == 0 || rng.Next(8) == 0 ? null : rows[rng.Next(i)].Id;
            var depth = parent is { } p ? rows.Single(r => r.Id == p).Depth + 1 : 1.5;
            rows.Add((1000 + i, parent, depth, rng.Next(2)));
        }
        ProgramRunPlan[] Runs(int n) => [.. Enumerable.Range(0, 2).Select(inst =>
            Rows(true, inst, rows.Take(n).Where(r => r.Instance == inst).Select(r => (r.Id, r.Parent, (double?)r.Depth)).ToArray()))];
        var whole = Placed(Runs(rows.Count));
        foreach (var n in new[] { 1, 7, 50, 123, 299 })
            Assert.Equal(whole.Take(n), Placed(Runs(n)));

        // Every trajectory is a path of the tree: each row's parent is the row before it, or (first row) its fork point.
        var (chains, placed) = ProgramTree.Plan(Runs(rows.Count));
        var parentOf = rows.ToDictionary(r => r.Id, r => r.Parent);
        foreach (var c in chains)
        {
            Assert.Equal(c.ParentRowId, parentOf[c.FirstRowId]);
            if (c.ParentRowId is { } pr) Assert.Equal((c.Parent, c.ParentStep), placed[pr]);
            for (var i = 1; i < c.Rows.Count; i++) Assert.Equal(c.Rows[i - 1].Id, parentOf[c.Rows[i].Id]);
            Assert.All(c.Rows, r => Assert.Equal((long)(rows.Single(x => x.Id == r.Id).Depth + 0.5), r.Step)); // halved depth: step = depth + 0.5
        }
        // One trajectory per root, plus one per child after a program's first in its run (and per child in another run).
        var expected = rows.Count(r => r.Parent is null) + rows.Where(r => r.Parent is not null).GroupBy(r => r.Parent)
            .Sum(g => g.Count() - (g.Any(r => r.Instance == rows.Single(x => x.Id == g.Key).Instance) ? 1 : 0));
        Assert.Equal(expected, chains.Count);
    }

    [Fact]
    public void An_encoded_state_is_checked_against_what_is_stored()
    {
        // What a program-table import checks before its commit: each state decodes back from its rows, byte for byte.
        using var codec = new Fle.Core.Codec.StateCodec();
        var states = Enumerable.Range(0, 6).Select(i => System.Text.Encoding.UTF8.GetBytes(FleSamples.State(i))).ToList();
        long key = 0;
        var deltas = 0;
        foreach (var raw in states)
        {
            var enc = codec.Encode("t", raw, () => null);
            if (enc.Codec == Fle.Core.Codec.StateCodecKind.ZstdDictionary) deltas++;
            Assert.True(codec.RoundTrips(enc, raw));
            var other = (byte[])raw.Clone();
            other[^2] ^= 1;
            Assert.False(codec.RoundTrips(enc, other));
            var damaged = enc.NewDictionaryData ?? enc.Data;
            damaged[damaged.Length / 2] ^= 0x5A;
            Assert.False(codec.RoundTrips(enc, raw));
            damaged[damaged.Length / 2] ^= 0x5A;
            if (enc.NewDictionaryData is not null) codec.Committed("t", enc, ++key);
        }
        Assert.True(key >= 1 && deltas >= 1, $"{key} keyframes, {deltas} deltas");
    }
}
