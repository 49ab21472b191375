namespace Fle.Core;

/// <summary>What kind of failure an error is; the PowerShell layer maps it onto an ErrorCategory.</summary>
public enum FleErrorKind
{
    InvalidArgument,
    InvalidConfiguration,
    NotFound,
    AlreadyExists,
    ConnectionError,
    AuthenticationError,
    InvalidData,
    PermissionDenied,
    NotSupported,
    OperationCanceled,
    ResourceBusy,
    /// <summary>The storage under the database failed: disk full, read-only, the file deleted or replaced.</summary>
    StorageError,
}

/// <summary>Stable error identifiers. A script can test <c>$_.FullyQualifiedErrorId</c> against these.</summary>
public static class FleErrorIds
{
    public const string TrajectoryNotFound = "FleTrajectoryNotFound";
    public const string TrajectoryAlreadyExists = "FleTrajectoryAlreadyExists";
    public const string StepAlreadyExists = "FleStepAlreadyExists";
    public const string StepNotFound = "FleStepNotFound";
    public const string StepInherited = "FleStepInherited";
    public const string TrajectoryHasForks = "FleTrajectoryHasForks";
    public const string LaterStepsExist = "FleLaterStepsExist";
    public const string ImportParentMissing = "FleImportParentMissing";
    public const string CheckpointNotFound = "FleCheckpointNotFound";
    public const string InvalidArgument = "FleInvalidArgument";
    public const string InvalidStepNumber = "FleInvalidStepNumber";
    public const string InvalidText = "FleInvalidText";
    public const string InvalidMetadata = "FleInvalidMetadata";
    public const string StateTooLarge = "FleStateTooLarge";
    public const string ConfigurationInvalid = "FleConfigurationInvalid";
    public const string UnknownDatabaseType = "FleUnknownDatabaseType";
    public const string MissingSetting = "FleMissingSetting";
    public const string EnvFileInvalid = "FleEnvFileInvalid";
    public const string EnvFileNotFound = "FleEnvFileNotFound";
    public const string DatabaseUnavailable = "FleDatabaseUnavailable";
    public const string AuthenticationFailed = "FleAuthenticationFailed";
    public const string NotADatabase = "FleNotADatabase";
    public const string PathNotWritable = "FleDatabasePathNotWritable";
    public const string SchemaTooNew = "FleSchemaTooNew";
    public const string DatabaseBusy = "FleDatabaseBusy";
    public const string StorageFull = "FleStorageFull";
    public const string StorageReadOnly = "FleStorageReadOnly";
    public const string StorageFileMoved = "FleStorageFileMoved";
    public const string TlsNotOffered = "FleTlsNotOffered";
    public const string TlsRequired = "FleTlsRequired";
    public const string TlsCertificateUntrusted = "FleTlsCertificateUntrusted";
    public const string TlsHostNameMismatch = "FleTlsHostNameMismatch";
    public const string TransientFailure = "FleTransientFailure";
    public const string CorruptState = "FleCorruptGameState";
    public const string ImportFileInvalid = "FleImportFileInvalid";
    public const string ImportConflict = "FleImportConflict";
    public const string ExportFailed = "FleExportFailed";
    public const string BackupFailed = "FleBackupFailed";
    public const string RestoreFailed = "FleRestoreFailed";
    public const string SourceInvalid = "FleProgramTableInvalid";
    public const string ProgramRowSkipped = "FleProgramRowSkipped";
    public const string NotConnected = "FleNotConnected";
    public const string OperationCanceled = "FleOperationCanceled";
    public const string ReportWriteFailed = "FleReportWriteFailed";
    public const string ReportTooManyTrajectories = "FleReportTooManyTrajectories";
    public const string ReportNoTrajectory = "FleReportNoTrajectory";
}

/// <summary>The one exception type the engine throws for expected failures.</summary>
public class FleException : Exception
{
    public FleException(string errorId, FleErrorKind kind, string message, Exception? inner = null, object? target = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>A stable id such as <c>FleTrajectoryNotFound</c>.</summary>
    public string ErrorId { get; }

    public FleErrorKind Kind { get; }

    /// <summary>The object the error is about (a trajectory id, a file path), never a secret.</summary>
    public object? Target { get; }

    /// <summary>What the user can do about it, when the engine knows.</summary>
    public string? RecommendedAction { get; init; }

    internal static FleException TrajectoryNotFound(string id) => new(
        FleErrorIds.TrajectoryNotFound, FleErrorKind.NotFound,
        $"Trajectory '{id}' was not found.", target: id)
    { RecommendedAction = "List the trajectories to find its id, or create it." };

    internal static FleException StepNotFound(string trajectoryId, long stepNumber, string what) => new(FleErrorIds.StepNotFound, FleErrorKind.NotFound,
        $"Trajectory '{trajectoryId}' has no step {stepNumber} to be {what}.", target: $"{trajectoryId}#{stepNumber}")
    { RecommendedAction = "List its steps to pick one it has." };

    internal static FleException StepExists(string trajectoryId, long stepNumber) => new(FleErrorIds.StepAlreadyExists, FleErrorKind.AlreadyExists,
        $"Step {stepNumber} of trajectory '{trajectoryId}' already exists.", target: $"{trajectoryId}#{stepNumber}")
    { RecommendedAction = "Save the next step number, or overwrite the step on purpose." };

    internal static FleException InvalidArgument(string message, object? target = null, string id = FleErrorIds.InvalidArgument)
        => new(id, FleErrorKind.InvalidArgument, message, target: target);
}
