# Issue 16: the module as a package. tools/New-FlePackage.ps1 (what ./build.ps1 -Task Package runs) packs the built
# module; PSResourceGet publishes the .nupkg to a local file repository and installs it into a scratch module path; a
# fresh pwsh whose PSModulePath is only that path imports Fle and saves and reads a checkpoint. Every child process runs
# with HOME and the XDG folders in a scratch folder, so neither the user's module path nor PSResourceGet's repository
# settings are touched, and under a timeout.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ReportHelpers.psm1') -Force
    $script:repo = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $script:moduleDir = Split-Path -Parent (Get-FleModulePath)
    $script:scratch = New-FleTestDirectory
    $script:fakeHome = Join-Path $scratch 'home'
    $script:feed = Join-Path $scratch 'feed'
    $script:pkgOut = Join-Path $scratch 'pkg'
    New-Item -ItemType Directory -Path $fakeHome, $feed | Out-Null
    $script:version = (Import-PowerShellDataFile (Get-FleModulePath)).ModuleVersion
    # Where the user's modules are (they must not change).
    $script:realUserModules = Join-Path ([Environment]::GetFolderPath('LocalApplicationData')) 'powershell/Modules'
    $script:realBefore = @(Get-ChildItem -LiteralPath $realUserModules -ErrorAction SilentlyContinue | ForEach-Object Name)

    function Invoke-ScratchPwsh([string] $Script, [hashtable] $Environment = @{}, [int] $TimeoutSeconds = 240) {
        $vars = @{
            HOME = $fakeHome; XDG_DATA_HOME = "$fakeHome/.local/share"; XDG_CONFIG_HOME = "$fakeHome/.config"; XDG_CACHE_HOME = "$fakeHome/.cache"
            FLE_DB_TYPE = $null; SQLITE_DB_FILE = $null
        }
        foreach ($k in $Environment.Keys) { $vars[$k] = $Environment[$k] }
        $full = "`$ErrorActionPreference = 'Stop'; `$PSStyle.OutputRendering = 'PlainText'; $Script"
        $r = Invoke-FleProcess -FilePath $env:FLE_PWSH -ArgumentList @('-NoProfile', '-NonInteractive', '-Command', $full) -Environment $vars `
            -WorkingDirectory $scratch -TimeoutSeconds $TimeoutSeconds
        if ($r.ExitCode -ne 0) { throw "The child pwsh failed (exit $($r.ExitCode)):`n$($r.StdOut)`n$($r.StdErr)" }
        $r.StdOut
    }
}

AfterAll {
    Remove-Item -LiteralPath $scratch -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'The package' {
    BeforeAll {
        $packOutput = Invoke-ScratchPwsh "& '$(Join-Path $repo 'tools/New-FlePackage.ps1')' -ModulePath '$moduleDir' -OutputPath '$pkgOut'"
        $script:nupkg = Join-Path $pkgOut "Fle.$version.nupkg"
    }

    It 'is Fle.<version>.nupkg and the manifest passes Test-ModuleManifest with what a gallery shows' {
        $packOutput | Should -Match 'Test-ModuleManifest passed'
        Test-Path -LiteralPath $nupkg | Should -BeTrue
        $m = Test-ModuleManifest -Path (Get-FleModulePath)
        $m.Description | Should -Not -BeNullOrEmpty
        $m.PowerShellVersion | Should -Be ([version]'7.4')
        $m.CompatiblePSEditions | Should -Be @('Core')
        $m.PrivateData.PSData.Tags | Should -Contain 'PSEdition_Core'
        $m.PrivateData.PSData.ReleaseNotes | Should -Match 'Export-FleReport'
        $m.LicenseUri | Should -Not -BeNullOrEmpty
        $m.ProjectUri | Should -Not -BeNullOrEmpty
        (Get-Content -Raw (Join-Path $repo 'Fle.psd1')) | Should -Not -Match 'powershellgallery'
    }

    It 'holds the cmdlets, deps/ with every shipped DLL, the native SQLite library of every RID, help and LICENSE' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg)
        try { $entries = @($zip.Entries | ForEach-Object { [uri]::UnescapeDataString($_.FullName) }) } finally { $zip.Dispose() }
        foreach ($f in 'Fle.psd1', 'Fle.psm1', 'Fle.Loader.dll', 'Fle.format.ps1xml', 'LICENSE', 'en-US/Fle.PowerShell.dll-Help.xml', 'en-US/about_Fle.help.txt', 'Fle.nuspec') {
            $entries | Should -Contain $f
        }
        $shipped = Get-Content (Join-Path $repo 'tools/shipped-dependencies.txt') | Where-Object { $_ -and -not $_.StartsWith('#') }
        foreach ($dll in $shipped) { $entries | Should -Contain "deps/$dll" }
        foreach ($rid in 'win-x64', 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64') {
            @($entries | Where-Object { $_ -like "deps/runtimes/$rid/native/*e_sqlite3*" }).Count | Should -Be 1 -Because "the package needs the native SQLite library for $rid"
        }
    }

    It 'is published to a local file repository and installed from it into a scratch module path, then imported by a fresh pwsh that saves and reads a checkpoint' {
        $modules = Join-Path $fakeHome '.local/share/powershell/Modules'
        $installed = Invoke-ScratchPwsh @"
Register-PSResourceRepository -Name FleTestFeed -Uri '$feed' -Trusted
Publish-PSResource -NupkgPath '$nupkg' -Repository FleTestFeed
Install-PSResource -Name Fle -Repository FleTestFeed -TrustRepository -Scope CurrentUser -Quiet
(Get-InstalledPSResource -Name Fle).InstalledLocation
"@
        Test-Path (Join-Path $feed "Fle.$version.nupkg") | Should -BeTrue -Because 'Publish-PSResource put the package in the file repository'
        $installed.Trim() | Should -BeLike "$modules*"
        Test-Path (Join-Path $modules "Fle/$version/Fle.psd1") | Should -BeTrue
        Test-Path (Join-Path $modules "Fle/$version/deps/runtimes/linux-x64/native/libe_sqlite3.so") | Should -BeTrue

        $db = Join-Path $scratch 'installed.db'
        $out = Invoke-ScratchPwsh @"
Import-Module Fle
(Get-Module Fle).ModuleBase
Connect-FleDatabase -Path '$db'
`$t = New-FleTrajectory -TaskId packaged -Metadata @{ model = 'm' }
Save-FleCheckpoint -TrajectoryId `$t.Id -StepNumber 0 -AgentCode 'print(1)' -EnvironmentFeedback 'ok' -GameState '{"tick":42}' | Out-Null
Disconnect-FleDatabase
Connect-FleDatabase -Path '$db'
(Get-FleCheckpoint -TrajectoryId `$t.Id -Latest).GameStateText
"@ -Environment @{ PSModulePath = $modules }
        $lines = @($out -split "`r?`n" | Where-Object { $_ })
        $lines[0] | Should -Be (Join-Path $modules "Fle/$version")
        $lines[-1] | Should -Be '{"tick":42}'
    }

    It 'left the user''s own module path alone' {
        @(Get-ChildItem -LiteralPath $realUserModules -ErrorAction SilentlyContinue | ForEach-Object Name) | Should -Be $realBefore
    }
}
