using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>
/// One run of FLE's programs table into its trajectory: find the trajectory an earlier import made of it, leave out the
/// rows it holds already, ask (ShouldProcess), then write the new rows through the bulk import path (one transaction,
/// the trajectory's status, end time and metadata set before the commit) or, with -WhatIf, read and check them only.
/// <para>
/// Identity: a run's new trajectory gets <see cref="FleProgramTableImporter.TrajectoryId"/> of its key and first dated
/// row. An earlier import of the run is found among the trajectories whose metadata says imported_from fle-programs and
/// names the same version, process_id and instance: the one with that id, else one that holds rows of the run (same
/// program id and created_at). So deleting rows (even the run's or the table's first), copying or moving the source never
/// duplicates a run, and trajectories made by earlier releases (whose ids came from the table's first row) are found too.
/// </para>
/// </summary>
internal sealed class ProgramRunImport(ProgramImport import, ProgramRunPlan plan, List<ProgramImportRecord> earlier)
{
    /// <summary>Rows of a run whose times are compared with a candidate trajectory's steps.</summary>
    private const int MatchSample = 64;

    private ProgramImportRecord? _existing;
    private ExistingSteps _steps = ExistingSteps.None;

    public async Task RunAsync()
    {
        var ct = import.Token;
        if (plan.Dated.Count > 0) await MatchAsync(ct).ConfigureAwait(false);
        var id = _existing?.Id ?? (plan.Dated.Count > 0 ? plan.TrajectoryId : null);
        foreach (var u in plan.Undated) Skip(u, FleProgramSkipReason.InvalidTimestamp, "created_at is null or not a date and time", id);
        if (id is null)
        {
            import.Report(null, null);
            return;
        }

        var fresh = Fresh(out var already);
        import.AlreadyImported(already);
        import.Report(id, plan.TaskId);
        if (_existing is not null && _steps.HasOtherSteps)
        {
            foreach (var row in fresh)
                Skip(row.Id, FleProgramSkipReason.StepConflict,
                    $"trajectory '{id}' was continued in Fle after its import (it has steps that are not rows of FLE's table), so it is left as it is", id);
            return;
        }
        var metadata = ProgramMetadata.Trajectory(plan, import.Source.Description);
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

        var decision = Decide(id, fresh.Count);
        if (decision == FleImportDecision.Decline)
        {
            import.Declined(fresh.Count);
            return;
        }
        var rows = new ProgramRunRows(import, plan, fresh, _steps, id);
        if (decision == FleImportDecision.DryRun)
        {
            await foreach (var _ in rows.ReadAsync(ct).ConfigureAwait(false)) { }
            Account(id, rows, Final(rows, metadata));
            return;
        }
        var record = new FleExportRecord(rows.ReadAheadAsync)
        {
            Id = id, TaskId = plan.TaskId, Status = FleTrajectoryStatus.Running, StartTime = plan.StartTime, MetadataJson = metadata,
            StepCount = fresh.Count, Source = import.Source.Description,
        };
        FleImportItemResult result;
        try
        {
            result = await import.Target.ImportProgramRunAsync(record, _existing is not null, () => Final(rows, metadata), ct).ConfigureAwait(false);
        }
        catch (FleException e) when (e.ErrorId is FleErrorIds.ImportConflict or FleErrorIds.StepAlreadyExists or FleErrorIds.TrajectoryNotFound
                                         or FleErrorIds.ImportFileInvalid)
        {
            // Another writer changed the trajectory meanwhile (a second import of the same table, a delete, a step saved in
            // Fle): nothing of the run was written.
            foreach (var rowId in rows.Read)
                import.Skip(rowId, FleProgramSkipReason.StepConflict,
                    $"trajectory '{id}' changed while this import wrote it ({e.ErrorId}: {e.Message}); nothing of the run was written: import again", id);
            return;
        }
        if (result.Outcome != FleImportOutcome.Skipped) Account(id, rows, Final(rows, metadata));
    }

    // The trajectory of an earlier import of this run, if any.
    private async Task MatchAsync(CancellationToken ct)
    {
        if (earlier.Count == 0) return;
        if (earlier.FirstOrDefault(t => t.Id == plan.TrajectoryId) is { } own)
        {
            _existing = own;
            _steps = new ExistingSteps(await import.Target.ReadImportedStepsAsync(own.Id, ct).ConfigureAwait(false));
            return;
        }
        foreach (var t in earlier)
        {
            var steps = new ExistingSteps(await import.Target.ReadImportedStepsAsync(t.Id, ct).ConfigureAwait(false));
            var overlap = plan.Dated.Select(r => r.Id).Where(steps.Programs.ContainsKey).Take(MatchSample).ToList();
            if (overlap.Count == 0) continue;
            // Program ids repeat across FLE databases (each starts at 1, and so do versions): the times must agree too.
            var times = await import.Source.ReadTimesAsync(overlap, ct).ConfigureAwait(false);
            if (overlap.All(p => times.TryGetValue(p, out var at) && at is { } v && FleClock.Truncate(v) == steps.Programs[p].Timestamp))
            {
                _existing = t;
                _steps = steps;
                return;
            }
        }
    }

    /// <summary>
    /// The run's dated rows that the trajectory does not hold yet, with their step numbers. A row after one the trajectory
    /// holds keeps its distance to it: its number moves by as much as that row's stored number differs from its planned
    /// one. That is zero when the trajectory was imported by this release from the same rows (an incremental import then
    /// numbers exactly as a fresh one); after rows were deleted from the source, or for a trajectory an earlier release
    /// numbered, new rows continue from the stored numbers.
    /// </summary>
    private List<PlannedRow> Fresh(out long already)
    {
        var list = new List<PlannedRow>();
        already = 0;
        long offset = 0;
        foreach (var row in plan.Dated)
        {
            if (_steps.Programs.TryGetValue(row.Id, out var stored))
            {
                already++;
                offset = stored.StepNumber - row.Step;
                continue;
            }
            list.Add(row with { Step = row.Step + offset });
        }
        return list;
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
    /// step number (Failed when its meta.error_occurred is true); null when no row of the run is imported.
    /// </summary>
    private TrajectoryRecordUpdate? Final(ProgramRunRows? rows, string metadata)
    {
        var last = _steps.LastImported;
        if (rows?.Last is { } l && (last is null || l.StepNumber > last.Value.StepNumber)) last = l;
        return last is { } s ? new TrajectoryRecordUpdate(s.ErrorOccurred ? FleTrajectoryStatus.Failed : FleTrajectoryStatus.Completed, s.Timestamp, metadata) : null;
    }

    private bool Changes(TrajectoryRecordUpdate final) => _existing is not { } t || t.Status != final.Status || t.EndTime != FleClock.Truncate(final.EndTime)
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
        import.Written(id, _existing is not null, steps, rows?.Checkpoints ?? 0, rows?.Bytes ?? 0);
    }

    private FleImportDecision Decide(string id, int newRows) => import.Decide(new FleProgramRun
    {
        TrajectoryId = id, TaskId = plan.TaskId, Version = plan.Version, ProcessId = plan.ProcessId, Instance = plan.Instance,
        Rows = plan.Rows, NewRows = newRows, StepNumbering = plan.Numbering, PositionFromStep = plan.PositionFromStep, Exists = _existing is not null,
    });

    private void Skip(long rowId, FleProgramSkipReason reason, string message, string? trajectoryId)
    {
        import.Skip(rowId, reason, message, trajectoryId);
        import.RowsDone(1);
    }
}
