#!/usr/bin/env pwsh
<#
.SYNOPSIS
Builds, demonstrates, tests, installs and benchmarks the Fle module.

.DESCRIPTION
Tasks:
  Build    dotnet publish, then assemble the module folder out/Fle (cmdlet assembly at the top,
           dependencies in deps/ with native SQLite for win-x64, linux-x64, linux-arm64, osx-x64,
           osx-arm64; ReadyToRun images of them for each of those RIDs in deps/r2r/net10.0-<rid>/ unless
           -NoReadyToRun; manifest, format file and MAML help).
  Demo     Build, then run examples/demo.ps1 on the SQLite default (.fle/data.db in the current folder).
  Test     Build, restore Pester, install what the tests need when it is missing (as root): the Debian packages FLE's
           Python client needs, and Debian's chromium (the report tests render the HTML report with it); start a
           throwaway PostgreSQL (unless FLE_TEST_PG is set), run the xUnit suite and the Pester suite, print
           'unit: N passed, N failed', 'pester: ...' and a total.
  Install  Build, then copy out/Fle to the user's module path so that 'Import-Module Fle' finds it.
  Package  Build, then out/Fle.<version>.nupkg (tools/New-FlePackage.ps1: Test-ModuleManifest, PSResourceGet's
           Compress-PSResource, and a check of what the package holds). Install it with PSResourceGet from a
           local file repository: see README.md, "Installing from a package".
  Bench    Build, then run the benchmark (-Quick for a short run; -Peers also runs LangGraph's checkpointers, bench/peers).
  Clean    Remove out/ and the build folders.

.EXAMPLE
dotnet tool restore; dotnet pwsh ./build.ps1 -Task Test
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Demo', 'Test', 'Install', 'Package', 'Bench', 'Clean')]
    [string[]] $Task = 'Build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    # Bench: the short variant (a few minutes on 2 cores).
    [switch] $Quick,
    # Test: only the Pester files matching this pattern / only the xUnit tests matching this filter.
    [string] $PesterFilter,
    [string] $UnitFilter,
    # Build: skip the ReadyToRun images (a faster build while iterating; the module then compiles everything at run time).
    [switch] $NoReadyToRun,
    # Bench: also run LangGraph's checkpointers (node >= 20, npm) on the same workload (bench/peers).
    [switch] $Peers
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$PSStyle.OutputRendering = 'PlainText'
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleDir = Join-Path $Out 'Fle'
$Rids = 'win-x64', 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64'
# The pwsh running this script (the local dotnet tool): its apphost in $PSHOME, for child processes.
$Pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
if (-not (Test-Path $Pwsh)) { throw "pwsh was not found in $PSHOME" }

function Invoke-Native {
    param([string]$Exe, [string[]]$Arguments, [switch]$Quiet)
    if ($Quiet) { $o = & $Exe @Arguments 2>&1 } else { & $Exe @Arguments }
    if ($LASTEXITCODE -ne 0) {
        if ($Quiet) { $o | Write-Host }
        throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Invoke-PwshChild {
    # A fresh pwsh process (a clean session, as a user would have).
    param([string]$Command, [hashtable]$Environment = @{})
    $saved = @{}
    foreach ($k in $Environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
    try {
        & $Pwsh -NoProfile -NonInteractive -Command $Command | Out-Host
        return $LASTEXITCODE
    } finally {
        foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
    }
}

function Invoke-Build {
    Write-Host "==> Build ($Configuration)"
    # One version: the assemblies' (Directory.Build.props) and the manifest's must agree, or a session
    # that upgrades the module could keep running the old cmdlets.
    $manifestVersion = (Import-PowerShellDataFile (Join-Path $Root 'Fle.psd1')).ModuleVersion
    $assemblyVersion = ([xml](Get-Content -Raw (Join-Path $Root 'Directory.Build.props'))).Project.PropertyGroup.Version | Where-Object { $_ } | Select-Object -First 1
    if ($manifestVersion -ne $assemblyVersion) { throw "Fle.psd1 ModuleVersion ($manifestVersion) differs from Directory.Build.props Version ($assemblyVersion)." }
    $publish = Join-Path $Out 'publish'
    if (Test-Path $publish) { Remove-Item -Recurse -Force $publish }
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/Fle.PowerShell/Fle.PowerShell.csproj'), '-c', $Configuration, '-o', $publish, '--nologo', '-v', 'quiet', '-clp:ErrorsOnly')

    $loader = Join-Path $Out 'loader'
    Invoke-Native dotnet @('build', (Join-Path $Root 'src/Fle.Loader/Fle.Loader.csproj'), '-c', $Configuration, '-o', $loader, '--nologo', '-v', 'quiet', '-clp:ErrorsOnly')

    if (Test-Path $ModuleDir) { Remove-Item -Recurse -Force $ModuleDir }
    $deps = Join-Path $ModuleDir 'deps'
    New-Item -ItemType Directory -Force -Path $deps | Out-Null
    # Only the loader sits in PowerShell's default load context; the cmdlets, the engine and every
    # dependency go to deps/ and load in Fle's own AssemblyLoadContext (see src/Fle.Loader).
    Copy-Item (Join-Path $loader 'Fle.Loader.dll') $ModuleDir
    $shipped = Get-ChildItem $publish -Filter *.dll
    $shipped | Copy-Item -Destination $deps
    Get-ChildItem $publish -Filter 'Fle.*.pdb' | Copy-Item -Destination $deps
    foreach ($rid in $Rids) {
        $native = Join-Path $publish "runtimes/$rid/native"
        if (-not (Test-Path $native)) { throw "The native SQLite library for $rid is missing from the publish output ($native)." }
        $dest = Join-Path $deps "runtimes/$rid/native"
        New-Item -ItemType Directory -Force -Path $dest | Out-Null
        Copy-Item (Join-Path $native '*') $dest
    }
    Copy-Item (Join-Path $Root 'Fle.psd1') $ModuleDir
    Copy-Item (Join-Path $Root 'src/Fle.PowerShell/Fle.psm1') $ModuleDir
    Copy-Item (Join-Path $Root 'src/Fle.PowerShell/Fle.format.ps1xml') $ModuleDir
    Copy-Item (Join-Path $Root 'LICENSE') $ModuleDir

    # The shipped dependency list is explicit: a new or missing DLL fails the build until the list is updated on purpose.
    $expectedFile = Join-Path $Root 'tools/shipped-dependencies.txt'
    $expected = Get-Content $expectedFile | Where-Object { $_ -and -not $_.StartsWith('#') } | Sort-Object
    $actual = $shipped.Name | Sort-Object
    $diff = Compare-Object $expected $actual
    if ($diff) {
        $msg = ($diff | ForEach-Object { "  $($_.InputObject) $(if ($_.SideIndicator -eq '=>') { '(shipped but not listed)' } else { '(listed but not shipped)' })" }) -join "`n"
        throw "The shipped dependencies differ from tools/shipped-dependencies.txt:`n$msg"
    }
    if (-not $NoReadyToRun) { Add-ReadyToRunImages -Deps $deps -Shipped $shipped }

    $helpScript = Join-Path $Root 'tools/help/Build-Help.ps1'
    if (Test-Path $helpScript) {
        Write-Host '==> Help (Markdown → MAML)'
        $code = Invoke-PwshChild "& '$helpScript' -ModulePath '$ModuleDir' -DocsPath '$(Join-Path $Root 'docs/en-US')' -OutputPath '$(Join-Path $ModuleDir 'en-US')'; exit `$LASTEXITCODE"
        if ($code -ne 0) { throw 'Building the help failed (see above).' }
    }
    Write-Host "Module: $ModuleDir"
}

function Add-ReadyToRunImages([string]$Deps, [IO.FileInfo[]]$Shipped) {
    # ReadyToRun images (the same assemblies with native code compiled ahead of time) of the shipped DLLs, per RID, for
    # the runtime PowerShell 7.6 runs on: ReadyToRun code is used only by the runtime major version it was compiled for,
    # so src/Fle.Loader loads deps/r2r/<runtime>-<rid>/ on that runtime and platform and the portable IL in deps/
    # elsewhere (PowerShell 7.4 on .NET 8). They spare the JIT most of the module's start-up (bench section 5).
    $project = Join-Path $Root 'tools/r2r/Fle.ReadyToRun.csproj'
    $runtime = ([xml](Get-Content -Raw $project)).Project.PropertyGroup.TargetFramework | Where-Object { $_ } | Select-Object -First 1
    Write-Host "==> ReadyToRun images for $runtime ($($Rids -join ', '))"
    foreach ($rid in $Rids) {
        $r2rOut = Join-Path $Out "r2r/$rid"
        Invoke-Native dotnet @('publish', $project, '-c', $Configuration, '-r', $rid, '-o', $r2rOut, '--nologo', '-v', 'quiet', '-clp:ErrorsOnly')
        $dest = Join-Path $Deps "r2r/$runtime-$rid"
        New-Item -ItemType Directory -Force -Path $dest | Out-Null
        foreach ($dll in $Shipped) {
            $image = Join-Path $r2rOut $dll.Name
            if (-not (Test-Path $image)) { continue } # a framework assembly on that runtime (the loader takes the framework's)
            # The loader hands out this image for the IL's name on that runtime: it must be that assembly, in a version
            # at least the IL's (the images are the dependency closure resolved for that runtime: Npgsql's net10.0 build
            # takes Microsoft.Extensions.* 10.0 where its net8.0 build takes 8.0), with native code in it.
            $want = [Reflection.AssemblyName]::GetAssemblyName($dll.FullName).Version
            $got = [Reflection.AssemblyName]::GetAssemblyName($image).Version
            if ($got -lt $want) { throw "The ReadyToRun image of $($dll.Name) for $rid is version $got, older than the shipped IL ($want)." }
            $pe = [Reflection.PortableExecutable.PEReader]::new([IO.File]::OpenRead($image))
            try { $native = $pe.PEHeaders.CorHeader.ManagedNativeHeaderDirectory.Size -gt 0 } finally { $pe.Dispose() }
            if (-not $native) { throw "The ReadyToRun image of $($dll.Name) for $rid holds no native code." }
            Copy-Item $image $dest
        }
    }
}

function Invoke-Demo {
    Write-Host '==> Demo on the SQLite default (.fle/data.db)'
    $code = Invoke-PwshChild "Import-Module '$ModuleDir/Fle.psd1'; & '$(Join-Path $Root 'examples/demo.ps1')'; exit `$LASTEXITCODE" -Environment @{ FLE_DB_TYPE = $null }
    if ($code -ne 0) { throw "The demo failed (exit $code)." }
    if (Get-Command sqlite3 -ErrorAction SilentlyContinue) {
        $db = Join-Path (Get-Location) '.fle/data.db'
        Write-Host "sqlite3 $db 'PRAGMA integrity_check' → $(& sqlite3 $db 'PRAGMA integrity_check')"
    }
}

function Get-TrxCounts([string]$Path) {
    [xml]$x = Get-Content -Raw $Path
    $c = $x.TestRun.ResultSummary.Counters
    [pscustomobject]@{ Passed = [int]$c.passed; Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted; Skipped = [int]$c.notExecuted; Total = [int]$c.total }
}

function Install-FleClientPackages {
    # FLE's own Python client (which the Import-FleProgramTable tests run: tests/FleClient/fle_programs.py) needs these
    # Debian packages next to the default python3 (which has pydantic 2). Installed when missing (as root); idempotent.
    $packages = [ordered]@{ tenacity = 'python3-tenacity'; psycopg2 = 'python3-psycopg2'; numpy = 'python3-numpy'; PIL = 'python3-pil'; dotenv = 'python3-dotenv' }
    $missing = @($packages.Keys | Where-Object { -not (Test-Path "/usr/lib/python3/dist-packages/$_") } | ForEach-Object { $packages[$_] })
    if ($missing.Count -eq 0) { return }
    if (-not $IsLinux -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) {
        Write-Warning "FLE's Python client needs $($missing -join ', ') (Debian packages), and this machine has no apt-get: its tests fail under CI=true and are skipped otherwise."
        return
    }
    if ((& id -u) -ne '0') {
        Write-Warning "FLE's Python client needs $($missing -join ', '), which are not installed, and this is not root: run 'sudo apt-get install -y $($missing -join ' ')'. Its tests fail under CI=true and are skipped otherwise."
        return
    }
    Write-Host "==> apt-get install -y $($missing -join ' ') (for FLE's Python client in the tests)"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    & apt-get install -y --no-install-recommends @missing 2>&1 | Out-Null
    if ($LASTEXITCODE -ne 0) {
        # A fresh machine has no package lists yet.
        & apt-get update 2>&1 | Out-Null
        Invoke-Native apt-get (@('install', '-y', '--no-install-recommends') + $missing) -Quiet
    }
}

function Invoke-Test {
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    Install-FleClientPackages

    Import-Module (Join-Path $Root 'tools/TestChromium.psm1') -Force
    Install-FleTestChromium

    Write-Host '==> Restore Pester'
    Invoke-Native dotnet @('restore', (Join-Path $Root 'tools/pester/pester.csproj'), '--nologo', '-v', 'quiet') -Quiet
    $pester = Get-ChildItem (Join-Path $Root '.tools/nuget/pester') -Recurse -Filter Pester.psd1 | Select-Object -First 1
    if (-not $pester) { throw 'Pester was not restored.' }

    Import-Module (Join-Path $Root 'tools/TestPostgres.psm1') -Force
    $server = $null
    if (-not $env:FLE_TEST_PG) {
        Write-Host '==> Start a throwaway PostgreSQL'
        try {
            $server = Start-FleTestPostgres
            Set-FleTestPostgresEnvironment $server
            Write-Host "PostgreSQL on 127.0.0.1:$($server.Port) (data in $($server.Dir))"
        } catch {
            if ($env:CI -eq 'true') { throw "CI=true and PostgreSQL could not be started: $_" }
            Write-Warning "PostgreSQL could not be started, so its tests are skipped: $_"
        }
    }
    $unit = $null; $pesterCounts = $null
    try {
        Write-Host '==> xUnit (engine contract suite on SQLite and PostgreSQL)'
        $trx = Join-Path $results 'unit.trx'
        $testArgs = @('test', (Join-Path $Root 'tests/Unit/Fle.Tests.csproj'), '-c', $Configuration, '--nologo',
            '--logger', "trx;LogFileName=$trx", '--logger', 'console;verbosity=normal', '--results-directory', $results)
        if ($UnitFilter) { $testArgs += @('--filter', $UnitFilter) }
        & dotnet @testArgs
        $unitExit = $LASTEXITCODE
        $unit = if (Test-Path $trx) { Get-TrxCounts $trx } else { [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0; Total = 1 } }
        if ($unitExit -ne 0 -and $unit.Failed -eq 0) {
            Write-Host "dotnet test exited with code $unitExit although it counted no failure (a build error or a crashed test host): counted as one failure."
            $unit.Failed = 1
        }

        Write-Host '==> Pester (the built module in a fresh pwsh)'
        $pesterJson = Join-Path $results 'pester.json'
        $runner = Join-Path $Root 'tests/Pester/Invoke-FlePester.ps1'
        $code = Invoke-PwshChild "& '$runner' -PesterPath '$($pester.FullName)' -ModulePath '$ModuleDir/Fle.psd1' -ResultPath '$pesterJson' -Filter '$PesterFilter'; exit `$LASTEXITCODE"
        $pesterCounts = if (Test-Path $pesterJson) { Get-Content -Raw $pesterJson | ConvertFrom-Json } else { $null }
        # A runner that failed, or wrote no counts, is a failure whatever else it printed.
        if ($null -eq $pesterCounts -or $null -eq $pesterCounts.Passed -or $null -eq $pesterCounts.Failed) {
            $pesterCounts = [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 }
        } elseif ($code -ne 0 -and $pesterCounts.Failed -eq 0) {
            Write-Host "The Pester runner exited with code $code although it counted no failure: counted as one failure."
            $pesterCounts.Failed = 1
        }
    } finally {
        if ($server) { Stop-FleTestPostgres $server }
    }

    $p = $unit.Passed + $pesterCounts.Passed
    $f = $unit.Failed + $pesterCounts.Failed
    $s = $unit.Skipped + $pesterCounts.Skipped
    Write-Host ''
    Write-Host "unit: $($unit.Passed) passed, $($unit.Failed) failed, $($unit.Skipped) skipped"
    Write-Host "pester: $($pesterCounts.Passed) passed, $($pesterCounts.Failed) failed, $($pesterCounts.Skipped) skipped"
    Write-Host "total: $p passed, $f failed, $s skipped"
    if ($f -gt 0 -or $unit.Passed -eq 0 -or $pesterCounts.Passed -eq 0) { exit 1 }
    if ($env:CI -eq 'true' -and $s -gt 0) { Write-Host 'CI=true: skipped tests are not allowed.'; exit 1 }
}

function Invoke-Package {
    Write-Host '==> Package'
    $script = Join-Path $Root 'tools/New-FlePackage.ps1'
    # PSResourceGet keeps its settings under the XDG folders: give it throwaway ones, so the user's are not touched.
    $xdg = Join-Path ([System.IO.Path]::GetTempPath()) ('fle-package-' + [guid]::NewGuid().ToString('n').Substring(0, 10))
    try {
        $xdgEnv = @{ XDG_DATA_HOME = "$xdg/data"; XDG_CONFIG_HOME = "$xdg/config"; XDG_CACHE_HOME = "$xdg/cache" }
        $code = Invoke-PwshChild "& '$script' -ModulePath '$ModuleDir' -OutputPath '$Out' -Rid $(($Rids | ForEach-Object { "'$_'" }) -join ','); exit `$LASTEXITCODE" -Environment $xdgEnv
    } finally { Remove-Item -Recurse -Force $xdg -ErrorAction SilentlyContinue }
    if ($code -ne 0) { throw 'Packaging failed (see above).' }
}

function Invoke-Install {
    $userModules = ($env:PSModulePath -split [IO.Path]::PathSeparator | Where-Object { $_ -like "$HOME*" } | Select-Object -First 1)
    if (-not $userModules) { $userModules = Join-Path $HOME '.local/share/powershell/Modules' }
    $manifest = Import-PowerShellDataFile (Join-Path $Root 'Fle.psd1')
    $dest = Join-Path $userModules "Fle/$($manifest.ModuleVersion)"
    if (Test-Path $dest) { Remove-Item -Recurse -Force $dest }
    New-Item -ItemType Directory -Force -Path $dest | Out-Null
    Copy-Item (Join-Path $ModuleDir '*') $dest -Recurse
    Write-Host "Installed to $dest. Run: Import-Module Fle"
}

function Invoke-Bench {
    $bench = Join-Path $Root 'bench/Run-Bench.ps1'
    if (-not (Test-Path $bench)) { throw 'The benchmark is not there yet (bench/Run-Bench.ps1).' }
    & $bench -ModulePath (Join-Path $ModuleDir 'Fle.psd1') -Configuration $Configuration -Quick:$Quick -Peers:$Peers
    if ($LASTEXITCODE) { exit $LASTEXITCODE }
}

foreach ($t in $Task) {
    switch ($t) {
        'Build' { Invoke-Build }
        'Demo' { Invoke-Build; Invoke-Demo }
        'Test' { Invoke-Build; Invoke-Test }
        'Install' { Invoke-Build; Invoke-Install }
        'Package' { Invoke-Build; Invoke-Package }
        'Bench' { Invoke-Build; Invoke-Bench }
        'Clean' { Remove-Item -Recurse -Force $Out, (Join-Path $Root 'src/*/bin'), (Join-Path $Root 'src/*/obj'), (Join-Path $Root 'tests/Unit/bin'), (Join-Path $Root 'tests/Unit/obj'), (Join-Path $Root 'tools/r2r/bin'), (Join-Path $Root 'tools/r2r/obj') -ErrorAction SilentlyContinue }
    }
}
