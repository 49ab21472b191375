#!/usr/bin/env pwsh
<#
.SYNOPSIS
The Fle benchmark (issues 5 and 15): engine and cmdlets against a hand-written baseline, and with -Peers against
LangGraph's checkpointers, measured in the same run.
.DESCRIPTION
Called by ./build.ps1 -Task Bench [-Quick] [-Peers] after the module build. Builds bench/Fle.Bench, starts a throwaway
durable PostgreSQL (fsync on), runs every section, prints the figures with ratios and goals, and writes
out/bench/bench-<date>.json. See bench/README.md.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [ValidateSet('Debug', 'Release')][string]$Configuration = 'Release',
    [switch]$Quick,
    # Also run LangGraph's checkpointers (bench/peers; node >= 20 and npm) in section 4, on the same steps.
    [switch]$Peers,
    # Only these sections (1-9; default all), e.g. -Section 6, 7 for the two imports.
    [ValidateRange(1, 9)][int[]]$Section = @(1, 2, 3, 4, 5, 6, 7, 8, 9)
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$PSStyle.OutputRendering = 'PlainText'
$Root = Split-Path $PSScriptRoot
$OutDir = Join-Path $Root 'out/bench'
$BinDir = Join-Path $OutDir 'bin'
$Data = Join-Path ([IO.Path]::GetTempPath()) ("fle-bench-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Force -Path $OutDir, $Data | Out-Null
$Pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
$ModulePath = (Resolve-Path $ModulePath).Path
$stamp = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHHmmssZ')

# sizes: the quick variant finishes within a few minutes on 2 cores. Export/import: at 200 steps (10 MB) the ~0.35 s that a
# fresh pwsh spends opening PostgreSQL (JIT of Npgsql, connecting, creating the schema) is most of the time, so the quick
# run measures 800 and 2,000 steps (a few seconds more); see bench/README.md, section 6.
# The pwsh loop (section 4) writes 300 steps in both variants, as the issue's comparison with LangGraph did; the full run
# makes more, smaller-noise blocks of them. Start-up (section 5): medians of 7 (quick) or 11 alternating runs.
$cfg = if ($Quick) {
    @{ CodecSteps = 400; WriteSteps = 300; Rounds = 3; Samples = 400; LoopSteps = 300; LoopBlocks = 5; StartupReps = 7; ExportSizes = @(800, 2000); ProgramSizes = @(1100, 2200); ProgramReps = 3; History = 100000; ForkSamples = 300 }
} else {
    @{ CodecSteps = 1000; WriteSteps = 1000; Rounds = 5; Samples = 2000; LoopSteps = 300; LoopBlocks = 6; StartupReps = 11; ExportSizes = @(1000, 4000); ProgramSizes = @(2200, 4400); ProgramReps = 5; History = 100000; ForkSamples = 1000 }
}

Write-Host "==> Build bench/Fle.Bench ($Configuration)"
& dotnet build (Join-Path $PSScriptRoot 'Fle.Bench/Fle.Bench.csproj') -c $Configuration -o $BinDir --nologo -v quiet -clp:ErrorsOnly
if ($LASTEXITCODE) { throw 'Building bench/Fle.Bench failed.' }
$Dll = Join-Path $BinDir 'Fle.Bench.dll'

function Invoke-Bench([string[]]$BenchArgs) {
    & dotnet $Dll @BenchArgs | Out-Host
    if ($LASTEXITCODE) { throw "Fle.Bench $($BenchArgs -join ' ') failed (exit $LASTEXITCODE)" }
}
function Read-Json([string]$Path) { Get-Content -Raw $Path | ConvertFrom-Json }
Import-Module (Join-Path $PSScriptRoot 'BenchTools.psm1') -Force

$result = [ordered]@{
    date = (Get-Date).ToUniversalTime().ToString('o'); quick = [bool]$Quick; machine = "$([Environment]::ProcessorCount) cores, load average $((Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3)"
    commit = (& git -C $Root rev-parse --short HEAD 2>$null)
}

$peerDir = $null
if ($Peers -and $Section -contains 4) {
    Write-Host '==> LangGraph checkpointers (bench/peers)'
    $why = Initialize-BenchPeers -Dir (Join-Path $PSScriptRoot 'peers') -LogDir $OutDir
    if ($why) { $result.peers = "not measured: $why"; Write-Host "  $($result.peers)" } else { $peerDir = Join-Path $PSScriptRoot 'peers'; Write-Host "  ready (node $("$(& node --version)".Trim()))" }
}

Import-Module (Join-Path $Root 'tools/TestPostgres.psm1') -Force
Write-Host '==> Start a throwaway durable PostgreSQL (fsync on)'
$server = Start-FleTestPostgres -Durable
$pg = $server.ConnectionString
try {
    if ($Section -contains 1) {
    Write-Host "`n==> 1. Game-state codec candidates (sizes are deterministic; times are noisy on a shared machine)"
    $a = @('codec', '--steps', $cfg.CodecSteps, '--json', (Join-Path $Data 'codec.json')); if ($Quick) { $a += '--quick' }
    Invoke-Bench $a
    $result.codec = Read-Json (Join-Path $Data 'codec.json')
    }

    foreach ($backend in @('sqlite', 'postgres') | Where-Object { $Section -contains 2 -or $Section -contains 3 -or $Section -contains 4 }) {
        if ($Section -contains 2) {
        Write-Host "`n==> 2. [$backend] checkpoints/s: engine vs the hand-written baseline (two variants), interleaved; bytes on disk; reads"
        $j = Join-Path $Data "write-$backend.json"
        Invoke-Bench @('write', '--backend', $backend, '--steps', $cfg.WriteSteps, '--rounds', $cfg.Rounds, '--dir', $Data, '--pg', $pg, '--samples', [math]::Min(500, $cfg.Samples), '--json', $j)
        $result["write_$backend"] = Read-Json $j
        Write-Host "  [$backend] bytes on disk of one trajectory written through the engine, 300 and 1,000 steps$(if ($backend -eq 'sqlite') { ' (and in a file created with 4 KiB pages first, as Fle 0.1.0 made them: a comparison)' })"
        $j = Join-Path $Data "bytes-$backend.json"
        $bargs = @('bytes', '--backend', $backend, '--sizes', '300,1000', '--dir', $Data, '--pg', $pg, '--json', $j)
        if ($backend -eq 'sqlite') { $bargs += @('--page-size-study', 4096) }
        Invoke-Bench $bargs
        $result["bytes_$backend"] = Read-Json $j
        }

        if ($Section -contains 3) {
        Write-Host "`n==> 3. [$backend] latest / random checkpoint latency, 1,000 vs 100,000 steps (small states)"
        $j = Join-Path $Data "latency-$backend.json"
        Invoke-Bench @('latency', '--backend', $backend, '--sizes', '1000,100000', '--samples', $cfg.Samples, '--dir', $Data, '--pg', $pg, '--json', $j)
        $result["latency_$backend"] = Read-Json $j
        }

        if ($Section -notcontains 4) { continue }
        Write-Host "`n==> 4. [$backend] Save-FleCheckpoint in a pwsh loop vs the baseline (two variants)$(if ($peerDir) { ' and LangGraph' }) (blocks taking turns)"
        $wl = Join-Path $Data 'workload.jsonl'
        if (-not (Test-Path $wl)) { Invoke-Bench @('dump-workload', '--steps', $cfg.LoopSteps, '--out', $wl) }
        $loopArgs = @{ ModulePath = $ModulePath; Backend = $backend; Workload = $wl; BenchDll = $Dll; DataDir = $Data; PgAdmin = $pg; Blocks = $cfg.LoopBlocks; Samples = [math]::Min(500, $cfg.Samples) }
        if ($peerDir) { $loopArgs.PeerDir = $peerDir }
        $loop = & $Pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'Save-Loop.ps1') @loopArgs
        if ($LASTEXITCODE) { throw "Save-Loop.ps1 failed for $backend" }
        $result["cmdlet_$backend"] = $loop | Select-Object -Last 1 | ConvertFrom-Json
    }

    if ($Section -contains 5) {
    Write-Host "`n==> 5. Start-up: Import-Module Fle and a first Get-FleTrajectory on a SQLite file, over a bare pwsh start ($($cfg.StartupReps) alternating runs each)"
    $db = Join-Path $Data 'startup.db'
    $null = & dotnet $Dll populate --target $db --steps 250
    $pgStart = & dotnet $Dll pgdb --pg $pg --name fle_bench_startup
    $null = & $Pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; Connect-FleDatabase -ConnectionString '$pgStart'; `$null = New-FleTrajectory -TaskId startup"
    $result.startup = Measure-Startup -Pwsh $Pwsh -ModulePath $ModulePath -SqlitePath $db -Reps $cfg.StartupReps -PgConnectionString $pgStart
    $st = $result.startup
    Write-Host ("  bare pwsh {0:N0} ms; with Import-Module Fle and Get-FleTrajectory on SQLite {1:N0} ms: +{2:N0} ms (CPU +{3:N0} ms); on PostgreSQL +{4:N0} ms" -f $st.bare_ms, $st.sqlite_ms, $st.overhead_ms, $st.overhead_cpu_ms, $st.postgres_overhead_ms)
    Write-Host ("  in-process: Import-Module {0:N0} ms, first Get-FleTrajectory {1:N0} ms, {2:N0} methods compiled by the JIT; ReadyToRun images used: {3}; Npgsql loaded: {4}; C# compiler loaded: {5} (.NET {6})" -f `
        $st.import_ms, $st.first_query_ms, $st.jit_methods, $st.ready_to_run, $st.npgsql_loaded, $st.compiler_loaded, $st.runtime)
    }

    if ($Section -contains 6) {
    Write-Host "`n==> 6. Export → import SQLite → PostgreSQL"
    $has = & $Pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; [bool](Get-Command Export-FleData, Import-FleData -ErrorAction SilentlyContinue | Measure-Object | Where-Object Count -eq 2)"
    if ("$has" -ne 'True') {
        Write-Host '  not measured: export/import not available (Export-FleData / Import-FleData are not in this build of the module)'
        $result.export_import = 'not measured: export/import not available'
    } else {
        $rows = @()
        foreach ($n in $cfg.ExportSizes) {
            $src = Join-Path $Data "export-$n.db"
            $info = & dotnet $Dll populate --target $src --steps $n | ConvertFrom-Json
            $target = & dotnet $Dll pgdb --pg $pg --name "fle_bench_import_$n"
            $r = & $Pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'ExportImport.ps1') -ModulePath $ModulePath -Source $src -PgConnectionString $target
            if ($LASTEXITCODE) { throw "export/import of $n steps failed: $r" }
            $r = $r | Select-Object -Last 1 | ConvertFrom-Json
            $mbps = $info.raw_bytes / 1MB / $r.seconds
            Write-Host ("  {0,6:N0} steps ({1:N1} MB raw payload, {2:N1} MB SQLite file): {3:N1} s = {4:N1} MB/s raw, peak RSS {5:N0} MB" -f $n, ($info.raw_bytes / 1MB), ($info.file_bytes / 1MB), $r.seconds, $mbps, $r.peak_rss_mb)
            $rows += [ordered]@{ steps = $n; raw_mb = [math]::Round($info.raw_bytes / 1MB, 2); file_mb = [math]::Round($info.file_bytes / 1MB, 2); seconds = [math]::Round($r.seconds, 2)
                mb_per_s = [math]::Round($mbps, 1); peak_rss_mb = $r.peak_rss_mb }
        }
        $result.export_import = $rows
    }
    }

    if ($Section -contains 7) {
    Write-Host "`n==> 7. Import-FleProgramTable (FLE's programs table, SQLite -> PostgreSQL) vs Import-FleData of the same steps, alternating"
    $client = Join-Path $Root 'tests/FleClient/fle_programs.py'
    $python = if ($env:FLE_PYTHON) { $env:FLE_PYTHON } else { 'python3' }
    $rows = @()
    foreach ($n in $cfg.ProgramSizes) {
        $src = Join-Path $Data "programs-$n/.fle/data.db"
        # The table is created by FLE's own client (FLE's DDL: create_default_sqlite_db), bounded: ulimit -f and a timeout.
        $spec = @{ db = @{ type = 'sqlite'; file = $src }; ops = @(@{ op = 'create_table' }) } | ConvertTo-Json -Compress -Depth 5
        $made = $spec | & bash -c 'ulimit -f 1048576 && exec timeout 120 "$0" "$@"' $python $client 2>&1
        if ($LASTEXITCODE) {
            $why = @($made | Where-Object { "$_" -like 'FLE client unavailable:*' })[0]
            $result.program_import = "not measured: $(if ($why) { $why } else { "FLE's client failed: $made" })"
            Write-Host "  $($result.program_import)"
            break
        }
        $info = & dotnet $Dll programs --target $src --steps $n | ConvertFrom-Json
        # The same steps (same seeds, 250 per trajectory) in a Fle database, for Import-FleData.
        $fle = Join-Path $Data "programs-$n/fle.db"
        $null = & dotnet $Dll populate --target $fle --steps $n
        $prog = @(); $xfer = @()
        for ($i = 0; $i -lt $cfg.ProgramReps; $i++) {
            foreach ($kind in $(if ($i % 2) { 'xfer', 'prog' } else { 'prog', 'xfer' })) {
                $target = & dotnet $Dll pgdb --pg $pg --name "fle_bench_programs_$kind"
                if ($kind -eq 'prog') {
                    $r = & $Pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'ExportImport.ps1') -ModulePath $ModulePath -Source $src -PgConnectionString $target -Programs
                    if ($LASTEXITCODE) { throw "Import-FleProgramTable of $n rows failed: $r" }
                    $r = $r | Select-Object -Last 1 | ConvertFrom-Json
                    if ($r.summary.Steps -ne $info.rows) { throw "Import-FleProgramTable imported $($r.summary.Steps) of $($info.rows) rows" }
                    $prog += $r
                } else {
                    $r = & $Pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'ExportImport.ps1') -ModulePath $ModulePath -Source $fle -PgConnectionString $target
                    if ($LASTEXITCODE) { throw "export/import of $n steps failed: $r" }
                    $xfer += $r | Select-Object -Last 1 | ConvertFrom-Json
                }
            }
        }
        $pm = $info.raw_bytes / 1MB / (Median ($prog | ForEach-Object seconds))
        $xm = $info.raw_bytes / 1MB / (Median ($xfer | ForEach-Object seconds))
        $prss = ($prog | Measure-Object peak_rss_mb -Maximum).Maximum
        $xrss = ($xfer | Measure-Object peak_rss_mb -Maximum).Maximum
        Write-Host ("  {0,6:N0} rows ({1:N1} MB of states, {2:N1} MB raw payload): Import-FleProgramTable {3:N1} MB/s, peak RSS {4:N0} MB | Import-FleData {5:N1} MB/s, peak RSS {6:N0} MB (medians of {7})" -f `
            $n, ($info.state_bytes / 1MB), ($info.raw_bytes / 1MB), $pm, $prss, $xm, $xrss, $cfg.ProgramReps)
        $rows += [ordered]@{ rows = $n; state_mb = [math]::Round($info.state_bytes / 1MB, 2); raw_mb = [math]::Round($info.raw_bytes / 1MB, 2); file_mb = [math]::Round($info.file_bytes / 1MB, 2)
            mb_per_s = [math]::Round($pm, 1); peak_rss_mb = $prss; import_fle_data_mb_per_s = [math]::Round($xm, 1); import_fle_data_peak_rss_mb = $xrss
            seconds = @($prog | ForEach-Object seconds); import_fle_data_seconds = @($xfer | ForEach-Object seconds) }
    }
    if ($result['program_import'] -isnot [string]) { $result.program_import = $rows }
    }

    if ($Section -contains 8) {
    Write-Host "`n==> 8. Large histories: Get-FleStep over a $($cfg.History.ToString('N0'))-step trajectory, Get-FleTrajectory over $($cfg.History.ToString('N0')) trajectories (engine rows copied by SQL), fresh pwsh each"
    foreach ($backend in 'sqlite', 'postgres') {
        $result["history_$backend"] = Measure-LargeHistory -Pwsh $Pwsh -ModulePath $ModulePath -BenchDll $Dll -Backend $backend -DataDir $Data -PgAdmin $pg -Size $cfg.History
    }
    }
    if ($Section -contains 9) {
    Write-Host "`n==> 9. Forks (issue 14): a fork of a 1,000-step trajectory, 100 forks x 5 steps, latest checkpoint on a fork vs the root"
    foreach ($backend in 'sqlite', 'postgres') {
        $j = Join-Path $Data "forks-$backend.json"
        Invoke-Bench @('forks', '--backend', $backend, '--steps', 1000, '--forks', 100, '--fork-steps', 5, '--samples', $cfg.ForkSamples, '--dir', $Data, '--pg', $pg, '--json', $j)
        $result["forks_$backend"] = Read-Json $j
    }
    }
} finally {
    Stop-FleTestPostgres $server
    Remove-Item -Recurse -Force $Data -ErrorAction SilentlyContinue
}

# ------------------------------------------------------------------ summary
$lines = @()
$lines += ''
$lines += "==> Summary ($(if ($Quick) { 'quick' } else { 'full' }) run, $($result.machine))"
if ($result['write_sqlite']) { $lines += "zstd: $($result.write_sqlite.zstd)" }
foreach ($b in 'sqlite', 'postgres') {
    $w = $result["write_$b"]; $l = $result["latency_$b"]; $c = $result["cmdlet_$b"]; $by = $result["bytes_$b"]
    if (-not ($w -or $l -or $c -or $by)) { continue }
    $lines += "[$b]"
    if ($w) {
        $lines += ("  engine checkpoints/s      {0,9:N1}  baseline {1,9:N1}  ratio {2:N2}x   (goal >= 1.5x: {3})" -f $w.engine_checkpoints_per_s, $w.baseline_checkpoints_per_s, $w.engine_to_baseline, (Goal ($w.engine_to_baseline -ge 1.5)))
        $lines += ("                            baseline {0} {1,9:N1}  ratio {2:N2}x   (goal >= 1.5x: {3})" -f $w.baseline_prepared, $w.baseline_prepared_checkpoints_per_s, $w.engine_to_baseline_prepared, (Goal ($w.engine_to_baseline_prepared -ge 1.5)))
    }
    if ($c) {
        $lines += ("  Save-FleCheckpoint/s      {0,9:N1}  baseline {1,9:N1}  ratio {2:N2}x   (goal >= 1.0x: {3})" -f $c.cmdlet_checkpoints_per_s, $c.baseline_checkpoints_per_s, $c.cmdlet_to_baseline, (Goal ($c.cmdlet_to_baseline -ge 1.0)))
        $lines += ("                            baseline {0} {1,9:N1}  ratio {2:N2}x   (goal >= 1.0x: {3})" -f $(if ($b -eq 'sqlite') { '(synchronous=NORMAL, prepared)' } else { '(prepared)' }), $c.baseline_prepared_checkpoints_per_s, $c.cmdlet_to_baseline_prepared, (Goal ($c.cmdlet_to_baseline_prepared -ge 1.0)))
    }
    if ($l) {
        $s1 = $l.steps_1000; $s2 = $l.steps_100000
        $lines += ("  latest checkpoint  1k: median {0:F3} ms p99 {1:F3} ms | 100k: median {2:F3} ms p99 {3:F3} ms | 100k/1k {4:N2}x   (goal median <= 1 ms: {5}; ratio <= 1.5x: {6})" -f `
            $s1.latest_ms_median, $s1.latest_ms_p99, $s2.latest_ms_median, $s2.latest_ms_p99, $l.ratio_latest, (Goal ([math]::Max($s1.latest_ms_median, $s2.latest_ms_median) -le 1)), (Goal ($l.ratio_latest -le 1.5)))
        $lines += ("  random checkpoint  1k: median {0:F3} ms p99 {1:F3} ms | 100k: median {2:F3} ms p99 {3:F3} ms | 100k/1k {4:N2}x" -f `
            $s1.random_ms_median, $s1.random_ms_p99, $s2.random_ms_median, $s2.random_ms_p99, $l.ratio_random)
    }
    if ($w) {
        $lines += ("  full-size states ({0} steps): latest median {1:F3} ms p99 {2:F3} ms, random median {3:F3} ms (baseline latest {4:F3} ms)" -f `
            $w.steps, $w.full_states_latest_ms_median, $w.full_states_latest_ms_p99, $w.full_states_random_ms_median, $w.baseline_latest_ms_median)
        $lines += ("  bytes on disk per step    engine {0:N0} B = {1:P2} of raw {2:N0} B | baseline {3:P1} | zlib per state + raw text {4:P2}   (section 2's trajectory)" -f `
            $w.engine_bytes_per_step, $w.engine_fraction_of_raw, $w.raw_payload_bytes_per_step, $w.baseline_fraction_of_raw, $w.zlib_per_state_fraction_of_raw)
    }
    if ($by) {
        $plain = @($by.runs | Where-Object { -not $_.study })
        $lines += ("  bytes on disk / raw       {0}   (goal <= 10%: {1})" -f (($plain | ForEach-Object { "{0:N0} steps {1:P2} ({2} keyframes of {0} states, {3} roots)" -f $_.steps, $_.fraction_of_raw, $_.keyframes, $_.roots }) -join ' | '),
            (Goal (@($plain | Where-Object { $_.fraction_of_raw -gt 0.10 }).Count -eq 0)))
        $study = @($by.runs | Where-Object { $_.study })
        if ($study) { $lines += ("    a file created with page_size={0} (Fle 0.1.0's files; new files get 1 KiB pages): {1}" -f $study[0].page_size, (($study | ForEach-Object { "{0:N0} steps {1:P2}" -f $_.steps, $_.fraction_of_raw }) -join ' | ')) }
    }
    if ($c -and $w) {
        $gap = 1000 / $c.cmdlet_checkpoints_per_s - 1000 / $w.engine_checkpoints_per_s
        $lines += ("  the cmdlet path: Save-FleCheckpoint loop {0:F3} ms per call, engine (section 2) {1:F3} ms: {2:F3} ms per call more   (goal <= 0.25 ms: {3})" -f `
            (1000 / $c.cmdlet_checkpoints_per_s), (1000 / $w.engine_checkpoints_per_s), $gap, (Goal ($gap -le 0.25)))
    }
    if ($c -and $c.PSObject.Properties['peer']) {
        $p = $c.peer
        $engineRate = if ($w) { $w.engine_checkpoints_per_s } else { $null }
        $lines += ("  vs {0} ({1}; Fle: {2}), {3} steps in {4} blocks taking turns:" -f $p.name, $p.setting, $(if ($b -eq 'sqlite') { 'synchronous=NORMAL' } else { 'synchronous_commit=on' }), $c.steps, $c.blocks)
        $lines += ("    puts/s {0,9:N1} | Save-FleCheckpoint loop {1:N1} = {2:N2}x (goal >= 1.5x: {3}) | engine (section 2) {4} " -f $p.checkpoints_per_s, $c.cmdlet_checkpoints_per_s, $p.cmdlet_to_peer, (Goal ($p.cmdlet_to_peer -ge 1.5)),
            $(if ($engineRate) { "{0:N1} = {1:N2}x" -f $engineRate, ($engineRate / $p.checkpoints_per_s) } else { 'not measured' }))
        if ($p.PSObject.Properties['cold_checkpoints_per_s']) {
            $lines += ("    cold, the untimed warm-up of {0} steps in a fresh process: LangGraph {1:N1}/s | Save-FleCheckpoint loop {2:N1}/s = {3:N2}x" -f $c.steps, $p.cold_checkpoints_per_s, $c.cmdlet_cold_checkpoints_per_s, $p.cmdlet_to_peer_cold)
        }
        $lines += ("    latest checkpoint: LangGraph getTuple {0:F3} ms | Get-FleCheckpoint -Latest {1:F3} ms{2}" -f $p.latest_ms_median, $c.cmdlet_latest_ms_median,
            $(if ($w) { " (engine, section 2: {0:F3} ms)" -f $w.full_states_latest_ms_median }))
        $lines += ("    bytes on disk / raw: LangGraph {0:P1} | Fle (the loop's database) {1:P2}" -f $p.fraction_of_raw, $c.cmdlet_fraction_of_raw)
    }
}
if ($result['peers'] -is [string]) { $lines += "LangGraph: $($result.peers)" }
if ($st = $result['startup']) {
    $lines += ("Start-up: Import-Module Fle + first Get-FleTrajectory (SQLite) +{0:N0} ms over a bare pwsh start ({1:N0} ms vs {2:N0} ms, medians of {3}; CPU +{4:N0} ms)   (goal <= +300 ms: {5})" -f `
        $st.overhead_ms, $st.sqlite_ms, $st.bare_ms, $st.reps, $st.overhead_cpu_ms, (Goal ($st.overhead_ms -le 300)))
    $lines += ("  in-process: import {0:N0} ms + first query {1:N0} ms; {2:N0} methods JIT-compiled; ReadyToRun: {3}; Npgsql loaded: {4}; PostgreSQL instead: +{5:N0} ms" -f `
        $st.import_ms, $st.first_query_ms, $st.jit_methods, $st.ready_to_run, $st.npgsql_loaded, $st.postgres_overhead_ms)
}
if ($result['export_import'] -is [string]) { $lines += "export -> import SQLite -> PostgreSQL: $($result.export_import)" }
elseif ($result['export_import']) {
    foreach ($r in $result.export_import) {
        $lines += ("export -> import SQLite -> PostgreSQL, {0:N0} steps ({1} MB raw): {2:N1} MB/s, peak RSS {3:N0} MB   (goal >= 50 MB/s: {4}; RSS < 300 MB: {5})" -f $r.steps, $r.raw_mb, $r.mb_per_s, $r.peak_rss_mb, (Goal ($r.mb_per_s -ge 50)), (Goal ($r.peak_rss_mb -lt 300)))
    }
}
if ($result['program_import'] -is [string]) { $lines += "Import-FleProgramTable SQLite -> PostgreSQL: $($result.program_import)" }
elseif ($result['program_import']) {
    foreach ($r in $result.program_import) {
        $lines += ("Import-FleProgramTable SQLite -> PostgreSQL, {0:N0} rows ({1} MB of states, {2} MB raw): {3:N1} MB/s, peak RSS {4:N0} MB | Import-FleData of the same steps {5:N1} MB/s, peak RSS {6:N0} MB | ratio {7:N2}x" -f `
            $r.rows, $r.state_mb, $r.raw_mb, $r.mb_per_s, $r.peak_rss_mb, $r.import_fle_data_mb_per_s, $r.import_fle_data_peak_rss_mb, ($r.mb_per_s / $r.import_fle_data_mb_per_s))
    }
    $p = @($result.program_import)
    if ($p.Count -ge 2) {
        $lines += ("  Import-FleProgramTable memory in the table's size: peak RSS {0:N0} MB at {1:N0} rows, {2:N0} MB at {3:N0} rows ({4:N2}x the rows, {5:N2}x the RSS)" -f `
            $p[0].peak_rss_mb, $p[0].rows, $p[-1].peak_rss_mb, $p[-1].rows, ($p[-1].rows / $p[0].rows), ($p[-1].peak_rss_mb / $p[0].peak_rss_mb))
    }
}
foreach ($b in 'sqlite', 'postgres') {
    foreach ($r in @($result["history_$b"] | Where-Object { $_ })) {
        $what = if ($r.kind -eq 'Steps') { "Get-FleStep$(if ($r.state) { ' -IncludeGameState' }) over a {0:N0}-step trajectory" -f $r.count } else { 'Get-FleTrajectory over {0:N0} trajectories' -f $r.count }
        $lines += ("[{0}] {1}: {2:N0}/s, peak RSS {3:N0} MB (before: {4:N0} MB), live heap {5:N2} -> {6:N2} MB over the stream   (goal flat, live heap grows <= 1 MB: {7})" -f `
            $b, $what, $r.per_s, $r.peak_rss_mb, $r.rss_before_mb, $r.live_heap_mb[0], $r.live_heap_mb[-1], (Goal ($r.live_growth_mb -le 1)))
    }
}
foreach ($b in 'sqlite', 'postgres') {
    if (-not ($f = $result["forks_$b"])) { continue }
    $lines += ("[{0}] fork of a {1:N0}-step trajectory: median {2:F3} ms, {3:N0} B before steps of its own ({4:P3} of the parent's {5:N0} B)   (goal: no copy of the parent's steps: {6})" -f `
        $b, $f.parent_steps, $f.fork_ms_median, $f.bytes_per_fork, ($f.bytes_per_fork / $f.parent_bytes), $f.parent_bytes, (Goal ($f.bytes_per_fork -lt $f.parent_bytes_per_step)))
    $lines += ("[{0}] {1} forks x {2} steps: {3:N0} B/step vs the parent's {4:N0} B/step = {5:N2}x   (goal <= 1.5x: {6})" -f `
        $b, $f.forks, $f.fork_steps, $f.fork_bytes_per_step, $f.parent_bytes_per_step, $f.fork_to_parent_bytes_per_step, (Goal ($f.fork_to_parent_bytes_per_step -le 1.5)))
    $lines += ("[{0}] latest checkpoint: fork {1:F3} ms vs root {2:F3} ms = {3:N2}x (goal <= 1.5x: {4}); a fork without steps of its own {5:F3} ms vs the root's step there {6:F3} ms = {7:N2}x (goal <= 1.5x: {8})" -f `
        $b, $f.latest_fork_ms_median, $f.latest_root_ms_median, $f.latest_fork_to_root, (Goal ($f.latest_fork_to_root -le 1.5)),
        $f.latest_bare_fork_ms_median, $f.root_at_fork_step_ms_median, $f.latest_bare_fork_to_root_at_fork_step, (Goal ($f.latest_bare_fork_to_root_at_fork_step -le 1.5)))
}
$lines | Write-Host
$result.summary = $lines
$jsonPath = Join-Path $OutDir "bench-$stamp.json"
$result | ConvertTo-Json -Depth 8 | Set-Content -Path $jsonPath -Encoding utf8
Write-Host "Figures: $jsonPath"
