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

Export-ModuleMember -Function *
