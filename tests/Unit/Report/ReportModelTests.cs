using Fle.Core.Report;
using Xunit;

namespace Fle.Tests.Report;

/// <summary>The report's pure parts: escaping, downsampling, the failed-step rule, metric discovery.</summary>
public sealed class ReportModelTests
{
    // ------------------------------------------------------------------ escaping

    [Theory]
    [InlineData("</script><script>document.title='x'</script>")]
    [InlineData("<img src=x onerror=\"alert(1)\">")]
    [InlineData("\"><svg onload=alert(1)>")]
    [InlineData("' onmouseover='alert(1)")]
    [InlineData("&lt;b&gt; already escaped & <!-- comment -->")]
    public void Escaped_text_has_no_markup_and_reads_back_as_the_same_text(string text)
    {
        var e = Html.Escape(text);
        Assert.DoesNotContain('<', e);
        Assert.DoesNotContain('>', e);
        Assert.DoesNotContain('"', e);
        Assert.DoesNotContain('\'', e);
        Assert.Equal(text, System.Net.WebUtility.HtmlDecode(e));
    }

    [Fact]
    public void Characters_HTML_does_not_allow_become_the_replacement_character()
    {
        var e = Html.Escape("a\u0000b\u0007c\u0085d\uD800e\uFFFEf\tg\nh😀");
        Assert.Equal("a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\tg\nh😀", e);
        Assert.Equal("x\ny\nz", Html.Escape("x\r\ny\rz"));
    }

    [Fact]
    public void Cutting_never_splits_a_surrogate_pair()
    {
        Assert.Equal("ab", Html.Cut("ab😀", 3));
        Assert.Equal("ab😀", Html.Cut("ab😀c", 4));
        Assert.Equal("abc", Html.Cut("abc", 10));
    }

    // ------------------------------------------------------------------ downsampling

    [Fact]
    public void A_run_shorter_than_the_buckets_keeps_every_point_exactly()
    {
        var s = new SeriesSampler(3, 102, 400);
        for (var i = 3; i <= 102; i++) s.Add(i, i * 0.5, failed: i == 50);
        var points = s.Points().ToList();
        Assert.Equal(1, s.BucketWidth);
        Assert.Equal(Enumerable.Range(3, 100).Select(i => (long)i), points.Select(p => p.Step));
        Assert.Equal(Enumerable.Range(3, 100).Select(i => i * 0.5), points.Select(p => p.Value));
        Assert.Equal([50L], points.Where(p => p.Failed).Select(p => p.Step));
    }

    [Fact]
    public void Downsampling_keeps_each_buckets_extremes_ends_and_first_failed_step()
    {
        const int n = 10_000, buckets = 100;
        var rng = new Random(7);
        var values = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 100 - 50).ToArray();
        values[4321] = 1e6;   // a lone spike
        values[8765] = -1e6;  // and a dip
        var failed = new HashSet<long> { 17, 18, 5000, 9999 };
        var s = new SeriesSampler(0, n - 1, buckets);
        for (var i = 0; i < n; i++) s.Add(i, values[i], failed.Contains(i));
        var points = s.Points().ToList();

        Assert.Equal(100, s.BucketWidth);
        Assert.InRange(points.Count, buckets * 2, buckets * 5);
        Assert.Equal(points.OrderBy(p => p.Step).Select(p => p.Step), points.Select(p => p.Step)); // in step order
        Assert.Equal(points.Count, points.Select(p => p.Step).Distinct().Count());                 // each step once
        Assert.Contains(points, p => p.Step == 4321 && p.Value == 1e6);
        Assert.Contains(points, p => p.Step == 8765 && p.Value == -1e6);
        for (var b = 0; b < buckets; b++)
        {
            var range = Enumerable.Range(b * 100, 100).ToList();
            var inBucket = points.Where(p => p.Step / 100 == b).ToList();
            Assert.Contains(inBucket, p => p.Step == range[0]);
            Assert.Contains(inBucket, p => p.Step == range[^1]);
            Assert.Contains(inBucket, p => p.Value == range.Min(i => values[i]));
            Assert.Contains(inBucket, p => p.Value == range.Max(i => values[i]));
        }
        // Steps 17 and 18 share a bucket: its first failed step is kept. Every failed step of another bucket is kept.
        Assert.Equal([17L, 5000L, 9999L], points.Where(p => p.Failed).Select(p => p.Step));
        Assert.Equal(n, s.Count);
    }

    [Fact]
    public void Failure_marks_are_one_per_bucket_with_the_count_and_the_first_reason()
    {
        var f = new FailureSampler(0, 999, 10);
        f.Add(5, "first");
        f.Add(7, "second");
        f.Add(950, "late");
        var marks = f.Marks().ToList();
        Assert.Equal(2, marks.Count);
        Assert.Equal(new FailureSampler.Mark(5, 7, 2, "first"), marks[0]);
        Assert.Equal(new FailureSampler.Mark(950, 950, 1, "late"), marks[1]);
    }

    [Fact]
    public void Ticks_are_round_and_cover_the_range()
    {
        double lo = 3, hi = 97;
        var t = SvgPlot.Ticks(ref lo, ref hi, 5, integers: false);
        Assert.Equal([0d, 20, 40, 60, 80, 100], t);
        Assert.Equal((0d, 100d), (lo, hi));
        double a = 5, b = 5;
        Assert.NotEmpty(SvgPlot.Ticks(ref a, ref b, 5, integers: false));
        Assert.True(a < 5 && b > 5);
        double tiny = 1e-320, tiny2 = 2e-320, huge = -1.7e308, huge2 = 1.7e308;  // ends, not an endless loop
        Assert.InRange(SvgPlot.Ticks(ref tiny, ref tiny2, 5, integers: false).Count, 2, 101);
        Assert.InRange(SvgPlot.Ticks(ref huge, ref huge2, 5, integers: false).Count, 2, 101);
    }

    // ------------------------------------------------------------------ failed steps

    [Theory]
    [InlineData("Traceback (most recent call last):\n  File \"<string>\", line 1\nNameError: name 'x' is not defined", "Traceback (most recent call last):")]
    [InlineData("placed furnace\nNameError: name 'x' is not defined", "NameError: name 'x' is not defined")]
    [InlineData("0: ('Error occurred in the following lines:\n  Line 1: x')", "0: ('Error occurred in the following lines:")]
    [InlineData("  Error: Could not place entity", "Error: Could not place entity")]
    [InlineData("fle.env.exceptions.PlacementError: blocked", "fle.env.exceptions.PlacementError: blocked")]
    [InlineData("Exception: out of coal", "Exception: out of coal")]
    [InlineData("ERROR something broke", "ERROR something broke")]
    public void Feedback_that_reports_an_error_fails_the_step_with_that_line(string feedback, string reason)
        => Assert.Equal(reason, StepFailureRule.Reason(new Dictionary<string, object?>(), feedback));

    [Theory]
    [InlineData("Placed stone furnace at (1, 0)")]
    [InlineData("No errors found")]
    [InlineData("Errors: 0")]
    [InlineData("print('Error')")]
    [InlineData("the ErrorHandler is fine")]
    [InlineData("")]
    public void Ordinary_feedback_does_not_fail_the_step(string feedback)
        => Assert.Null(StepFailureRule.Reason(new Dictionary<string, object?>(), feedback));

    [Fact]
    public void A_metadata_flag_decides_before_the_feedback()
    {
        var traceback = "Traceback (most recent call last):";
        Dictionary<string, object?> Meta(params (string, object?)[] kv) => kv.ToDictionary(x => x.Item1, x => x.Item2, StringComparer.OrdinalIgnoreCase);
        Assert.Equal("metadata error_occurred = true", StepFailureRule.Reason(Meta(("error_occurred", true)), "fine"));
        Assert.Equal("metadata failed = true", StepFailureRule.Reason(Meta(("Failed", true)), "fine"));
        Assert.Null(StepFailureRule.Reason(Meta(("error_occurred", false)), traceback));       // an explicit false wins
        Assert.Equal("metadata error: timeout", StepFailureRule.Reason(Meta(("error", "timeout")), "fine"));
        Assert.Equal(traceback, StepFailureRule.Reason(Meta(("error", ""), ("failed", null)), traceback)); // no decision: the feedback
        Assert.Equal("metadata meta.error_occurred = true",
            StepFailureRule.Reason(Meta(("meta", new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase) { ["error_occurred"] = true })), "fine"));
    }

    [Fact]
    public void A_huge_feedback_is_scanned_in_linear_time_up_to_the_limit()
    {
        var big = new string('(', StepFailureRule.ScannedChars * 2) + "\nNameError: late";
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(StepFailureRule.Reason(new Dictionary<string, object?>(), big));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        Assert.NotNull(StepFailureRule.Reason(new Dictionary<string, object?>(), new string('x', 1000) + "\nNameError: early"));
    }

    // ------------------------------------------------------------------ metrics

    [Fact]
    public void Discovery_takes_numbers_and_nested_numbers_but_not_identifiers_booleans_texts_or_arrays()
    {
        var meta = Fle.Core.FleJson.ToDictionary("""
            {"reward": 1.5, "ticks": 600, "ok": true, "model": "gpt-4o", "program_id": 12, "id": 3, "parent_id": 2, "list": [1, 2],
             "token_usage": {"total": 120, "prompt": 100, "deep": {"deeper": {"x": 1}, "y": 2}}}
            """);
        var found = MetricReader.Numbers(meta).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(new Dictionary<string, double>
        {
            ["reward"] = 1.5, ["ticks"] = 600, ["token_usage.total"] = 120, ["token_usage.prompt"] = 100, ["token_usage.deep.y"] = 2,
        }, found);
    }

    [Fact]
    public void An_explicit_metric_is_a_top_level_key_first_then_a_dotted_path()
    {
        var meta = Fle.Core.FleJson.ToDictionary("""{"a.b": 1, "a": {"b": 2, "c": {"d": 3}}, "program_id": 9, "t": "7"}""");
        Assert.Equal(1, MetricReader.Read(meta, "a.b"));
        Assert.Equal(3, MetricReader.Read(meta, "a.c.d"));
        Assert.Equal(9, MetricReader.Read(meta, "PROGRAM_ID"));
        Assert.Null(MetricReader.Read(meta, "t"));
        Assert.Null(MetricReader.Read(meta, "a.x"));
    }
}
