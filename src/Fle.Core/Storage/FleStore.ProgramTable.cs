using Dapper;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>A trajectory that Import-FleProgramTable created (its metadata's imported_from.format is "fle-programs").</summary>
internal sealed record ProgramImportRecord(string Id, FleTrajectoryStatus Status, DateTime? EndTime, string MetadataJson);

/// <summary>One step of a trajectory as the program-table import sees it: its number, the FLE row it came from, when, and whether that row failed.</summary>
internal readonly record struct ImportedStep(long StepNumber, long? ProgramId, DateTime Timestamp, bool ErrorOccurred);

/// <summary>The status, end time and metadata a program-table import gives a trajectory when it is done with it.</summary>
internal sealed record TrajectoryRecordUpdate(FleTrajectoryStatus Status, DateTime EndTime, string MetadataJson);

// Engine primitives for Import-FleProgramTable: finding the trajectories of earlier imports, reading what they hold,
// and writing a run through the bulk import path (see FleStore.Transfer.cs).
public sealed partial class FleStore
{
    /// <summary>The value of imported_from.format in the metadata of every trajectory Import-FleProgramTable creates.</summary>
    internal const string ProgramImportFormat = "fle-programs";

    /// <summary>
    /// Set a trajectory's status and end time as recorded elsewhere (an import): Completed or Failed with the
    /// given end time, or Running with none.
    /// </summary>
    public Task<FleTrajectory> SetTrajectoryEndAsync(string id, FleTrajectoryStatus status, DateTime? endTime,
        CancellationToken cancellationToken = default)
    {
        if (status == FleTrajectoryStatus.Running && endTime is not null)
            throw FleException.InvalidArgument("A running trajectory has no end time.");
        if (status != FleTrajectoryStatus.Running && endTime is null)
            throw FleException.InvalidArgument("A completed or failed trajectory needs an end time.");
        return SetStatusAsync(id, status, endTime is { } e ? FleClock.Truncate(e) : null, cancellationToken);
    }

    /// <summary>Every trajectory that Import-FleProgramTable created, with its status, end time and metadata.</summary>
    internal Task<List<ProgramImportRecord>> ListProgramImportsAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var d = Provider.Dialect;
        return ReadListAsync($"SELECT id, status, end_time, {d.JsonText("metadata")} FROM trajectories WHERE {d.JsonPathText("metadata", "imported_from", "format")} = @format",
            [("@format", ProgramImportFormat)], null,
            r => new ProgramImportRecord(r.GetString(0), ParseStatus(r.GetString(1)), r.IsDBNull(2) ? null : Provider.ReadTime(r, 2), r.GetString(3)), cancellationToken);
    }

    /// <summary>
    /// The steps of a trajectory in step order with the program id (step metadata program_id, null for a step that did
    /// not come from FLE's table) and meta.error_occurred of each, without the large columns.
    /// </summary>
    internal Task<List<ImportedStep>> ReadImportedStepsAsync(string trajectoryId, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var d = Provider.Dialect;
        return ReadListAsync($"SELECT step_number, {d.JsonPathJson("metadata", "program_id")}, \"timestamp\", {d.JsonPathJson("metadata", "meta")} " +
            "FROM steps WHERE trajectory_id = @t ORDER BY step_number", [("@t", trajectoryId)], trajectoryId, r =>
        {
            var n = r.GetInt64(0);
            var program = r.IsDBNull(1) ? null : Import.ProgramValues.AsWhole(r.GetValue(1));
            var ts = Provider.ReadTime(r, 2);
            var error = !r.IsDBNull(3) && r.GetValue(3) is string meta && MetaErrorOccurred(meta);
            return new ImportedStep(n, program, ts, error);
        }, cancellationToken);
    }

    private static bool MetaErrorOccurred(string metaJson)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(metaJson);
            return Import.ProgramValues.ErrorOccurred(doc.RootElement);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Set the status, end time and metadata of a trajectory an earlier program-table import created.</summary>
    internal async Task UpdateTrajectoryRecordAsync(string id, TrajectoryRecordUpdate update, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var n = await DbAsync((conn, ct) => conn.ExecuteAsync(Cmd(Sql.UpdateRecord, new
        {
            status = StatusText(update.Status), end = Provider.TimeParameter(FleClock.Truncate(update.EndTime)),
            metadata = FleJson.NormalizeObject(update.MetadataJson), id,
        }, ct)), id, cancellationToken).ConfigureAwait(false);
        if (n == 0) throw FleException.TrajectoryNotFound(id);
    }

    /// <summary>
    /// Write one FLE run through the bulk import path of Import-FleData (one transaction; steps and states streamed, into
    /// PostgreSQL by binary COPY): as a new trajectory (the record's id must be free: else FleImportConflict), or
    /// (<paramref name="append"/>) as new steps of the existing trajectory of that id. The steps come checked by the caller
    /// (<see cref="TrajectoryImport.CheckStep"/>). <paramref name="finish"/> is called after the last step is read and
    /// before the commit: it gives the trajectory's final status, end time and metadata, or null to write nothing (no
    /// step of a new trajectory could be imported). Returns Skipped when nothing was written.
    /// </summary>
    internal async Task<FleImportItemResult> ImportProgramRunAsync(FleExportRecord record, bool append, Func<TrajectoryRecordUpdate?> finish,
        CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        using var importer = TrajectoryImport.ForProgramRun(Settings, record, append, finish);
        var result = await ImportAsync(importer, cancellationToken).ConfigureAwait(false);
        if (append) Codec.Forget(record.Id); // its keyframes changed underneath this store's cached writer state
        return result;
    }
}
