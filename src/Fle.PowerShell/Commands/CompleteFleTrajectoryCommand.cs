using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Finish a trajectory: status completed (or failed) and its end time.</summary>
[Cmdlet(VerbsLifecycle.Complete, "FleTrajectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FleTrajectory))]
public sealed class CompleteFleTrajectoryCommand : FleCmdlet
{
    /// <summary>The trajectory id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string[] Id { get; set; } = [];

    /// <summary>Completed (default) or Failed.</summary>
    [Parameter]
    [ValidateSet("Completed", "Failed")]
    public string Status { get; set; } = "Completed";

    /// <summary>Return the updated trajectory.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var status = Enum.Parse<FleTrajectoryStatus>(Status, ignoreCase: true);
        foreach (var id in Id)
        {
            if (!ShouldProcess($"trajectory '{id}'", $"Mark {status.ToString().ToLowerInvariant()}")) continue;
            if (TryRun(ct => Store.CompleteTrajectoryAsync(id, status, ct), out var t, id) && PassThru)
                WriteObject(t);
        }
    }
}
