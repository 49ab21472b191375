# Save-FleCheckpoint in a pwsh loop, one durable commit per step, in blocks alternating with blocks of the
# hand-written baseline (a separate Fle.Bench process that times only its writes). Prints one JSON object.
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [Parameter(Mandatory)][ValidateSet('sqlite', 'postgres')][string]$Backend,
    [Parameter(Mandatory)][string]$Workload,
    [Parameter(Mandatory)][string]$BenchDll,
    [Parameter(Mandatory)][string]$DataDir,
    [string]$PgAdmin,
    [int]$Blocks = 3
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$steps = @(Get-Content $Workload | ForEach-Object { $_ | ConvertFrom-Json })
if ($Backend -eq 'sqlite') {
    $target = Join-Path $DataDir 'pwsh-engine.db'
    $baseTarget = Join-Path $DataDir 'pwsh-baseline.db'
    Remove-Item "$target*", "$baseTarget*" -ErrorAction SilentlyContinue
    Connect-FleDatabase -Type Sqlite -Path $target
} else {
    $cs = & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh
    & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh_baseline | Out-Null
    Connect-FleDatabase -ConnectionString $cs
}
$run = New-FleTrajectory -TaskId bench_pwsh
$size = [math]::Ceiling($steps.Count / $Blocks)
$fle = @(); $base = @()
for ($b = 0; $b -lt $Blocks; $b++) {
    $slice = @($steps | Select-Object -Skip ($b * $size) -First $size)
    if ($slice.Count -eq 0) { break }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    foreach ($s in $slice) {
        Save-FleCheckpoint -TrajectoryId $run.Id -StepNumber $s.n -AgentCode $s.code -EnvironmentFeedback $s.feedback -GameState $s.state -Metadata $s.meta
    }
    $fle += $slice.Count / $sw.Elapsed.TotalSeconds
    $bargs = @('baseline-block', '--backend', $Backend, '--from', ($b * $size), '--count', $slice.Count)
    if ($Backend -eq 'sqlite') { $bargs += @('--target', $baseTarget) } else { $bargs += @('--pg', $PgAdmin, '--name', 'fle_bench_pwsh_baseline') }
    $out = & dotnet $BenchDll @bargs
    if ($LASTEXITCODE) { throw "baseline-block failed: $out" }
    $base += ($out | ConvertFrom-Json).rate
    [Console]::Error.WriteLine(("  [{0}] pwsh block {1}: Save-FleCheckpoint {2:N1}/s   baseline {3:N1}/s" -f $Backend, ($b + 1), $fle[-1], $base[-1]))
}
function Median($xs) { $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
$m = Median $fle; $mb = Median $base
[pscustomobject]@{ backend = $Backend; steps = $steps.Count; blocks = $Blocks; cmdlet_checkpoints_per_s = [math]::Round($m, 1)
    baseline_checkpoints_per_s = [math]::Round($mb, 1); cmdlet_to_baseline = [math]::Round($m / $mb, 3)
    cmdlet_blocks = $fle; baseline_blocks = $base } | ConvertTo-Json -Compress
