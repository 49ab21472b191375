# Shared helpers for the Pester suite. Each test file imports this, then the built module.
Set-StrictMode -Version Latest

function Get-FleModulePath {
    if (-not $env:FLE_MODULE_PATH) { throw 'FLE_MODULE_PATH is not set: run the suite through ./build.ps1 -Task Test.' }
    $env:FLE_MODULE_PATH
}

function New-FleTestDirectory {
    $d = Join-Path ([System.IO.Path]::GetTempPath()) ("fle-pester-" + [guid]::NewGuid().ToString('n').Substring(0, 10))
    New-Item -ItemType Directory -Path $d | Out-Null
    $d
}

function Test-FlePostgresAvailable {
    # Under CI=true a PostgreSQL test is never skipped: a missing server is a failure.
    if ($env:FLE_TEST_PG) { return $true }
    if ($env:CI -eq 'true') { throw 'CI=true but FLE_TEST_PG is not set: the PostgreSQL tests cannot be skipped.' }
    Write-Warning 'PostgreSQL tests skipped: FLE_TEST_PG is not set (./build.ps1 -Task Test starts a throwaway server and sets it).'
    return $false
}

function New-FleTestPostgresDatabase {
    # A fresh, empty database on the test server; returns a hashtable of connection parts.
    param([string] $Prefix = 'fle_p')
    $name = "${Prefix}_" + [guid]::NewGuid().ToString('n').Substring(0, 10)
    $env:PGPASSWORD = $env:FLE_TEST_PG_PASSWORD
    & psql -h $env:FLE_TEST_PG_HOST -p $env:FLE_TEST_PG_PORT -U $env:FLE_TEST_PG_USER -d $env:FLE_TEST_PG_DB -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE $name" | Out-Null
    Remove-Item Env:PGPASSWORD
    if ($LASTEXITCODE -ne 0) { throw "Could not create database $name" }
    @{
        Server   = $env:FLE_TEST_PG_HOST
        Port     = [int]$env:FLE_TEST_PG_PORT
        Database = $name
        User     = $env:FLE_TEST_PG_USER
        Password = $env:FLE_TEST_PG_PASSWORD
        ConnectionString = "Host=$($env:FLE_TEST_PG_HOST);Port=$($env:FLE_TEST_PG_PORT);Database=$name;Username=$($env:FLE_TEST_PG_USER);Password=$($env:FLE_TEST_PG_PASSWORD)"
    }
}

function New-FleTestCredential {
    param([string] $User = $env:FLE_TEST_PG_USER, [string] $Password = $env:FLE_TEST_PG_PASSWORD)
    [pscredential]::new($User, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

function Invoke-FlePwsh {
    # Run a script block's text in a separate pwsh process with the module imported; returns its output lines.
    param([Parameter(Mandatory)] [string] $Script, [string] $WorkingDirectory = (Get-Location).Path)
    $full = "`$ErrorActionPreference='Stop'; `$PSStyle.OutputRendering='PlainText'; Import-Module '$(Get-FleModulePath)'; Set-Location '$WorkingDirectory'; $Script"
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($full))
    & $env:FLE_PWSH -NoProfile -NonInteractive -EncodedCommand $encoded
}

function Start-FleChildPwsh {
    <#
    Run -Script in a pwsh of its own with the module imported, the way a user's script runs: SIGINT at its default
    (Ctrl+C; a shell that started the tests in the background may have passed it down ignored) and every file it writes
    capped at -MaxFileMB (RLIMIT_FSIZE, so a runaway writer cannot fill the disk). Returns the Process with OutFile and
    ErrFile. Needs python3 for those two settings (the machine's default interpreter).
    #>
    param([Parameter(Mandatory)] [string] $Script, [Parameter(Mandatory)] [string] $Directory, [int] $MaxFileMB = 256)
    if (-not (Get-Command python3 -ErrorAction SilentlyContinue)) { throw 'python3 is needed to start a bounded child pwsh (RLIMIT_FSIZE, SIGINT).' }
    $name = 'child-' + [guid]::NewGuid().ToString('n').Substring(0, 8)
    $file = Join-Path $Directory "$name.ps1"
    Set-Content -Path $file -Value "`$ErrorActionPreference = 'Stop'; `$PSStyle.OutputRendering = 'PlainText'; Import-Module '$(Get-FleModulePath)'`n$Script"
    $out = Join-Path $Directory "$name.out"; $err = Join-Path $Directory "$name.err"
    $launcher = 'import os,resource,signal,sys; n=int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_FSIZE,(n,n)); signal.signal(signal.SIGINT,signal.SIG_DFL); os.execv(sys.argv[2],sys.argv[2:])'
    $argv = @('-c', "`"$launcher`"", "$([long]$MaxFileMB * 1MB)", $env:FLE_PWSH, '-NoProfile', '-NonInteractive', '-File', $file)
    $p = Start-Process -FilePath (Get-Command python3).Source -ArgumentList $argv -RedirectStandardOutput $out -RedirectStandardError $err -PassThru
    $p | Add-Member -NotePropertyMembers @{ OutFile = $out; ErrFile = $err } -PassThru
}

function Wait-FleFileLine {
    # Wait until a line matching -Pattern is in -Path (or the process ended, or -TimeoutSeconds passed).
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [string] $Pattern, $Process, [double] $TimeoutSeconds = 120)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        if ((Test-Path $Path) -and (Select-String -Path $Path -Pattern $Pattern -Quiet)) { return $true }
        if ($Process -and $Process.HasExited) { break }
        Start-Sleep -Milliseconds 50
    }
    (Test-Path $Path) -and (Select-String -Path $Path -Pattern $Pattern -Quiet)
}

Export-ModuleMember -Function *
