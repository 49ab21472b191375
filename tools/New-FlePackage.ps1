#Requires -Version 7.4
<#
.SYNOPSIS
    Packs the built module folder into <OutputPath>/Fle.<version>.nupkg and checks what the package holds.

.DESCRIPTION
    1. Test-ModuleManifest on the built manifest, and the fields a gallery shows: Description, Author,
       PowerShellVersion, CompatiblePSEditions, and in PrivateData.PSData Tags, LicenseUri, ProjectUri and
       ReleaseNotes.
    2. Compress-PSResource (PSResourceGet, shipped with PowerShell 7.4 and later) packs the folder: the
       same .nupkg that Publish-PSResource pushes to a repository, and that Publish-PSResource -NupkgPath
       and Install-PSResource take from a local file repository. No repository is registered and nothing
       is published here.
    3. The package is opened and checked: its nuspec (id, version, description, links, release notes,
       tags) and every file of the module folder, among them deps/ with each shipped DLL, and the native
       SQLite library and the ReadyToRun images (deps/r2r/<runtime>-<rid>/) of every RID given with -Rid.

    Run by `./build.ps1 -Task Package` (after the build) and by tests/Pester/Package.Tests.ps1.

.EXAMPLE
    dotnet pwsh -NoProfile -File tools/New-FlePackage.ps1 -ModulePath out/Fle -OutputPath out
#>
[CmdletBinding()]
param(
    # The built module folder (holds Fle.psd1).
    [Parameter(Mandatory)] [string] $ModulePath,
    # Where Fle.<version>.nupkg is written (replaced when it exists).
    [Parameter(Mandatory)] [string] $OutputPath,
    # The runtimes whose native SQLite library the package must hold.
    [string[]] $Rid = @('win-x64', 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$ModulePath = (Resolve-Path -LiteralPath $ModulePath).Path
$manifestPath = Join-Path $ModulePath 'Fle.psd1'
$manifest = Test-ModuleManifest -Path $manifestPath -ErrorAction Stop
$data = Import-PowerShellDataFile -LiteralPath $manifestPath
$psData = $data.PrivateData.PSData
$problems = @(
    foreach ($k in 'Description', 'Author', 'PowerShellVersion', 'CompatiblePSEditions', 'Copyright') { if (-not $data[$k]) { "the manifest has no $k" } }
    foreach ($k in 'Tags', 'LicenseUri', 'ProjectUri', 'ReleaseNotes') { if (-not $psData[$k]) { "the manifest's PrivateData.PSData has no $k" } }
    foreach ($k in 'LicenseUri', 'ProjectUri') {
        if ($psData[$k] -and -not ([uri]::IsWellFormedUriString($psData[$k], 'Absolute') -and $psData[$k].StartsWith('https://'))) { "$k is not an absolute https URI: $($psData[$k])" }
    }
    foreach ($t in @($psData.Tags)) { if ($t -match '\s') { "the tag '$t' has a space (a gallery splits tags on spaces)" } }
)
if ($problems) { throw "The module cannot be packaged:`n  $($problems -join "`n  ")" }

$version = $manifest.Version.ToString()
$staging = Join-Path ([System.IO.Path]::GetTempPath()) ('fle-pack-' + [guid]::NewGuid().ToString('n').Substring(0, 10))
New-Item -ItemType Directory -Path $staging | Out-Null
try {
    Compress-PSResource -Path $ModulePath -DestinationPath $staging
    $nupkg = @(Get-ChildItem -LiteralPath $staging -Filter '*.nupkg')
    if ($nupkg.Count -ne 1) { throw "Compress-PSResource wrote $($nupkg.Count) packages in $staging; 1 was expected." }

    Add-Type -AssemblyName System.IO.Compression.FileSystem
    $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg[0].FullName)
    try {
        $entries = @($zip.Entries | ForEach-Object { [uri]::UnescapeDataString($_.FullName) })
        $nuspecEntry = $zip.Entries | Where-Object FullName -Like '*.nuspec' | Select-Object -First 1
        $reader = [System.IO.StreamReader]::new($nuspecEntry.Open())
        try { [xml]$nuspec = $reader.ReadToEnd() } finally { $reader.Dispose() }
    } finally { $zip.Dispose() }

    $meta = $nuspec.package.metadata
    $expectedFiles = @(Get-ChildItem -LiteralPath $ModulePath -Recurse -File | ForEach-Object { [System.IO.Path]::GetRelativePath($ModulePath, $_.FullName).Replace('\', '/') })
    $problems = @(
        if ($meta.id -ne 'Fle') { "the package id is '$($meta.id)', not Fle" }
        if ($meta.version -ne $version) { "the package version is '$($meta.version)', not $version" }
        foreach ($k in 'description', 'authors', 'projectUrl', 'licenseUrl', 'releaseNotes', 'tags') { if (-not "$($meta.$k)".Trim()) { "the nuspec has no $k" } }
        if ("$($meta.tags)" -notmatch '\bPSModule\b') { 'the nuspec tags lack PSModule (what a gallery lists modules by)' }
        foreach ($f in $expectedFiles) { if ($entries -notcontains $f) { "the package lacks $f" } }
        foreach ($r in $Rid) { if (-not ($entries | Where-Object { $_ -like "deps/runtimes/$r/native/*" })) { "the package lacks the native SQLite library for $r" } }
        foreach ($r in $Rid) { if (-not ($entries | Where-Object { $_ -like "deps/r2r/net*-$r/Fle.Core.dll" })) { "the package lacks the ReadyToRun images for $r (built without -NoReadyToRun?)" } }
        if (-not ($entries | Where-Object { $_ -like 'deps/*.dll' })) { 'the package has no deps/*.dll' }
    )
    if ($problems) { throw "The package $($nupkg[0].Name) is incomplete:`n  $($problems -join "`n  ")" }

    New-Item -ItemType Directory -Force -Path $OutputPath | Out-Null
    $dest = Join-Path (Resolve-Path -LiteralPath $OutputPath).Path "Fle.$version.nupkg"
    Move-Item -LiteralPath $nupkg[0].FullName -Destination $dest -Force
    Write-Host "Package: $dest ($([math]::Round((Get-Item $dest).Length / 1MB, 1)) MB, $($entries.Count) entries; Test-ModuleManifest passed)"
} finally {
    Remove-Item -LiteralPath $staging -Recurse -Force -ErrorAction SilentlyContinue
}
