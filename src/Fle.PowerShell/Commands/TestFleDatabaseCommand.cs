using System.Management.Automation;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Maintenance;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>The spec's Troubleshooting as a command: connects, checks integrity and orphans, optionally decodes every state.</summary>
[Cmdlet(VerbsDiagnostic.Test, "FleDatabase")]
[OutputType(typeof(FleDatabaseCheck), typeof(bool))]
public sealed class TestFleDatabaseCommand : FleProgressCmdlet
{
    /// <summary>Also decode every game state (reads them all).</summary>
    [Parameter]
    public SwitchParameter Deep { get; set; }

    /// <summary>Return only $true (no check failed) or $false, like Test-Connection -Quiet.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void EndProcessing()
    {
        Fle.Core.Storage.FleStore? store = Connection?.Store ?? FleSession.Default?.Store;
        FleSettings settings;
        if (store is not null) settings = store.Settings;
        else
        {
            // Not connected: check what the environment / .env name, without creating a missing file.
            settings = Run(_ => Task.FromResult(FleSettingsResolver.Resolve(new FleSettingsOverrides { WorkingDirectory = CurrentDirectory })));
        }
        WriteVerbose($"Checking the {settings.Backend} database {settings.Describe()}{(Deep ? ", decoding every game state" : "")}.");
        var checks = RunWithProgress((p, ct) => FleDatabaseTester.RunAsync(settings, store, Deep, p, ct)).Select(PowerShellWording.ForCheck).ToList();
        var failed = checks.Count(c => c.Status == FleCheckStatus.Failed);
        if (Quiet)
        {
            WriteObject(failed == 0);
            return;
        }
        foreach (var c in checks)
        {
            WriteObject(c);
            if (c.Status == FleCheckStatus.Warning) WriteWarning($"{c.Check}: {c.Message}");
            else if (c.Status == FleCheckStatus.Failed)
            {
                var record = new ErrorRecord(new FleException("FleDatabaseCheckFailed", FleErrorKind.InvalidData, $"{c.Check}: {c.Message}", target: c.Location),
                    "FleDatabaseCheckFailed", ErrorCategory.InvalidData, c);
                WriteError(record);
            }
        }
    }
}
