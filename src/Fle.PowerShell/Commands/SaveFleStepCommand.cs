using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Shared parameters of Save-FleStep and Save-FleCheckpoint.</summary>
public abstract class SaveStepCommandBase : FleCmdlet
{
    /// <summary>The trajectory the step belongs to.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string TrajectoryId { get; set; } = "";

    /// <summary>The step number (0 or more), unique in the trajectory.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Step")]
    public long StepNumber { get; set; }

    /// <summary>The Python program the agent wrote for this step.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [Alias("Code", "Program")]
    public string AgentCode { get; set; } = "";

    /// <summary>What the environment answered (stdout, errors, observations).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [Alias("Feedback", "Response")]
    public string EnvironmentFeedback { get; set; } = "";

    /// <summary>Step metadata: a hashtable (reward, token usage, ticks, error flag...) or a JSON object string.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public object? Metadata { get; set; }

    /// <summary>When the step happened; default: now.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public DateTime? Timestamp { get; set; }

    /// <summary>Overwrite a step with the same number instead of failing with FleStepAlreadyExists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Return the saved object.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>The game state to store with the step, or null.</summary>
    protected abstract object? State { get; }

    protected override void ProcessRecord()
    {
        FleStepInput input;
        try
        {
            input = new FleStepInput
            {
                TrajectoryId = TrajectoryId, StepNumber = StepNumber, AgentCode = AgentCode, EnvironmentFeedback = EnvironmentFeedback,
                MetadataJson = PSConvert.MetadataJson(Metadata), GameState = State is null ? null : PSConvert.GameState(State),
                Timestamp = Timestamp, Overwrite = Force,
            };
        }
        catch (FleException e)
        {
            WriteError(ToErrorRecord(e, $"{TrajectoryId}#{StepNumber}"));
            return;
        }
        var what = input.GameState is null ? "Save step" : "Save checkpoint";
        if (!ShouldProcess($"step {StepNumber} of trajectory '{TrajectoryId}'", Force ? what + " (overwrite)" : what)) return;
        // The engine's task itself (no async wrapper to make a Task<FleCheckpoint> a Task<FleStep>).
        FleStep step;
        bool ok;
        if (input.GameState is null) ok = TryRun(ct => Store.SaveStepAsync(input, ct), out step, $"{TrajectoryId}#{StepNumber}");
        else { ok = TryRun(ct => Store.SaveCheckpointAsync(input, ct), out var cp, $"{TrajectoryId}#{StepNumber}"); step = cp; }
        if (ok && PassThru) WriteObject(step);
    }
}

/// <summary>save_step: save one agent step (program and feedback) without a game state.</summary>
[Cmdlet(VerbsData.Save, "FleStep", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FleStep))]
public sealed class SaveFleStepCommand : SaveStepCommandBase
{
    protected override object? State => null;
}

/// <summary>save_checkpoint: save a step and its game state in one transaction.</summary>
[Cmdlet(VerbsData.Save, "FleCheckpoint", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FleCheckpoint))]
public sealed class SaveFleCheckpointCommand : SaveStepCommandBase
{
    /// <summary>The game state: a string (stored byte-exact), a byte[], or any object (stored as JSON).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("State", "StateJson")]
    public object GameState { get; set; } = null!;

    protected override object? State => GameState;
}
