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
        Assert.Equal((100L, 4L), (chain.FirstRowId, chain.RowCount)); // the run's first chain counts the run's undated rows
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
