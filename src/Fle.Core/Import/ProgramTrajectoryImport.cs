using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>
/// One trajectory of the import (<see cref="ProgramTrajectoryWork"/>, placed by <see cref="ProgramPlacement"/>): ask
/// (ShouldProcess), then write its new rows through the bulk import path (one transaction: a new trajectory, root or
/// fork, or new steps of the existing one, with its status, end time and metadata set before the commit) or, with
/// -WhatIf, read and check them only; or, with no new rows, bring the existing trajectory's record up to date.
/// </summary>
internal sealed class ProgramTrajectoryImport(ProgramImport import, ProgramTrajectoryWork work)
{
    private ExistingTrajectory? Existing => work.Existing;
    private ExistingSteps Steps => work.Existing?.Steps ?? ExistingSteps.None;

    public async Task RunAsync()
    {
        var ct = import.Token;
        var id = work.Id;
        var fresh = work.Fresh;
        if (work.Parent is { } parent && parent.State != WorkState.Exists)
        {
            // A fork reads its first steps through its parent, which this import did not write.
            if (parent.State == WorkState.Declined)
            {
                import.Declined(fresh.Count);
                work.State = WorkState.Declined;
                return;
            }
            foreach (var row in fresh)
                Skip(row.Id, FleProgramSkipReason.ParentNotImported,
                    $"trajectory '{id}' is a fork of trajectory '{parent.Id}' at step {work.ForkStep}, which was not imported (none of its rows could be), so it cannot be either; " +
                    "it is imported with its parent", id);
            work.State = WorkState.Missing;
            return;
        }
        work.State = Existing is null ? WorkState.Missing : WorkState.Exists;
        import.Report(id, work.Owner.Run.TaskId);
        if (Existing is not null && Steps.HasOtherSteps)
        {
            foreach (var row in fresh)
                Skip(row.Id, FleProgramSkipReason.StepConflict,
                    $"trajectory '{id}' was continued in Fle after its import (it has steps that are not rows of FLE's table), so it is left as it is", id);
            return;
        }
        var metadata = ProgramMetadata.Trajectory(work, import.Source.Description);
        if (RecordRefusal(metadata) is { } refusal)
        {
            foreach (var row in fresh) Skip(row.Id, FleProgramSkipReason.Rejected, refusal, id);
            return;
        }
        if (fresh.Count == 0)
        {
            await RefreshAsync(id, metadata, ct).ConfigureAwait(false);
            return;
        }
        var conflicts = work.Conflicts;
        if (Existing is not null && Steps.Taken.Count > 0 && fresh.Any(r => r.Step < Steps.Taken.Keys.Min())
            && await import.Target.GetTrajectoryAsync(id, ct).ConfigureAwait(false) is { ForkStepNumber: { } fork } t)
        {
            // A fork's steps up to its fork step are its parent's: only a row numbered before the fork's own steps (after
            // rows were deleted from the source) can fall there.
            foreach (var row in fresh.Where(r => r.Step <= fork))
                conflicts.TryAdd(row.Id, $"step {row.Step} of trajectory '{id}' is inherited: the trajectory is a fork of '{t.ParentId}' at step {fork}");
        }

        var decision = Decide(id, fresh.Count);
        if (decision == FleImportDecision.Decline)
        {
            import.Declined(fresh.Count);
            if (Existing is null) work.State = WorkState.Declined;
            return;
        }
        var rows = new ProgramRunRows(import, work.Owner.Run.TaskId, fresh, conflicts, id);
        if (decision == FleImportDecision.DryRun)
        {
            await foreach (var _ in rows.ReadAsync(ct).ConfigureAwait(false)) { }
            Account(id, rows, Final(rows, metadata));
            if (rows.Steps > 0) work.State = WorkState.Exists;
            return;
        }
        var record = new FleExportRecord(rows.ReadAheadAsync)
        {
            Id = id, TaskId = work.Owner.Run.TaskId, Status = FleTrajectoryStatus.Running, StartTime = work.StartTime, MetadataJson = metadata,
            StepCount = fresh.Count, Source = import.Source.Description, ParentId = work.Parent?.Id, ForkStepNumber = work.ForkStep,
        };
        FleImportItemResult result;
        try
        {
            result = await import.Target.ImportProgramRunAsync(record, Existing is not null, () => Final(rows, metadata), ct).ConfigureAwait(false);
        }
        catch (FleException e) when (e.ErrorId is FleErrorIds.ImportConflict or FleErrorIds.StepAlreadyExists or FleErrorIds.TrajectoryNotFound
                                         or FleErrorIds.ImportFileInvalid or FleErrorIds.ImportParentMissing or FleErrorIds.StepInherited)
        {
            // Another writer changed the trajectory (or its parent) meanwhile (a second import of the same table, a delete,
            // a step saved in Fle): nothing of it was written.
            foreach (var rowId in rows.Read)
                import.Skip(rowId, FleProgramSkipReason.StepConflict,
                    $"trajectory '{id}' changed while this import wrote it ({e.ErrorId}: {e.Message}); nothing of it was written: import again", id);
            return;
        }
        if (result.Outcome == FleImportOutcome.Skipped) return;
        work.State = WorkState.Exists;
        Account(id, rows, Final(rows, metadata));
    }

    private static string? RecordRefusal(string metadata)
    {
        try
        {
            FleJson.NormalizeObject(metadata);
            return null;
        }
        catch (FleException e)
        {
            return $"the run's trajectory metadata (from its version_description and meta) is refused ({e.ErrorId}: {e.Message})";
        }
    }

    /// <summary>
    /// The trajectory's record after the import: status and end time from the same row, the imported row with the highest
    /// step number (Failed when its meta.error_occurred is true); null when no row of it is imported.
    /// </summary>
    private TrajectoryRecordUpdate? Final(ProgramRunRows? rows, string metadata)
    {
        var last = Steps.LastImported;
        if (rows?.Last is { } l && (last is null || l.StepNumber > last.Value.StepNumber)) last = l;
        return last is { } s ? new TrajectoryRecordUpdate(s.ErrorOccurred ? FleTrajectoryStatus.Failed : FleTrajectoryStatus.Completed, s.Timestamp, metadata) : null;
    }

    private bool Changes(TrajectoryRecordUpdate final) => Existing?.Record is not { } t || t.Status != final.Status || t.EndTime != FleClock.Truncate(final.EndTime)
                                                          || !ProgramMetadata.SameRecord(t.MetadataJson, final.MetadataJson);

    // No new rows: bring the record up to date when it differs from what a fresh import would write (an earlier import
    // was interrupted, or made by an earlier release; rows were deleted from the source).
    private async Task RefreshAsync(string id, string metadata, CancellationToken ct)
    {
        if (Final(null, metadata) is not { } final || !Changes(final)) return;
        switch (Decide(id, 0))
        {
            case FleImportDecision.Decline:
                return;
            case FleImportDecision.Import:
                await import.Target.UpdateTrajectoryRecordAsync(id, final, ct).ConfigureAwait(false);
                break;
        }
        Account(id, null, final);
    }

    private void Account(string id, ProgramRunRows? rows, TrajectoryRecordUpdate? final)
    {
        if (final is null) return;
        var steps = rows?.Steps ?? 0;
        if (steps == 0 && !Changes(final)) return;
        import.Written(id, Existing is not null, work.IsFork, steps, rows?.Checkpoints ?? 0, rows?.Bytes ?? 0);
    }

    private FleImportDecision Decide(string id, int newRows)
    {
        var run = work.Owner.Run;
        return import.Decide(new FleProgramRun
        {
            TrajectoryId = id, TaskId = run.TaskId, Version = run.Version, ProcessId = run.ProcessId, Instance = run.Instance,
            Rows = work.Rows, NewRows = newRows, StepNumbering = work.Owner.Numbering, PositionFromStep = work.Owner.PositionFromStep,
            Exists = Existing is not null, ParentTrajectoryId = work.Parent?.Id, ForkStepNumber = work.ForkStep,
        });
    }

    private void Skip(long rowId, FleProgramSkipReason reason, string message, string? trajectoryId)
    {
        import.Skip(rowId, reason, message, trajectoryId);
        import.RowsDone(1);
    }
}
