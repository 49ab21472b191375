# Save-FleCheckpoint in a pwsh loop, one durable commit per step, in blocks that take turns with blocks of the hand-written
# baseline in its two variants (a separate Fle.Bench process per block that times only its writes) and, with -PeerDir,
# of LangGraph's checkpointer (one node process for the whole comparison, like this pwsh, fed block by block through its
# stdin: bench/peers/langgraph.mjs --serve). Then the latest checkpoint read back (Get-FleCheckpoint -Latest, and the
# peer's getTuple) and the bytes on disk of both. Before the blocks, an untimed warm-up of Fle and of the peer (below).
# Prints one JSON object.
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [Parameter(Mandatory)][ValidateSet('sqlite', 'postgres')][string]$Backend,
    [Parameter(Mandatory)][string]$Workload,
    [Parameter(Mandatory)][string]$BenchDll,
    [Parameter(Mandatory)][string]$DataDir,
    [string]$PgAdmin,
    [int]$Blocks = 3,
    # bench/peers with node_modules installed: also run LangGraph's checkpointer (node on PATH).
    [string]$PeerDir,
    [int]$Samples = 400
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$steps = @(Get-Content $Workload | ForEach-Object { $_ | ConvertFrom-Json })
$utf8 = [Text.Encoding]::UTF8
$rawPerStep = ($steps | ForEach-Object { $utf8.GetByteCount($_.code) + $utf8.GetByteCount($_.feedback) + $utf8.GetByteCount($_.state) } | Measure-Object -Average).Average
if ($Backend -eq 'sqlite') {
    $target = Join-Path $DataDir 'pwsh-engine.db'
    $baseTarget = Join-Path $DataDir 'pwsh-baseline.db'
    $preparedTarget = Join-Path $DataDir 'pwsh-baseline-prepared.db'
    $peerTarget = Join-Path $DataDir 'pwsh-langgraph.db'
    Remove-Item "$target*", "$baseTarget*", "$preparedTarget*", "$peerTarget*" -ErrorAction SilentlyContinue
    Connect-FleDatabase -Type Sqlite -Path $target
} else {
    $target = & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh
    & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh_baseline | Out-Null
    & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh_baseline_prepared | Out-Null
    if ($PeerDir) { $peerTarget = & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_langgraph }
    Connect-FleDatabase -ConnectionString $target
}

$peer = $null
if ($PeerDir) {
    # LangGraph's connection string for PostgreSQL is a URL
    $peerDb = if ($Backend -eq 'sqlite') { $peerTarget } else {
        $kv = @{}; foreach ($part in $peerTarget -split ';') { if ($part -match '^\s*([^=]+?)\s*=\s*(.*)$') { $kv[$Matches[1].ToLowerInvariant()] = $Matches[2] } }
        "postgresql://$([uri]::EscapeDataString($kv['username'])):$([uri]::EscapeDataString($kv['password']))@$($kv['host']):$($kv['port'])/$($kv['database'])"
    }
    $psi = [Diagnostics.ProcessStartInfo]::new('node')
    foreach ($a in @((Join-Path $PeerDir 'langgraph.mjs'), '--backend', $Backend, '--db', $peerDb, '--workload', $Workload, '--serve')) { $psi.ArgumentList.Add($a) }
    $psi.WorkingDirectory = $PeerDir
    $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
    $peer = [Diagnostics.Process]::Start($psi)
}
function Invoke-Peer([hashtable]$Command) {
    $peer.StandardInput.WriteLine(($Command | ConvertTo-Json -Compress))
    $peer.StandardInput.Flush()
    $line = $peer.StandardOutput.ReadLine()
    if ($null -eq $line) { throw "the LangGraph runner stopped (exit $(if ($peer.HasExited) { $peer.ExitCode }))" }
    $line | ConvertFrom-Json
}

# Warm-up, untimed in the comparison, the same for Fle and LangGraph: the whole workload once, Fle into a database of
# its own (the measured database holds only the timed run), LangGraph on a thread of its own. A run of an agent lasts
# hours; the first few hundred calls of a fresh process (PowerShell's binder and the save path being compiled and
# tiered up, V8 warming LangGraph's) are what this takes out. Their rates are kept and printed as the cold rates.
function Invoke-FleLoop([object[]] $Steps, [string] $Id, $Connection) {
    $extra = if ($Connection) { @{ Connection = $Connection } } else { @{} }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    foreach ($s in $Steps) {
        Save-FleCheckpoint -TrajectoryId $Id -StepNumber $s.n -AgentCode $s.code -EnvironmentFeedback $s.feedback -GameState $s.state -Metadata $s.meta @extra
    }
    $Steps.Count / $sw.Elapsed.TotalSeconds
}
$warmTarget = if ($Backend -eq 'sqlite') { Join-Path $DataDir 'pwsh-warmup.db' } else { & dotnet $BenchDll pgdb --pg $PgAdmin --name fle_bench_pwsh_warmup }
if ($Backend -eq 'sqlite') { Remove-Item "$warmTarget*" -ErrorAction SilentlyContinue; $warm = Connect-FleDatabase -Type Sqlite -Path $warmTarget -NoDefault }
else { $warm = Connect-FleDatabase -ConnectionString $warmTarget -NoDefault }

try {
    $fleCold = Invoke-FleLoop $steps (New-FleTrajectory -TaskId bench_warmup -Connection $warm).Id $warm
    Disconnect-FleDatabase -Connection $warm
    $peerCold = if ($peer) { (Invoke-Peer @{ from = 0; count = $steps.Count; thread = 'fle-bench-warmup' }).checkpoints_per_s }
    [Console]::Error.WriteLine(("  [{0}] warm-up (untimed in the comparison), {1} steps: Save-FleCheckpoint {2:N1}/s{3}" -f $Backend, $steps.Count, $fleCold,
        $(if ($peer) { "   LangGraph {0:N1}/s" -f $peerCold })))
    $run = New-FleTrajectory -TaskId bench_pwsh
    $size = [math]::Ceiling($steps.Count / $Blocks)
    $fle = @(); $base = @(); $prepared = @(); $lg = @()
    for ($b = 0; $b -lt $Blocks; $b++) {
        $from = $b * $size
        $slice = @($steps | Select-Object -Skip $from -First $size)
        if ($slice.Count -eq 0) { break }
        $turns = @(
            { $script:fle += Invoke-FleLoop $slice $run.Id }
            {
                foreach ($variant in 'default', 'prepared') {
                    $bargs = @('baseline-block', '--backend', $Backend, '--from', $from, '--count', $slice.Count)
                    if ($variant -eq 'prepared') { $bargs += '--prepared' }
                    if ($Backend -eq 'sqlite') { $bargs += @('--target', $(if ($variant -eq 'prepared') { $preparedTarget } else { $baseTarget })) }
                    else { $bargs += @('--pg', $PgAdmin, '--name', $(if ($variant -eq 'prepared') { 'fle_bench_pwsh_baseline_prepared' } else { 'fle_bench_pwsh_baseline' })) }
                    $out = & dotnet $BenchDll @bargs
                    if ($LASTEXITCODE) { throw "baseline-block failed: $out" }
                    if ($variant -eq 'prepared') { $script:prepared += ($out | ConvertFrom-Json).rate } else { $script:base += ($out | ConvertFrom-Json).rate }
                }
            }
        )
        if ($peer) { $turns += { $script:lg += (Invoke-Peer @{ from = $from; count = $slice.Count; thread = 'fle-bench' }).checkpoints_per_s } }
        # each takes its turn first, second, third as the blocks go on
        for ($k = 0; $k -lt $turns.Count; $k++) { & $turns[($b + $k) % $turns.Count] }
        [Console]::Error.WriteLine(("  [{0}] pwsh block {1}: Save-FleCheckpoint {2:N1}/s   baseline {3:N1}/s   baseline prepared {4:N1}/s{5}" -f $Backend, ($b + 1), $fle[-1], $base[-1], $prepared[-1],
            $(if ($peer) { "   LangGraph {0:N1}/s" -f $lg[-1] })))
    }

    # the latest checkpoint as a resuming script reads it, through the cmdlet (a few untimed calls first)
    $reads = for ($i = 0; $i -lt $Samples + 20; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $cp = Get-FleCheckpoint -TrajectoryId $run.Id -Latest
        $ms = $sw.Elapsed.TotalMilliseconds
        if ($cp.StepNumber -ne $steps[-1].n) { throw "Get-FleCheckpoint -Latest returned step $($cp.StepNumber)" }
        if ($i -ge 20) { $ms }
    }
    $peerMeasure = if ($peer) { Invoke-Peer @{ measure = $true; samples = $Samples } }
} finally {
    if ($peer) { $peer.StandardInput.Close(); if (-not $peer.WaitForExit(60000)) { $peer.Kill() } }
}
Disconnect-FleDatabase
$disk = (& dotnet $BenchDll disk --backend $Backend --target $target | ConvertFrom-Json).bytes

function Median($xs) { $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
$m = Median $fle; $mb = Median $base; $mp = Median $prepared
$result = [ordered]@{ backend = $Backend; steps = $steps.Count; blocks = $Blocks; cmdlet_checkpoints_per_s = [math]::Round($m, 1)
    baseline_checkpoints_per_s = [math]::Round($mb, 1); cmdlet_to_baseline = [math]::Round($m / $mb, 3)
    baseline_prepared_checkpoints_per_s = [math]::Round($mp, 1); cmdlet_to_baseline_prepared = [math]::Round($m / $mp, 3)
    cmdlet_latest_ms_median = [math]::Round((Median $reads), 4); cmdlet_cold_checkpoints_per_s = [math]::Round($fleCold, 1)
    cmdlet_bytes_per_step = [math]::Round($disk / $steps.Count); raw_payload_bytes_per_step = [math]::Round($rawPerStep); cmdlet_fraction_of_raw = [math]::Round($disk / $steps.Count / $rawPerStep, 4)
    cmdlet_blocks = $fle; baseline_blocks = $base; baseline_prepared_blocks = $prepared }
if ($peer) {
    $ml = Median $lg
    $result.peer = [ordered]@{ name = $peerMeasure.peer; setting = $peerMeasure.synchronous; checkpoints_per_s = [math]::Round($ml, 1); blocks = $lg
        cmdlet_to_peer = [math]::Round($m / $ml, 3); cold_checkpoints_per_s = [math]::Round($peerCold, 1); cmdlet_to_peer_cold = [math]::Round($fleCold / $peerCold, 3); latest_ms_median = [math]::Round($peerMeasure.latest_ms_median, 4)
        bytes_per_step = [math]::Round($peerMeasure.bytes_per_step); fraction_of_raw = [math]::Round($peerMeasure.fraction_of_raw, 4) }
}
$result | ConvertTo-Json -Compress -Depth 4
