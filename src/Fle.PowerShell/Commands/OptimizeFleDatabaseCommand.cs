using System.Management.Automation;
using Fle.Core;

namespace Fle.PowerShell.Commands;

/// <summary>The spec's Performance Optimization: WAL, cache, indexes, ANALYZE, VACUUM.</summary>
[Cmdlet(VerbsCommon.Optimize, "FleDatabase", SupportsShouldProcess = true)]
[OutputType(typeof(FleOptimizeResult))]
public sealed class OptimizeFleDatabaseCommand : FleProgressCmdlet
{
    protected override void EndProcessing()
    {
        var store = Store;
        var plan = store.Backend == Fle.Core.Configuration.FleBackend.Sqlite
            ? "WAL, cache_size, indexes, ANALYZE, PRAGMA optimize, VACUUM, wal_checkpoint(TRUNCATE)"
            : "indexes, VACUUM (ANALYZE) on Fle's tables";
        if (!ShouldProcess($"{store.Backend} database {store.Location} ({plan})", "Optimize")) return;
        var result = RunWithProgress((p, ct) => store.OptimizeAsync(p, ct));
        foreach (var a in result.Actions) WriteVerbose(a);
        WriteObject(result);
    }
}
