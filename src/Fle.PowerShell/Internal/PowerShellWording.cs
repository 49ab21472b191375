using Fle.Core;

namespace Fle.PowerShell.Internal;

/// <summary>
/// What to do, in PowerShell's words. The engine says what happened and what to do without naming cmdlets or their
/// parameters (it serves any host); for the errors and checks where a cmdlet or a parameter is the answer, this table
/// says it the way a PowerShell user types it. The one place the module's messages name its commands.
/// </summary>
internal static class PowerShellWording
{
    private static readonly Dictionary<string, string> ErrorAdvice = new(StringComparer.Ordinal)
    {
        [FleErrorIds.StepAlreadyExists] = "Save the next step number, or pass -Force to overwrite it.",
        [FleErrorIds.TrajectoryNotFound] = "List the trajectories with Get-FleTrajectory, or create it with New-FleTrajectory.",
        [FleErrorIds.ImportConflict] = "Use -ConflictAction Skip to keep the existing one or -ConflictAction Overwrite to replace it.",
        [FleErrorIds.CorruptState] = "Run Test-FleDatabase -Deep to check every state; restore from a backup with Restore-FleDatabase if needed.",
        [FleErrorIds.AuthenticationFailed] = "Check SKILLS_DB_USER and SKILLS_DB_PASSWORD, or pass -Credential (or set PGPASSFILE).",
        [FleErrorIds.MissingSetting] = "Set the missing variables in .env, or pass -Server, -Database and -Credential (FLE_DB_TYPE=sqlite for the embedded default).",
        [FleErrorIds.TlsCertificateUntrusted] = "Pass -RootCertificate <ca.pem> (or set SKILLS_DB_SSLROOTCERT) with -SslMode VerifyFull.",
        [FleErrorIds.TlsHostNameMismatch] = "Connect with -Server set to a name the certificate holds, or use -SslMode VerifyCA.",
        [FleErrorIds.TlsRequired] = "Connect with -SslMode VerifyFull -RootCertificate <ca.pem> (or -SslMode Require).",
        [FleErrorIds.TlsNotOffered] = "Turn ssl on at the server, or, on a network you trust, use -SslMode Prefer or Disable.",
        [FleErrorIds.ImportFileInvalid] = "Export the data again (Export-FleData -Path), or import the trajectories before the damaged line.",
        [FleErrorIds.SourceInvalid] = "Point -Path at FLE's SQLite file (SQLITE_DB_FILE, default .fle/data.db) or -ConnectionString at FLE's PostgreSQL database.",
        [FleErrorIds.ReportNoTrajectory] = "Give existing trajectory ids (Get-FleTrajectory lists them).",
        [FleErrorIds.ReportTooManyTrajectories] = "Narrow the selection (Get-FleTrajectory -TaskId ... -First 10), or make one report per group.",
        [FleErrorIds.StepInherited] = "Save the fork's own steps after its fork point (Get-FleTrajectory shows ForkStepNumber), or fork at an earlier step with New-FleTrajectory -ParentId -ForkStepNumber.",
        [FleErrorIds.LaterStepsExist] = "Add -Fork to resume a fork at that step and keep the history, or -DiscardLaterSteps to delete the later steps.",
        [FleErrorIds.TrajectoryHasForks] = "Add -Recurse to remove it with its whole subtree (Get-FleTrajectory -ParentId <id> -Recurse lists it), or remove the forks first.",
        [FleErrorIds.ImportParentMissing] = "Export the fork with its ancestors (Export-FleData exports them when given the fork), or import the parent first.",
        [FleErrorIds.NotADatabase] = "Check SQLITE_DB_FILE (or -Path), or restore the file with Restore-FleDatabase from a backup.",
    };

    private static readonly Dictionary<string, string> CheckAdvice = new(StringComparer.Ordinal)
    {
        ["JournalMode"] = "Run Optimize-FleDatabase.",
        ["Indexes"] = "Run Optimize-FleDatabase.",
        ["Wal"] = "Connect-FleDatabase and Disconnect-FleDatabase (or Optimize-FleDatabase) fold it in; Backup-FleDatabase copies everything.",
        ["IntegrityCheck"] = "Restore-FleDatabase restores a backup.",
        ["GameStates"] = "Restore-FleDatabase restores a backup; Import-FleData -Path an export file.",
        ["File"] = "Connect-FleDatabase creates a missing database; New-Item -ItemType Directory creates a missing folder.",
    };

    /// <summary>The PowerShell advice for an error id, or null when the engine's own advice says it.</summary>
    public static string? ForError(FleException e) => ErrorAdvice.GetValueOrDefault(e.ErrorId);

    /// <summary>A check whose status asks for action, with the PowerShell advice appended.</summary>
    public static FleDatabaseCheck ForCheck(FleDatabaseCheck c)
        => c.Status == FleCheckStatus.Passed || !CheckAdvice.TryGetValue(c.Check, out var advice) ? c : c.WithMessage($"{c.Message} {advice}");
}
