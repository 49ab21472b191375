using System.Diagnostics;
using System.Text;
using Fle.Core.Storage;

namespace Fle.Core.Report;

/// <summary>Export-FleReport's engine: reads trajectories from a store and writes one self-contained HTML report.</summary>
public static class FleReport
{
    /// <summary>The trajectories with these ids, in the order given (each once), and the ids that do not exist.</summary>
    public static async Task<(List<FleTrajectory> Found, List<string> Missing)> FindAsync(FleStore store, IEnumerable<string> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var wanted = ids.Distinct(StringComparer.Ordinal).ToList();
        var byId = new Dictionary<string, FleTrajectory>(StringComparer.Ordinal);
        foreach (var chunk in wanted.Chunk(500))
        {
            await foreach (var t in store.QueryTrajectoriesAsync(new FleTrajectoryQuery { Ids = chunk }, cancellationToken).ConfigureAwait(false))
                byId[t.Id] = t;
        }
        return (wanted.Where(byId.ContainsKey).Select(id => byId[id]).ToList(), wanted.Where(id => !byId.ContainsKey(id)).ToList());
    }

    /// <summary>
    /// Write the report of <paramref name="trajectories"/> to <paramref name="path"/> (its folder is created; an existing file
    /// is replaced). The file is written under a temporary name next to it and renamed when complete, so a failed or
    /// cancelled report never leaves half a file under the name.
    /// </summary>
    public static async Task<FleReportResult> ExportAsync(FleStore store, IReadOnlyList<FleTrajectory> trajectories, string path,
        FleReportOptions? options = null, IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(trajectories);
        options ??= new FleReportOptions();
        if (trajectories.Count == 0)
            throw new FleException(FleErrorIds.ReportNoTrajectory, FleErrorKind.InvalidArgument, $"There is no trajectory to report on; {path} was not written.", target: path)
            { RecommendedAction = "Give the ids of existing trajectories." };
        if (trajectories.Count > FleReportOptions.MaxTrajectories)
            throw new FleException(FleErrorIds.ReportTooManyTrajectories, FleErrorKind.InvalidArgument,
                $"A report compares at most {FleReportOptions.MaxTrajectories} trajectories ({trajectories.Count} were given): more curves than that in one plot cannot be told apart. {path} was not written.",
                target: path)
            { RecommendedAction = "Narrow the selection (one task, the newest few), or make one report per group." };

        var sw = Stopwatch.StartNew();
        var full = Path.GetFullPath(path);
        var total = Math.Max(1, trajectories.Sum(t => t.StepCount));
        long done = 0;
        var builder = new ReportBuilder(options);
        var reports = new List<TrajectoryReport>(trajectories.Count);
        for (var i = 0; i < trajectories.Count; i++)
        {
            var t = trajectories[i];
            var label = $"Trajectory {i + 1} of {trajectories.Count}: {t.Id}";
            progress?.Report(new FleProgress("Report", label, (int)(100 * done / total)));
            var before = done;
            reports.Add(await builder.ReadAsync(store, t, i, n =>
            {
                if (n % 500 != 0) return;
                progress?.Report(new FleProgress("Report", label, (int)Math.Min(99, 100 * (before + n) / total), $"step {n:N0} of {t.StepCount:N0}"));
            }, cancellationToken).ConfigureAwait(false));
            done = before + reports[^1].Steps;
        }
        progress?.Report(new FleProgress("Report", $"Writing {full}", 99));
        var plan = ReportPlan.For(reports, options);
        var tree = await TreeAsync(store, reports, cancellationToken).ConfigureAwait(false);
        var bytes = await WriteAsync(full, new ReportPage(options, reports, plan, tree), cancellationToken).ConfigureAwait(false);
        return new FleReportResult
        {
            Path = full, Bytes = bytes, Trajectories = reports.Count, Steps = reports.Sum(r => r.Steps), FailedSteps = reports.Sum(r => r.FailedCount),
            Metrics = plan.Metrics, MissingMetrics = plan.MissingMetrics, Duration = sw.Elapsed,
        };
    }

    /// <summary>
    /// The tree of forks the reported trajectories belong to, with the ancestors that join them (drawn in grey), or null
    /// when every reported trajectory is a root without a reported fork.
    /// </summary>
    private static async Task<List<TreeNode>?> TreeAsync(FleStore store, List<TrajectoryReport> reports, CancellationToken ct)
    {
        var reported = reports.Select(r => r.Trajectory.Id).ToHashSet(StringComparer.Ordinal);
        if (reports.All(r => r.Trajectory.ParentId is null)) return null;
        var nodes = reports.Select(r => Node(r.Trajectory, r.Index, r.Model)).ToDictionary(n => n.Id, StringComparer.Ordinal);
        foreach (var r in reports.Where(r => r.Trajectory.ParentId is not null))
            foreach (var a in await store.GetAncestryAsync(r.Trajectory.Id, ct).ConfigureAwait(false))
                if (!nodes.ContainsKey(a.Id)) nodes[a.Id] = Node(a, null, a.Metadata.TryGetValue("model", out var m) ? m as string : null);
        return [.. nodes.Values];
    }

    private static TreeNode Node(FleTrajectory t, int? color, string? model)
    {
        var id = t.Id.Length > 13 ? "…" + t.Id[^12..] : t.Id;
        var label = model is null ? id : $"{id} {model}";
        return new TreeNode(t.Id, t.ParentId, t.ForkStepNumber, t.LastStepNumber, color, label.Length > 34 ? label[..33] + "…" : label, t.Status.ToString().ToLowerInvariant());
    }

    private static async Task<long> WriteAsync(string full, ReportPage page, CancellationToken ct)
    {
        var partial = full + ".partial-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            await using (var stream = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            await using (var writer = new StreamWriter(stream, new UTF8Encoding(false), 64 * 1024))
            {
                await page.WriteAsync(writer, ct).ConfigureAwait(false);
                await writer.FlushAsync(ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            if (Directory.Exists(full)) throw new IOException($"{full} is a folder.");
            File.Move(partial, full, overwrite: true);
            return new FileInfo(full).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or System.Security.SecurityException)
        {
            TryDelete(partial);
            throw new FleException(FleErrorIds.ReportWriteFailed, FleErrorKind.StorageError, $"The report could not be written to {full}: {e.Message}", e, full)
            { RecommendedAction = "Choose a path in a folder you can write to (with free space), or remove what is in the way." };
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
