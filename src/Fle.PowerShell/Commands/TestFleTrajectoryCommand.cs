using System.Management.Automation;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>trajectory_exists: $true when the trajectory exists.</summary>
[Cmdlet(VerbsDiagnostic.Test, "FleTrajectory")]
[OutputType(typeof(bool))]
public sealed class TestFleTrajectoryCommand : FleCmdlet
{
    /// <summary>The trajectory id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string Id { get; set; } = "";

    protected override void ProcessRecord()
    {
        if (TryRun(ct => Store.TrajectoryExistsAsync(Id, ct), out var exists, Id)) WriteObject(exists);
    }
}
