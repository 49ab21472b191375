#!/usr/bin/env pwsh
<#
.SYNOPSIS
A paired A/B of the PostgreSQL write path of two builds: checkpoints/s before and after a change, and with a watch.
.DESCRIPTION
Written for issue 16 (Watch-FleTrajectory: the save's statement notifies while a watch is connected; the write path must
not get slower for it). The bench's section 2 measures one build per process and run, and on this shared 2-core machine
its PostgreSQL rate moved from 230 to 2,100 checkpoints/s between runs minutes apart: a 1 % change cannot show there.
Here three long-lived workers (Program.cs) each write to a database of their own on one throwaway durable PostgreSQL:
"before" and "after" (the two builds, nobody watching) and "watched" (the after build with a watch, -WatchMode). Every
round each worker saves the next -Block steps of the bench's workload (the same steps for all), in a rotating order, and
the rounds are compared pairwise (after/before, watched/after of the same round), so the load cancels out. Prints the
median of the pairwise ratios with their quartiles.
.EXAMPLE
./bench/watch-ab/Compare-WritePath.ps1 -Before main            # main against the working tree
#>
param(
    # A git revision (built from `git archive`).
    [string] $Before = 'main',
    # A git revision; default: the working tree.
    [string] $After,
    [int] $Rounds = 60,
    [int] $Block = 200,
    # listen: a connection named 'Fle watch' LISTENs (what a writer sees of a watch); watch: WatchStepsAsync in the
    # watched worker's process; none: no watched worker.
    [ValidateSet('none', 'listen', 'watch')] [string] $WatchMode = 'listen'
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$work = Join-Path ([IO.Path]::GetTempPath()) ('fle-watch-ab-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null

function Invoke-Checked([string] $Exe, [string[]] $Arguments) {
    & $Exe @Arguments | Out-Null
    if ($LASTEXITCODE) { throw "$Exe $($Arguments -join ' ') failed (exit $LASTEXITCODE)" }
}
function Build-Side([string] $Name, [string] $Revision) {
    $src = $Root
    if ($Revision) {
        $src = Join-Path $work "$Name-src"; New-Item -ItemType Directory -Path $src | Out-Null
        Invoke-Checked git @('-C', $Root, 'archive', '--format=tar', '-o', "$src.tar", $Revision)
        Invoke-Checked tar @('-xf', "$src.tar", '-C', $src)
    }
    Write-Host "==> Build Fle.Bench: $Name ($(if ($Revision) { $Revision } else { 'working tree' }))"
    Invoke-Checked dotnet @('build', (Join-Path $src 'bench/Fle.Bench/Fle.Bench.csproj'), '-c', 'Release', '-o', (Join-Path $work $Name), '--nologo', '-v', 'quiet')
    Join-Path $work $Name
}
function Median($xs) { $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
function Quartiles($xs) { $s = @($xs | Sort-Object); '{0:N3}..{1:N3}' -f $s[[int][math]::Floor(($s.Count - 1) / 4)], $s[[int][math]::Ceiling(3 * ($s.Count - 1) / 4)] }

$server = $null; $workers = [ordered]@{}
try {
    $dirs = @{ before = Build-Side before $Before; after = Build-Side after $After }
    # One worker binary (it calls WatchStepsAsync only in watch mode, which only the after build runs), copied beside each build.
    Invoke-Checked dotnet @('build', (Join-Path $PSScriptRoot 'WatchAb.csproj'), '-c', 'Release', "-p:FleBuild=$($dirs.after)", '-o', (Join-Path $work 'worker'), '--nologo', '-v', 'quiet')
    foreach ($d in $dirs.Values) { Copy-Item (Join-Path $work 'worker/Fle.WatchAb.dll'), (Join-Path $work 'worker/Fle.WatchAb.runtimeconfig.json') $d }

    Import-Module (Join-Path $Root 'tools/TestPostgres.psm1') -Force
    $server = Start-FleTestPostgres -Durable
    function Start-Worker([string] $Dir, [string] $Db, [string] $Mode) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new('dotnet')
        foreach ($a in (Join-Path $Dir 'Fle.WatchAb.dll'), $server.ConnectionString, $Db, "$($Rounds * $Block)", $Mode) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.UseShellExecute = $false
        $p = [System.Diagnostics.Process]::Start($psi)
        $ready = $p.StandardOutput.ReadLine()
        if ($ready -notlike 'ready *') { throw "a worker ($Dir, $Mode) did not start: $ready" }
        $p
    }
    $workers.before = Start-Worker $dirs.before fle_ab_before none
    $workers.after = Start-Worker $dirs.after fle_ab_after none
    if ($WatchMode -ne 'none') { $workers.watched = Start-Worker $dirs.after fle_ab_watched $WatchMode }
    $names = @($workers.Keys)
    $rates = @{}; foreach ($n in $names) { $rates[$n] = [System.Collections.Generic.List[double]]::new() }
    for ($r = 0; $r -lt $Rounds; $r++) {
        for ($k = 0; $k -lt $names.Count; $k++) {
            $n = $names[($r + $k) % $names.Count]
            $workers[$n].StandardInput.WriteLine("$Block")
            $rates[$n].Add([double]::Parse($workers[$n].StandardOutput.ReadLine(), [cultureinfo]::InvariantCulture))
        }
    }
    $heard = $null
    if ($workers.Contains('watched')) { $workers.watched.StandardInput.Close(); $heard = $workers.watched.StandardOutput.ReadLine() }

    Write-Host ''
    Write-Host ("{0} rounds of {1} checkpoints per worker (the bench's workload), durable PostgreSQL, one writer per database; load average now {2}" -f
        $Rounds, $Block, (((Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3) -join ' '))
    foreach ($n in $names) { Write-Host ('{0,-8} checkpoints/s: median {1,8:N1}  (min {2:N0}, max {3:N0})' -f $n, (Median $rates[$n]), ($rates[$n] | Measure-Object -Minimum).Minimum, ($rates[$n] | Measure-Object -Maximum).Maximum) }
    $ab = for ($i = 0; $i -lt $Rounds; $i++) { $rates.after[$i] / $rates.before[$i] }
    Write-Host ('after / before, same round:  median {0:N3}, quartiles {1}' -f (Median $ab), (Quartiles $ab))
    if ($heard) {
        $wa = for ($i = 0; $i -lt $Rounds; $i++) { $rates.watched[$i] / $rates.after[$i] }
        Write-Host ('watched / after, same round: median {0:N3}, quartiles {1}  ({2}: {3} of {4} saves)' -f (Median $wa), (Quartiles $wa), $WatchMode, $heard, ($Rounds * $Block))
    }
} finally {
    foreach ($w in $workers.Values) { try { $w.StandardInput.Close() } catch { }; if (-not $w.WaitForExit(30000)) { $w.Kill() } }
    if ($server) { Stop-FleTestPostgres $server }
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
