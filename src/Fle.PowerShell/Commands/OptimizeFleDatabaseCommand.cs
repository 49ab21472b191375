using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>The spec's Performance Optimization: WAL, cache, indexes, ANALYZE, VACUUM.</summary>
[Cmdlet(VerbsCommon.Optimize, "FleDatabase", SupportsShouldProcess = true)]
[OutputType(typeof(FleOptimizeResult))]
public sealed class OptimizeFleDatabaseCommand : FleProgressCmdlet
{
    protected override void EndProcessing()
    {
        var store = Store;
        if (!ShouldProcess($"{store.Backend} database {store.Location} ({store.OptimizePlan})", "Optimize")) return;
        var result = RunWithProgress((p, ct) => store.OptimizeAsync(p, ct));
        foreach (var a in result.Actions) WriteVerbose(a);
        WriteObject(result);
    }
}
