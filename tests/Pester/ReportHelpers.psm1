# Helpers of the report and package tests: child processes under a timeout, and headless Chromium.
Set-StrictMode -Version Latest
Import-Module (Join-Path $PSScriptRoot '../../tools/TestChromium.psm1') -Force

function Invoke-FleProcess {
    <#
    Run an executable with an argument list and extra environment variables (a $null value removes one), under a
    timeout: on timeout the process tree is killed and this throws. Returns ExitCode, StdOut, StdErr.
    #>
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [hashtable] $Environment = @{},
        [string] $WorkingDirectory = (Get-Location).Path,
        [int] $TimeoutSeconds = 120
    )
    $psi = [System.Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { [void]$psi.Environment.Remove($k) } else { $psi.Environment[$k] = [string]$Environment[$k] }
    }
    $psi.WorkingDirectory = $WorkingDirectory
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.RedirectStandardInput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    try {
        $p.StandardInput.Close()
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) {
            $p.Kill($true)
            throw "$FilePath $($ArgumentList -join ' ') did not finish within $TimeoutSeconds s and was killed."
        }
        $p.WaitForExit()
        [pscustomobject]@{ ExitCode = $p.ExitCode; StdOut = $out.GetAwaiter().GetResult(); StdErr = $err.GetAwaiter().GetResult() }
    } finally { $p.Dispose() }
}

function Get-FleChromiumMissingReason {
    # Why the report tests cannot render: $null when Chromium is there.
    if (Find-FleChromium) { return $null }
    $why = if ($env:FLE_CHROMIUM_MISSING) { $env:FLE_CHROMIUM_MISSING } else { 'no chromium, chromium-browser or google-chrome is on PATH and FLE_CHROMIUM is not set' }
    "Headless Chromium is needed to render the report and was not found: $why. ./build.ps1 -Task Test installs Debian's chromium (apt-get install -y chromium) when it runs as root."
}

function Invoke-FleChromium {
    <#
    Render a local HTML file in headless Chromium (a fresh profile, no network services) and return the DOM after its
    scripts ran (-DumpDom), or write a screenshot (-Screenshot <png>). Fails when Chromium fails or takes too long.
    #>
    param(
        [Parameter(Mandatory)] [string] $HtmlPath,
        [string] $Screenshot,
        [string] $WindowSize = '1280,2000',
        [int] $TimeoutSeconds = 120
    )
    $chromium = Find-FleChromium
    if (-not $chromium) { throw (Get-FleChromiumMissingReason) }
    $userData = Join-Path ([System.IO.Path]::GetTempPath()) ('fle-chromium-' + [guid]::NewGuid().ToString('n').Substring(0, 10))
    New-Item -ItemType Directory -Path $userData | Out-Null
    try {
        $common = @('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
            '--disable-sync', '--no-first-run', '--disable-extensions', '--hide-scrollbars', "--user-data-dir=$userData")
        $url = [System.Uri]::new((Resolve-Path -LiteralPath $HtmlPath).Path).AbsoluteUri
        $arguments = if ($Screenshot) { $common + @("--screenshot=$Screenshot", "--window-size=$WindowSize", $url) } else { $common + @('--dump-dom', $url) }
        $r = Invoke-FleProcess -FilePath $chromium -ArgumentList $arguments -TimeoutSeconds $TimeoutSeconds -Environment @{ HOME = $userData }
        if ($r.ExitCode -ne 0) { throw "Chromium exited with $($r.ExitCode): $($r.StdErr | Select-Object -Last 1)" }
        if ($Screenshot) { return Get-Item -LiteralPath $Screenshot }
        if (-not $r.StdOut.Trim()) { throw "Chromium returned no DOM for $HtmlPath. stderr: $($r.StdErr)" }
        $r.StdOut
    } finally {
        Remove-Item -LiteralPath $userData -Recurse -Force -ErrorAction SilentlyContinue
    }
}

Export-ModuleMember -Function Invoke-FleProcess, Get-FleChromiumMissingReason, Invoke-FleChromium
