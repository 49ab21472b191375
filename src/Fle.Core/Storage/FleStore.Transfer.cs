using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Fle.Core.Configuration;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>Export and import (export_all / import_all).</summary>
public sealed partial class FleStore
{
    /// <summary>
    /// export_all(): one record per trajectory matching the query, a fork after its ancestors (those not selected are
    /// brought in: an import needs them first); each record's steps stream from this store.
    /// </summary>
    public async IAsyncEnumerable<FleExportRecord> ExportAsync(FleTrajectoryQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        foreach (var t in await ExportListAsync(query, cancellationToken).ConfigureAwait(false))
            yield return ToExportRecord(t);
    }

    /// <summary>The export record of one trajectory, or null when it does not exist.</summary>
    public async Task<FleExportRecord?> ExportTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        var t = await GetTrajectoryAsync(id, cancellationToken).ConfigureAwait(false);
        return t is null ? null : ToExportRecord(t);
    }

    /// <summary>The trajectories of a query in the order an export writes them: parents before their forks, ancestors brought in.</summary>
    private async Task<List<FleTrajectory>> ExportListAsync(FleTrajectoryQuery query, CancellationToken ct)
    {
        var list = await ListTrajectoriesAsync(query, ct).ConfigureAwait(false);
        if (list.All(t => t.ParentId is null)) return list;
        var have = list.Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var t in list.Where(t => t.ParentId is not null))
            foreach (var a in (await RequireLineageAsync(t.Id, ct).ConfigureAwait(false))[..^1])
                if (have.Add(a.Id)) missing.Add(a.Id);
        if (missing.Count > 0) list.AddRange(await ListTrajectoriesAsync(new FleTrajectoryQuery { Ids = missing }, ct).ConfigureAwait(false));
        var depth = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in list) depth[t.Id] = t.ParentId is null ? 0 : (await RequireLineageAsync(t.Id, ct).ConfigureAwait(false)).Length - 1;
        return list.Select((t, i) => (t, i)).OrderBy(x => depth[x.t.Id]).ThenBy(x => x.i).Select(x => x.t).ToList();
    }

    // A fork's record holds its own steps (it inherits the rest from its ancestors' records, which come first); its
    // states go through the target's codec, as a fork's rows may refer to its ancestors' keyframes.
    private FleExportRecord ToExportRecord(FleTrajectory t) => new(ct => ReadExportStepsAsync(t.Id, ct))
    {
        Id = t.Id, TaskId = t.TaskId, Status = t.Status, StartTime = t.StartTime, EndTime = t.EndTime, MetadataJson = t.MetadataJson,
        StepCount = t.OwnStepCount, Source = Location, ParentId = t.ParentId, ForkStepNumber = t.ForkStepNumber,
        StoredSource = t.ParentId is null ? new StoredTrajectorySource(this, t.Id) : null,
    };

    /// <summary>The steps a trajectory stores itself (not those a fork inherits), with their decoded game states, streamed.</summary>
    public async IAsyncEnumerable<FleExportStep> ReadExportStepsAsync(string trajectoryId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        FleIds.Validate(trajectoryId);
        await foreach (var s in StreamStepRowsAsync(Sql.SelectStepsWithState, trajectoryId, 0, long.MaxValue, r => ReadStep(r, true), cancellationToken).ConfigureAwait(false))
        {
            var cp = s as FleCheckpoint;
            yield return new FleExportStep
            {
                SourceId = s.Id, StepNumber = s.StepNumber, AgentCode = s.AgentCode, EnvironmentFeedback = s.EnvironmentFeedback,
                Timestamp = s.Timestamp, MetadataJson = s.MetadataJson, GameState = cp?.GameState, StateTimestamp = cp?.StateTimestamp,
            };
        }
    }

    /// <summary>Write the trajectories matching the query to an export file (see <see cref="FleExportFormat"/>).</summary>
    public async Task<FleExportFileResult> ExportToFileAsync(FleTrajectoryQuery query, string path, IProgress<FleProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(query);
        var sw = Stopwatch.StartNew();
        var full = Path.GetFullPath(path);
        // The trajectory rows are small: list them first, so progress knows the total number of steps.
        var trajectories = await ExportListAsync(query, cancellationToken).ConfigureAwait(false);
        var totalSteps = Math.Max(1, trajectories.Sum(t => t.OwnStepCount));
        var partial = full + ".partial";
        long steps = 0, states = 0, bytes = 0, written = 0;
        try
        {
            await using (var w = FleExportWriter.Create(partial, Backend.ToString(), Location, SchemaVersion, FleExportFormat.IsGzipName(full)))
            {
                foreach (var t in trajectories)
                {
                    var rec = ToExportRecord(t);
                    w.WriteTrajectory(rec);
                    long ts = 0, tst = 0;
                    try
                    {
                        await foreach (var s in rec.GetStepsAsync(cancellationToken).ConfigureAwait(false))
                        {
                            w.WriteStep(t.Id, s);
                            ts++;
                            if (s.GameState is { } g) { tst++; bytes += g.LongLength; }
                            if (++steps % 50 == 0)
                                progress?.Report(new FleProgress("Export", $"{written} of {trajectories.Count} trajectories, {steps} steps", (int)(100 * steps / totalSteps), t.Id));
                        }
                    }
                    catch (FleException e) when (e.ErrorId == FleErrorIds.TrajectoryNotFound)
                    {
                        // Deleted while exporting: its end line records what was read.
                    }
                    w.WriteEnd(t.Id, ts, tst);
                    states += tst;
                    written++;
                    progress?.Report(new FleProgress("Export", $"{written} of {trajectories.Count} trajectories, {steps} steps", (int)(100 * steps / totalSteps), t.Id));
                }
                await w.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            File.Move(partial, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(partial); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new FleException(FleErrorIds.ExportFailed, FleErrorKind.PermissionDenied, $"The export to '{full}' failed: {e.Message}", e, full);
        }
        catch
        {
            try { File.Delete(partial); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        return new FleExportFileResult
        {
            Path = full, Trajectories = written, Steps = steps, States = states, Bytes = bytes,
            Size = new FileInfo(full).Length, Sha256 = FleFiles.Sha256(full), Duration = sw.Elapsed, Source = Location,
        };
    }

    /// <summary>
    /// import_all(): write one trajectory, with all its steps and states, in ONE transaction. A record exported from a
    /// Fle store has its states copied in their stored form (keyframe dictionary rows renumbered), each checked by
    /// decoding it before it is written; other records (export files, records built in memory) are encoded with this
    /// store's codec. Reading the source, checking the copied states and writing the target run on three threads with
    /// bounded queues between them (see <see cref="ImportFeed"/>).
    /// An interruption or a bad record rolls the whole trajectory back.
    /// </summary>
    public async Task<FleImportItemResult> ImportTrajectoryAsync(FleExportRecord record, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        using var importer = TrajectoryImport.Create(Settings, record, onConflict, progress);
        return await ImportAsync(importer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Run a prepared import (its reading side may have started already: see <see cref="FleImportTarget"/>).</summary>
    internal async Task<FleImportItemResult> ImportAsync(TrajectoryImport importer, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var id = importer.Record.Id;
        await StartFromStoredKeyframeAsync(importer, importer.Append, cancellationToken).ConfigureAwait(false);
        var result = await RunAsync(ct => ImportCoreAsync(importer, ct), id, null, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == FleImportOutcome.Replaced)
        {
            Codec.Forget(id);
            Codec.ForgetDictionaries(importer.ReplacedDictionaries);
            ForgetLineage([id]);
        }
        return result;
    }

    /// <summary>Import every trajectory of an export file; per-trajectory failures are reported through <paramref name="onError"/> (when null they throw).</summary>
    public async Task<FleImportSummary> ImportFileAsync(string path, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, Action<FleException>? onError = null, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        var summary = new FleImportSummary { Target = Location, Backend = Backend };
        await using var reader = FleExportReader.Open(Path.GetFullPath(path));
        var length = Math.Max(1, reader.Length);
        progress?.Report(new FleProgress("Import", $"Importing {path} into {Location}", 0));
        await foreach (var rec in reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            progress?.Report(new FleProgress("Import",
                $"{summary.Trajectories} imported, {summary.Skipped} skipped, {summary.Failed} failed", (int)Math.Min(100, 100 * reader.Position / length), rec.Id));
            try
            {
                summary.Add(await ImportTrajectoryAsync(rec, onConflict, progress is null ? null : new SyncProgress(p =>
                    progress.Report(p with { PercentComplete = (int)Math.Min(100, 100 * reader.Position / length) })), cancellationToken).ConfigureAwait(false));
            }
            catch (FleException e) when (onError is not null && e.ErrorId is FleErrorIds.ImportConflict or FleErrorIds.InvalidArgument
                or FleErrorIds.InvalidText or FleErrorIds.InvalidMetadata or FleErrorIds.StateTooLarge or FleErrorIds.StepAlreadyExists)
            {
                summary.Failed++;
                onError(e);
            }
        }
        summary.Duration = sw.Elapsed;
        return summary;
    }

    private async Task<FleImportItemResult> ImportCoreAsync(TrajectoryImport import, CancellationToken ct)
    {
        await import.BeginAttemptAsync().ConfigureAwait(false); // a transient failure runs the whole import again: nothing of an earlier attempt is kept
        await using var conn = await Provider.OpenConnectionAsync(ct).ConfigureAwait(false);
        return await Provider.BulkImportAsync(conn, import, ct).ConfigureAwait(false);
    }
}

/// <summary>A progress sink that reports synchronously (System.Progress posts to the thread pool and may reorder).</summary>
internal sealed class SyncProgress(Action<FleProgress> report) : IProgress<FleProgress>
{
    public void Report(FleProgress value) => report(value);
}
