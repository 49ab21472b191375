# Headless Chromium for the report tests: where it is, and installing Debian's chromium when it is missing
# (./build.ps1 -Task Test calls Install-FleTestChromium; tests/Pester/ReportHelpers.psm1 uses Find-FleChromium).
Set-StrictMode -Version Latest

function Find-FleChromium {
    # FLE_CHROMIUM names a browser to use; otherwise Debian's chromium (or another Chromium on PATH).
    if ($env:FLE_CHROMIUM) { return $env:FLE_CHROMIUM }
    foreach ($name in 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable') {
        $c = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($c) { return $c.Source }
    }
    $null
}

function Install-FleTestChromium {
    # The report tests render Export-FleReport's page in headless Chromium. Installed once (idempotent); when it cannot
    # be, the reason goes to FLE_CHROMIUM_MISSING and those tests say it (and fail under CI=true).
    if (Find-FleChromium) { return }
    $why = $null
    if ($IsWindows -or $IsMacOS) { $why = 'Chromium is not installed and only Debian''s package is installed automatically; set FLE_CHROMIUM to a Chromium or Chrome executable.' }
    elseif (-not (Get-Command apt-get -ErrorAction SilentlyContinue)) { $why = 'Chromium is not installed and apt-get is not there to install Debian''s chromium; install a Chromium and put it on PATH (or set FLE_CHROMIUM).' }
    elseif ((& id -u) -ne '0') { $why = 'Chromium is not installed and installing Debian''s chromium needs root: run "sudo apt-get install -y chromium" once.' }
    else {
        Write-Host '==> Install Chromium (apt-get install -y chromium) for the report tests'
        $apt = @('-o', 'DPkg::Lock::Timeout=300', '-y', '-q')
        $env:DEBIAN_FRONTEND = 'noninteractive'
        & apt-get @apt install chromium *> $null
        if ($LASTEXITCODE -ne 0) {
            # The package lists may be missing or old on a fresh machine.
            & apt-get @apt update *> $null
            $log = & apt-get @apt install chromium 2>&1
            if ($LASTEXITCODE -ne 0) { $log | Select-Object -Last 15 | Write-Host; $why = "apt-get install -y chromium failed (exit $LASTEXITCODE); see the lines above." }
        }
        if (-not $why -and -not (Find-FleChromium)) { $why = 'apt-get installed chromium, but no chromium executable is on PATH.' }
    }
    if ($why) {
        Write-Warning $why
        $env:FLE_CHROMIUM_MISSING = $why
    }
}

Export-ModuleMember -Function Find-FleChromium, Install-FleTestChromium
