using System.Text;
using System.Text.RegularExpressions;
using Fle.Core;
using Fle.Core.Report;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Report;

/// <summary>Export-FleReport's engine on a real store, once per backend: what the page holds for the data written.</summary>
public abstract class ReportStoreTests(IBackendFixture fixture) : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "fle-report-" + Guid.NewGuid().ToString("N")[..10]);

    protected FleStore Store { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _db = await fixture.CreateDatabaseAsync();
        Store = await _db.OpenAsync();
        Directory.CreateDirectory(_folder);
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        await _db.DisposeAsync();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    private async Task<FleTrajectory> RunAsync(string task, string model, int steps, Func<int, string> feedback, Func<int, string> metadata,
        Func<int, string>? code = null, bool states = true)
    {
        var t = await Store.CreateTrajectoryAsync(task, $$"""{"model": "{{model}}"}""", null, null);
        var start = DateTime.UtcNow.AddHours(-1);
        for (var i = 0; i < steps; i++)
        {
            var input = new FleStepInput
            {
                TrajectoryId = t.Id, StepNumber = i, AgentCode = code?.Invoke(i) ?? $"print({i})", EnvironmentFeedback = feedback(i),
                MetadataJson = metadata(i), Timestamp = start.AddSeconds(2 * i + (i == 5 ? 30 : 0)),
                GameState = states ? GameState(1, i, 2_000) : null,
            };
            if (states) await Store.SaveCheckpointAsync(input); else await Store.SaveStepAsync(input);
        }
        return (await Store.GetTrajectoryAsync(t.Id))!;
    }

    private async Task<(FleReportResult Result, string Html)> ReportAsync(IReadOnlyList<FleTrajectory> ts, FleReportOptions? options = null)
    {
        var path = Path.Combine(_folder, Guid.NewGuid().ToString("N")[..6], "r.html");
        var result = await FleReport.ExportAsync(Store, ts, path, options);
        return (result, await File.ReadAllTextAsync(path));
    }

    private static string Figure(string html, string key)
    {
        var m = Regex.Match(html, $"<figure class=\"plot\" data-metric=\"{Regex.Escape(key)}\".*?</figure>", RegexOptions.Singleline);
        Assert.True(m.Success, $"no plot for {key}");
        return m.Value;
    }

    [ContractFact]
    public async Task Two_runs_are_overlaid_in_one_plot_per_metric_with_their_values_failed_steps_and_exact_numbers()
    {
        var a = await RunAsync("iron_plate", "gpt-4o", 12, i => i == 7 ? "Traceback (most recent call last):\nNameError: name 'x' is not defined" : $"ok {i}",
            i => $$"""{"reward": {{i * 1.5}}, "ticks": {{60 * i}}, "program_id": {{1000 + i}}}""");
        var b = await RunAsync("iron_plate", "claude", 8, _ => "fine", i => $$"""{"reward": {{10 - i}}, "error_occurred": {{(i == 3 ? "true" : "false")}}}""", states: false);
        var (result, html) = await ReportAsync([a, b]);

        Assert.Equal(["reward", "ticks"], result.Metrics);       // program_id is an identifier
        Assert.Equal(20, result.Steps);
        Assert.Equal(2, result.FailedSteps);
        var reward = Figure(html, "reward");
        Assert.Contains("data-series=\"2\"", reward);
        Assert.Equal(2, Regex.Matches(reward, "<polyline ").Count);
        Assert.Contains("data-step=\"4\" data-value=\"6\"", reward);                 // a's step 4: reward 4 * 1.5
        Assert.Contains("class=\"fail-pt\" ", reward);
        Assert.Matches("class=\"fail-pt\"[^>]*data-step=\"7\" data-value=\"10.5\"", reward);
        Assert.Matches("class=\"fail-pt\"[^>]*data-step=\"3\" data-value=\"7\"", reward);
        Assert.Contains("<ul class=\"legend\">", reward);
        Assert.Contains("gpt-4o · " + a.Id, reward);
        var ticks = Figure(html, "ticks");
        Assert.Contains("data-series=\"1\"", ticks);                                   // b has no ticks, but its failure is marked
        Assert.Matches("class=\"fail-mark\" data-step=\"3\"", ticks);
        Assert.DoesNotContain("data-metric=\"program_id\"", html);
        // b's step 5 came 32 s after step 4 (its timestamps), and a's states were measured
        Assert.Matches("data-step=\"5\" data-value=\"32\"", Figure(html, "step-duration"));
        Assert.Contains("data-series=\"1\"", Figure(html, "game-state-size"));
        // the exact numbers
        var row = Regex.Match(html, $"<section class=\"trajectory c0\".*?<tr data-metric=\"reward\">(.*?)</tr>", RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains("<td class=\"n count\">12</td>", row);
        Assert.Contains("<td class=\"n max\">16.5 (11)</td>", row);
        Assert.Contains("<td class=\"n mean\">8.25</td>", row);
        // the summary: raw vs stored bytes of a's states
        var size = await Store.GetTrajectorySizeAsync(a.Id);
        Assert.Equal(12, size.States);
        Assert.Contains($"title=\"{size.RawStateBytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes\"", html);
        Assert.Contains($"title=\"{size.StoredStateBytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes\"", html);
        Assert.InRange(size.StoredStateBytes, 1, size.RawStateBytes - 1);
        // every step listed, with its code; the failed one marked
        Assert.Equal(20, Regex.Matches(html, "<details class=\"step").Count);
        Assert.Matches("<details class=\"step failed\" id=\"t0-s7\"", html);
    }

    [ContractFact]
    public async Task Untrusted_text_is_escaped_everywhere()
    {
        const string evil = "</script><script>document.title='pwned'</script><img src=x onerror=alert(1)>\"'";
        var t = await Store.CreateTrajectoryAsync("task<script>x</script>", $$"""{"model": "<b>m</b>", "<img src=x>": "{{evil.Replace("\"", "\\\"")}}"}""", "id-<i>-1", null);
        await Store.SaveStepAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 0, AgentCode = evil, EnvironmentFeedback = evil, MetadataJson = """{"<svg onload=alert(1)>": 3}""",
        });
        var (_, html) = await ReportAsync([(await Store.GetTrajectoryAsync(t.Id))!]);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<b>m", html);
        Assert.DoesNotContain("<i>", html);
        Assert.DoesNotContain("<svg onload", html);
        Assert.Contains("&lt;/script&gt;&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;", html);
        Assert.Contains("data-metric=\"&lt;svg onload=alert(1)&gt;\"", html);
        Assert.Contains("default-src 'none'", html);
    }

    [ContractFact]
    public async Task A_long_run_is_drawn_downsampled_while_its_numbers_stay_exact_and_its_listed_steps_are_capped()
    {
        const int n = 3_000;
        var t = await RunAsync("long", "m", n, i => i % 700 == 350 ? "Error: blocked" : "ok", i => $$"""{"score": {{(i == 1234 ? 99999 : i % 100)}}}""",
            code: i => new string('x', i == 2 ? 5_000 : 20), states: false);
        var options = new FleReportOptions { Buckets = 100, FirstSteps = 5, LastSteps = 5, FailedSteps = 2, MaxTextChars = 1000 };
        var (result, html) = await ReportAsync([t], options);

        var score = Figure(html, "score");
        var points = Regex.Match(score, "<polyline points=\"([^\"]*)\"").Groups[1].Value.Split(' ');
        Assert.InRange(points.Length, 100, 500);
        Assert.Contains($"data-total=\"{n}\"", score);
        // The one spike (99,999 at step 1234) is drawn near the top; every other value (0-99) near the bottom.
        var ys = points.Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Single(ys, y => y < 30);
        Assert.Equal(4, Regex.Matches(score, "class=\"fail-pt\"").Count);                  // steps 350, 1050, 1750, 2450, each in a bucket of its own
        Assert.Equal(4, Regex.Matches(score, "class=\"fail-mark\"").Count);
        Assert.Contains("<td class=\"n max\">99999 (1234)</td>", html);
        Assert.Contains("<td class=\"n count\">3,000</td>", html);
        Assert.Equal(4, result.FailedSteps);
        // 5 first + 2 failed + 5 last, with notes for the gaps
        var listed = Regex.Matches(html, "<details class=\"step[^\"]*\" id=\"t0-s(\\d+)\"").Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal([0, 1, 2, 3, 4, 350, 1050, 2995, 2996, 2997, 2998, 2999], listed);
        Assert.Contains("12 of 3,000 steps are listed", html);
        // the engine names no cmdlet: a front end says how its users read the other steps (FleReportOptions.MoreStepsCommand)
        Assert.DoesNotContain("-Fle", html);
        Assert.Contains("Made by Fle on", html);
        Assert.Contains("… 345 step(s) not listed …", html);
        Assert.Contains("Cut here: 1,000 of 5,000 characters shown.", html);
    }

    [ContractFact]
    public async Task Chosen_metrics_are_plotted_in_their_order_and_a_missing_one_is_reported()
    {
        var t = await RunAsync("m", "m", 3, _ => "ok", i => $$"""{"b": {{i}}, "a": {"x": {{i * 2}}}, "program_id": {{i}}}""", states: false);
        var (result, html) = await ReportAsync([t], new FleReportOptions { Metrics = ["program_id", "a.x", "nope", "A.X"] });
        Assert.Equal(["program_id", "a.x", "nope"], result.Metrics);                  // a key named twice is plotted once
        Assert.Contains("<tr data-metric=\"a.x\"><td>a.x</td><td class=\"n count\">3</td>", html);
        Assert.Equal(["nope"], result.MissingMetrics);
        var keys = Regex.Matches(html, "<figure class=\"plot\" data-metric=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["program_id", "a.x", "nope", "step-duration", "game-state-size"], keys);
        Assert.Contains("data-step=\"2\" data-value=\"4\"", Figure(html, "a.x"));
        Assert.Contains("No step has a value here.", Figure(html, "nope"));
    }

    [ContractFact]
    public async Task No_trajectory_too_many_and_an_unwritable_path_are_Fle_errors_that_leave_no_file()
    {
        var t = await RunAsync("e", "m", 1, _ => "", _ => "{}", states: false);
        var path = Path.Combine(_folder, "none.html");
        await ThrowsFle(FleErrorIds.ReportNoTrajectory, () => FleReport.ExportAsync(Store, [], path));
        await ThrowsFle(FleErrorIds.ReportTooManyTrajectories, () => FleReport.ExportAsync(Store, Enumerable.Repeat(t, 25).ToList(), path));
        Assert.False(File.Exists(path));
        var blocker = Path.Combine(_folder, "a-file");
        await File.WriteAllTextAsync(blocker, "x");
        var e = await ThrowsFle(FleErrorIds.ReportWriteFailed, () => FleReport.ExportAsync(Store, [t], Path.Combine(blocker, "r.html")));
        Assert.Contains(Path.Combine(blocker, "r.html"), e.Message);
        var dir = Path.Combine(_folder, "is-a-folder.html");
        Directory.CreateDirectory(dir);
        await ThrowsFle(FleErrorIds.ReportWriteFailed, () => FleReport.ExportAsync(Store, [t], dir));
        Assert.Empty(Directory.GetFiles(_folder, "*.partial-*", SearchOption.AllDirectories));
        await ThrowsFle(FleErrorIds.TrajectoryNotFound, () => Store.GetTrajectorySizeAsync("no-such-run"));
    }

    [ContractFact]
    public async Task Find_keeps_the_given_order_and_names_the_missing_ids()
    {
        var a = await RunAsync("f", "m", 1, _ => "", _ => "{}", states: false);
        var b = await RunAsync("f", "m", 1, _ => "", _ => "{}", states: false);
        var (found, missing) = await FleReport.FindAsync(Store, [b.Id, "gone", a.Id, b.Id]);
        Assert.Equal([b.Id, a.Id], found.Select(t => t.Id));
        Assert.Equal(["gone"], missing);
    }
}

public sealed class SqliteReportTests(SqliteBackendFixture fixture) : ReportStoreTests(fixture), IClassFixture<SqliteBackendFixture>;

[RequiresPostgres]
public sealed class PostgresReportTests(PostgresBackendFixture fixture) : ReportStoreTests(fixture), IClassFixture<PostgresBackendFixture>;
