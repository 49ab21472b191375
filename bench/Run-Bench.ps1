#!/usr/bin/env pwsh
<#
.SYNOPSIS
The Fle benchmark (issue 5): engine and cmdlets against a hand-written baseline measured in the same run.
.DESCRIPTION
Called by ./build.ps1 -Task Bench [-Quick] after the module build. Builds bench/Fle.Bench, starts a throwaway
durable PostgreSQL (fsync on), runs every section, prints the figures with ratios and goals, and writes
out/bench/bench-<date>.json. See bench/README.md.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [ValidateSet('Debug', 'Release')][string]$Configuration = 'Release',
    [switch]$Quick,
    # Only these sections (1-7; default all), e.g. -Section 6, 7 for the two imports.
    [ValidateRange(1, 7)][int[]]$Section = @(1, 2, 3, 4, 5, 6, 7)
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
$cfg = if ($Quick) {
    @{ CodecSteps = 400; WriteSteps = 300; Rounds = 3; Samples = 400; LoopSteps = 90; LoopBlocks = 3; ImportReps = 5; ExportSizes = @(800, 2000); ProgramSizes = @(1100, 2200); ProgramReps = 3 }
} else {
    @{ CodecSteps = 1000; WriteSteps = 1000; Rounds = 5; Samples = 2000; LoopSteps = 300; LoopBlocks = 5; ImportReps = 10; ExportSizes = @(1000, 4000); ProgramSizes = @(2200, 4400); ProgramReps = 5 }
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
function Median($xs) { $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }

$result = [ordered]@{
    date = (Get-Date).ToUniversalTime().ToString('o'); quick = [bool]$Quick; machine = "$([Environment]::ProcessorCount) cores, load average $((Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3)"
    commit = (& git -C $Root rev-parse --short HEAD 2>$null)
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
        Write-Host "`n==> 2. [$backend] checkpoints/s: engine vs hand-written baseline, interleaved; bytes on disk; reads"
        $j = Join-Path $Data "write-$backend.json"
        Invoke-Bench @('write', '--backend', $backend, '--steps', $cfg.WriteSteps, '--rounds', $cfg.Rounds, '--dir', $Data, '--pg', $pg, '--samples', [math]::Min(500, $cfg.Samples), '--json', $j)
        $result["write_$backend"] = Read-Json $j
        }

        if ($Section -contains 3) {
        Write-Host "`n==> 3. [$backend] latest / random checkpoint latency, 1,000 vs 100,000 steps (small states)"
        $j = Join-Path $Data "latency-$backend.json"
        Invoke-Bench @('latency', '--backend', $backend, '--sizes', '1000,100000', '--samples', $cfg.Samples, '--dir', $Data, '--pg', $pg, '--json', $j)
        $result["latency_$backend"] = Read-Json $j
        }

        if ($Section -notcontains 4) { continue }
        Write-Host "`n==> 4. [$backend] Save-FleCheckpoint in a pwsh loop vs the baseline (alternating blocks)"
        $wl = Join-Path $Data 'workload.jsonl'
        if (-not (Test-Path $wl)) { Invoke-Bench @('dump-workload', '--steps', $cfg.LoopSteps, '--out', $wl) }
        $loop = & $Pwsh -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot 'Save-Loop.ps1') -ModulePath $ModulePath -Backend $backend `
            -Workload $wl -BenchDll $Dll -DataDir $Data -PgAdmin $pg -Blocks $cfg.LoopBlocks
        if ($LASTEXITCODE) { throw "Save-Loop.ps1 failed for $backend" }
        $result["cmdlet_$backend"] = $loop | Select-Object -Last 1 | ConvertFrom-Json
    }

    if ($Section -contains 5) {
    Write-Host "`n==> 5. Import-Module Fle over a bare pwsh start ($($cfg.ImportReps) alternating runs each)"
    $bare = @(); $mod = @(); $inproc = @()
    for ($i = 0; $i -lt $cfg.ImportReps; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $Pwsh -NoProfile -NonInteractive -Command 'exit 0'; $bare += $sw.Elapsed.TotalMilliseconds
        $sw = [Diagnostics.Stopwatch]::StartNew(); & $Pwsh -NoProfile -NonInteractive -Command "Import-Module '$ModulePath'; exit 0"; $mod += $sw.Elapsed.TotalMilliseconds
        $inproc += [double](& $Pwsh -NoProfile -NonInteractive -Command "`$sw = [Diagnostics.Stopwatch]::StartNew(); Import-Module '$ModulePath'; `$sw.Elapsed.TotalMilliseconds")
    }
    $result.import_module = [ordered]@{ bare_pwsh_ms = [math]::Round((Median $bare), 1); pwsh_with_import_ms = [math]::Round((Median $mod), 1)
        import_overhead_ms = [math]::Round((Median $mod) - (Median $bare), 1); import_in_process_ms = [math]::Round((Median $inproc), 1) }
    Write-Host ("  bare pwsh {0:N0} ms, pwsh + Import-Module Fle {1:N0} ms: Import-Module adds {2:N0} ms (in-process Measure: {3:N0} ms)" -f `
        $result.import_module.bare_pwsh_ms, $result.import_module.pwsh_with_import_ms, $result.import_module.import_overhead_ms, $result.import_module.import_in_process_ms)
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
} finally {
    Stop-FleTestPostgres $server
    Remove-Item -Recurse -Force $Data -ErrorAction SilentlyContinue
}

# ------------------------------------------------------------------ summary
function Goal([bool]$ok) { if ($ok) { 'met' } else { 'MISSED' } }
$lines = @()
$lines += ''
$lines += "==> Summary ($(if ($Quick) { 'quick' } else { 'full' }) run, $($result.machine))"
if ($result['write_sqlite']) { $lines += "zstd: $($result.write_sqlite.zstd)" }
foreach ($b in @('sqlite', 'postgres') | Where-Object { $result["write_$_"] -and $result["latency_$_"] -and $result["cmdlet_$_"] }) {
    $w = $result["write_$b"]; $l = $result["latency_$b"]; $c = $result["cmdlet_$b"]
    $lines += "[$b]"
    $lines += ("  engine checkpoints/s      {0,9:N1}  baseline {1,9:N1}  ratio {2:N2}x   (goal >= 1.5x: {3})" -f $w.engine_checkpoints_per_s, $w.baseline_checkpoints_per_s, $w.engine_to_baseline, (Goal ($w.engine_to_baseline -ge 1.5)))
    if ($b -eq 'sqlite' -and $w.baseline_sync_normal_checkpoints_per_s) {
        $lines += ("    (for reference: the baseline with synchronous=NORMAL {0:N1}/s; engine / that = {1:N2}x)" -f $w.baseline_sync_normal_checkpoints_per_s, ($w.engine_checkpoints_per_s / $w.baseline_sync_normal_checkpoints_per_s))
    }
    $lines += ("  Save-FleCheckpoint/s      {0,9:N1}  baseline {1,9:N1}  ratio {2:N2}x   (goal >= 1.0x: {3})" -f $c.cmdlet_checkpoints_per_s, $c.baseline_checkpoints_per_s, $c.cmdlet_to_baseline, (Goal ($c.cmdlet_to_baseline -ge 1.0)))
    $s1 = $l.steps_1000; $s2 = $l.steps_100000
    $lines += ("  latest checkpoint  1k: median {0:F3} ms p99 {1:F3} ms | 100k: median {2:F3} ms p99 {3:F3} ms | 100k/1k {4:N2}x   (goal median <= 1 ms: {5}; ratio <= 1.5x: {6})" -f `
        $s1.latest_ms_median, $s1.latest_ms_p99, $s2.latest_ms_median, $s2.latest_ms_p99, $l.ratio_latest, (Goal ([math]::Max($s1.latest_ms_median, $s2.latest_ms_median) -le 1)), (Goal ($l.ratio_latest -le 1.5)))
    $lines += ("  random checkpoint  1k: median {0:F3} ms p99 {1:F3} ms | 100k: median {2:F3} ms p99 {3:F3} ms | 100k/1k {4:N2}x" -f `
        $s1.random_ms_median, $s1.random_ms_p99, $s2.random_ms_median, $s2.random_ms_p99, $l.ratio_random)
    $lines += ("  full-size states ({0} steps): latest median {1:F3} ms p99 {2:F3} ms, random median {3:F3} ms (baseline latest {4:F3} ms)" -f `
        $w.steps, $w.full_states_latest_ms_median, $w.full_states_latest_ms_p99, $w.full_states_random_ms_median, $w.baseline_latest_ms_median)
    $lines += ("  bytes on disk per step    engine {0:N0} B = {1:P2} of raw {2:N0} B | baseline {3:P1} | zlib per state + raw text {4:P2}   (goal <= 12%: {5})" -f `
        $w.engine_bytes_per_step, $w.engine_fraction_of_raw, $w.raw_payload_bytes_per_step, $w.baseline_fraction_of_raw, $w.zlib_per_state_fraction_of_raw, (Goal ($w.engine_fraction_of_raw -le 0.12)))
}
if ($im = $result['import_module']) {
    $lines += ("Import-Module Fle: +{0:N0} ms over a bare pwsh start ({1:N0} ms vs {2:N0} ms; in-process {3:N0} ms)" -f $im.import_overhead_ms, $im.pwsh_with_import_ms, $im.bare_pwsh_ms, $im.import_in_process_ms)
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
$lines | Write-Host
$result.summary = $lines
$jsonPath = Join-Path $OutDir "bench-$stamp.json"
$result | ConvertTo-Json -Depth 8 | Set-Content -Path $jsonPath -Encoding utf8
Write-Host "Figures: $jsonPath"
