# Helpers of bench/Run-Bench.ps1: medians, LangGraph's runner installed on demand (bench/peers), and the start-up and
# large-history sections, which run fresh pwsh processes.

function Median($xs) {
    $s = @($xs | Sort-Object)
    if ($s.Count -eq 0) { return [double]::NaN }
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}

function Goal([bool]$ok) { if ($ok) { 'met' } else { 'MISSED' } }

function Initialize-BenchPeers {
    <#
    .SYNOPSIS
    Make bench/peers runnable: node >= 20, npm, `npm ci` when node_modules is missing, and better-sqlite3's native module
    built (its prebuilt binaries are downloaded from the internet, which is not always reachable: then it is compiled from
    source against node's own headers). Returns $null when ready, else a sentence saying what is missing.
    #>
    param([Parameter(Mandatory)][string]$Dir, [Parameter(Mandatory)][string]$LogDir)
    if (-not (Get-Command node -ErrorAction SilentlyContinue)) { return 'node is not installed: LangGraph''s checkpointers need node >= 20 and npm (e.g. apt-get install nodejs npm)' }
    $version = "$(& node --version)".Trim().TrimStart('v')
    if (-not ($version -as [version]) -or [version]$version -lt [version]'20.0') { return "node $version is too old: LangGraph's checkpointers need node >= 20" }
    if (-not (Get-Command npm -ErrorAction SilentlyContinue)) { return "npm is not installed (node $version is): LangGraph's checkpointers are installed with npm" }
    # node-gyp compiles better-sqlite3 against node's headers: the ones installed next to node when there are (Debian's
    # nodejs: /usr/include/node), else it would download them.
    $prefix = Split-Path (Split-Path "$(& node -p 'process.execPath')")
    $nodedir = if (Test-Path (Join-Path $prefix 'include/node/node.h')) { $prefix }
    $log = Join-Path $LogDir 'npm.log'
    function Invoke-Npm([string[]]$NpmArgs) {
        $saved = $env:npm_config_nodedir
        if ($nodedir) { $env:npm_config_nodedir = $nodedir }
        try {
            Push-Location $Dir
            try { & npm @NpmArgs *>> $log; $LASTEXITCODE } finally { Pop-Location }
        } finally { $env:npm_config_nodedir = $saved }
    }
    function Test-Sqlite {
        Push-Location $Dir
        try { $null = & node -e "require('better-sqlite3')(':memory:').close()" 2>&1; $LASTEXITCODE -eq 0 } finally { Pop-Location }
    }
    if (-not (Test-Path (Join-Path $Dir 'node_modules/.package-lock.json'))) {
        Write-Host "  npm ci in $Dir (node $version; the first time compiles better-sqlite3, about a minute; log: $log)"
        # package.json's allowScripts lets better-sqlite3's install script run (npm here blocks install scripts otherwise)
        if ((Invoke-Npm @('ci', '--no-audit', '--no-fund')) -ne 0) {
            Write-Host '  npm ci failed; again without install scripts, then better-sqlite3 is built on its own'
            if ((Invoke-Npm @('ci', '--no-audit', '--no-fund', '--ignore-scripts')) -ne 0) {
                return "npm ci failed in $Dir (see $log): $((Get-Content $log -Tail 3) -join ' ')"
            }
        }
    }
    if (-not (Test-Sqlite)) {
        Write-Host "  building better-sqlite3 from source (npm rebuild better-sqlite3$(if ($nodedir) { " --nodedir=$nodedir" }))"
        $null = Invoke-Npm @('rebuild', 'better-sqlite3')
        if (-not (Test-Sqlite)) {
            $why = if ($nodedir) { 'a C++ compiler, make and python3 are needed (node-gyp)' } else { "node's headers were not found next to node ($prefix/include/node) and could not be downloaded; install them (Debian: libnode-dev) or set npm_config_nodedir" }
            return "better-sqlite3's native module could not be built: $why (see ${log}: $((Get-Content $log -Tail 2) -join ' '))"
        }
    }
    $null
}

function Invoke-PwshTimed {
    # A fresh pwsh running $Command; returns its wall time (measured here) and the CPU time it reports as its last line.
    param([Parameter(Mandatory)][string]$Pwsh, [Parameter(Mandatory)][string]$Command)
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $out = & $Pwsh -NoProfile -NonInteractive -Command "$Command; [Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds"
    $wall = $sw.Elapsed.TotalMilliseconds
    if ($LASTEXITCODE) { throw "pwsh -Command '$Command' failed (exit $LASTEXITCODE): $out" }
    [pscustomobject]@{ WallMs = $wall; CpuMs = [double]("$(@($out)[-1])".Trim()) }
}

function Measure-Startup {
    <#
    .SYNOPSIS
    Section 5: `pwsh -NoProfile -Command 'Import-Module Fle; Get-FleTrajectory'` on a SQLite file against a bare
    `pwsh -NoProfile -Command 'exit'`, alternating (the order flips every round), medians of wall and CPU time; then one
    fresh pwsh that times the two steps in-process and says what it loaded. -PgConnectionString: the same on PostgreSQL.
    #>
    param([string]$Pwsh, [string]$ModulePath, [string]$SqlitePath, [int]$Reps, [string]$PgConnectionString)
    $saved = @{ FLE_DB_TYPE = $env:FLE_DB_TYPE; SQLITE_DB_FILE = $env:SQLITE_DB_FILE }
    $env:FLE_DB_TYPE = $null; $env:SQLITE_DB_FILE = $SqlitePath
    try {
        $runs = @{ bare = @(); sqlite = @(); postgres = @() }
        $commands = [ordered]@{ bare = '$null = 0'; sqlite = "Import-Module '$ModulePath'; `$null = Get-FleTrajectory" }
        if ($PgConnectionString) { $commands.postgres = "Import-Module '$ModulePath'; Connect-FleDatabase -ConnectionString '$PgConnectionString'; `$null = Get-FleTrajectory" }
        for ($i = 0; $i -lt $Reps; $i++) {
            $keys = @($commands.Keys)
            if ($i % 2) { [array]::Reverse($keys) }
            foreach ($k in $keys) { $runs[$k] += Invoke-PwshTimed -Pwsh $Pwsh -Command $commands[$k] }
        }
        $probe = & $Pwsh -NoProfile -NonInteractive -Command @"
`$j0 = [System.Runtime.JitInfo]::GetCompiledMethodCount(); `$sw = [Diagnostics.Stopwatch]::StartNew()
Import-Module '$ModulePath'; `$import = `$sw.Elapsed.TotalMilliseconds
`$null = Get-FleTrajectory; `$query = `$sw.Elapsed.TotalMilliseconds - `$import
`$names = [AppDomain]::CurrentDomain.GetAssemblies() | ForEach-Object { `$_.GetName().Name }
`$engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Fle.Core' } | Select-Object -First 1
[pscustomobject]@{ import_ms = `$import; first_query_ms = `$query; jit_methods = [System.Runtime.JitInfo]::GetCompiledMethodCount() - `$j0
    npgsql_loaded = `$names -contains 'Npgsql'; compiler_loaded = `$names -contains 'Microsoft.CodeAnalysis'
    ready_to_run = `$engine.Location -like '*r2r*'; runtime = [Environment]::Version.ToString() } | ConvertTo-Json -Compress
"@
        $probe = @($probe)[-1] | ConvertFrom-Json
    } finally { foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) } }
    $m = { param($k, $p) Median ($runs[$k] | ForEach-Object $p) }
    $r = [ordered]@{ reps = $Reps; bare_ms = [math]::Round((& $m bare WallMs), 1); sqlite_ms = [math]::Round((& $m sqlite WallMs), 1)
        overhead_ms = [math]::Round((& $m sqlite WallMs) - (& $m bare WallMs), 1)
        bare_cpu_ms = [math]::Round((& $m bare CpuMs), 1); sqlite_cpu_ms = [math]::Round((& $m sqlite CpuMs), 1)
        overhead_cpu_ms = [math]::Round((& $m sqlite CpuMs) - (& $m bare CpuMs), 1)
        import_ms = [math]::Round($probe.import_ms, 1); first_query_ms = [math]::Round($probe.first_query_ms, 1); jit_methods = $probe.jit_methods
        npgsql_loaded = $probe.npgsql_loaded; compiler_loaded = $probe.compiler_loaded; ready_to_run = $probe.ready_to_run; runtime = $probe.runtime }
    if ($PgConnectionString) {
        $r.postgres_ms = [math]::Round((& $m postgres WallMs), 1); $r.postgres_overhead_ms = [math]::Round((& $m postgres WallMs) - (& $m bare WallMs), 1)
        $r.postgres_cpu_ms = [math]::Round((& $m postgres CpuMs), 1)
    }
    $r
}

function Measure-LargeHistory {
    # Section 8 for one backend: build the histories (Fle.Bench history), then stream each in a fresh pwsh (bench/Large-History.ps1).
    param([string]$Pwsh, [string]$ModulePath, [string]$BenchDll, [string]$Backend, [string]$DataDir, [string]$PgAdmin, [int]$Size)
    $info = & dotnet $BenchDll history --backend $Backend --dir $DataDir --pg $PgAdmin --steps $Size --trajectories $Size | ConvertFrom-Json
    if ($LASTEXITCODE) { throw "Fle.Bench history failed for $Backend" }
    $script = Join-Path $PSScriptRoot 'Large-History.ps1'
    $runs = foreach ($case in @(@{ Kind = 'Steps'; State = $false }, @{ Kind = 'Steps'; State = $true }, @{ Kind = 'Trajectories'; State = $false })) {
        $target = if ($case.Kind -eq 'Steps') { $info.steps_target } else { $info.trajectories[0].target }
        $out = & $Pwsh -NoProfile -NonInteractive -File $script -ModulePath $ModulePath -Backend $Backend -Target $target -Kind $case.Kind -TrajectoryId $info.steps[0].id -IncludeGameState:$case.State
        if ($LASTEXITCODE) { throw "Large-History.ps1 failed ($Backend, $($case.Kind)): $out" }
        $r = @($out)[-1] | ConvertFrom-Json
        Write-Host ("  [{0}] {1,-36} {2,9:N0} in {3,6:N2} s = {4,9:N0}/s; RSS {5:N0} MB before, peak {6:N0} MB; live heap {7:N2} -> {8:N2} MB over the stream" -f $Backend,
            $(if ($r.kind -eq 'Steps') { "Get-FleStep$(if ($r.state) { ' -IncludeGameState' })" } else { 'Get-FleTrajectory' }), $r.count, $r.seconds, $r.per_s, $r.rss_before_mb, $r.peak_rss_mb, $r.live_heap_mb[0], $r.live_heap_mb[-1])
        $r
    }
    @($runs)
}

Export-ModuleMember -Function Median, Goal, Initialize-BenchPeers, Measure-Startup, Measure-LargeHistory
