# Starts and stops a throwaway PostgreSQL server for the tests and the benchmark.
# It never touches the machine's own cluster: a fresh data folder under the temp folder, a free
# port on 127.0.0.1, a Unix socket in that folder, and everything removed on Stop.
Set-StrictMode -Version Latest

function Find-PgBin {
    $candidates = @()
    if ($env:FLE_PG_BIN) { $candidates += $env:FLE_PG_BIN }
    $candidates += Get-ChildItem -Path '/usr/lib/postgresql/*/bin' -Directory -ErrorAction SilentlyContinue |
        Sort-Object { [int]($_.Parent.Name -replace '\D', '') } -Descending | ForEach-Object FullName
    $onPath = Get-Command pg_ctl -ErrorAction SilentlyContinue
    if ($onPath) { $candidates += Split-Path $onPath.Source }
    foreach ($c in $candidates) { if (Test-Path (Join-Path $c 'initdb')) { return $c } }
    return $null
}

function Get-FreeTcpPort {
    $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop(); $port
}

function Invoke-AsPgUser {
    param([string]$RunAs, [string]$Exe, [string[]]$Arguments)
    if ($RunAs) { $out = & runuser -u $RunAs -- $Exe @Arguments 2>&1 } else { $out = & $Exe @Arguments 2>&1 }
    if ($LASTEXITCODE -ne 0) { throw "$([System.IO.Path]::GetFileName($Exe)) failed (exit $LASTEXITCODE): $($out -join "`n")" }
    $out
}

function Start-FleTestPostgres {
    <#
    .SYNOPSIS
    Start a throwaway PostgreSQL server; returns an object with ConnectionString, Port, DataDir, ... and Stop-FleTestPostgres stops it.
    #>
    [CmdletBinding()]
    param([switch]$Durable)
    $bin = Find-PgBin
    if (-not $bin) { throw 'PostgreSQL server binaries (initdb, pg_ctl) were not found. Install PostgreSQL 15+ (Debian: apt-get install postgresql) or set FLE_PG_BIN.' }
    $isRoot = $IsLinux -and ((& id -u) -eq '0')
    $runAs = if ($isRoot) { 'postgres' } else { $null }
    $dir = Join-Path ([System.IO.Path]::GetTempPath()) ("fle-pg-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
    New-Item -ItemType Directory -Path $dir | Out-Null
    if ($isRoot) { & chown postgres:postgres $dir; & chmod 700 $dir }
    $port = Get-FreeTcpPort
    $data = Join-Path $dir 'data'
    Invoke-AsPgUser $runAs (Join-Path $bin 'initdb') @('-D', $data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync') | Out-Null
    $opts = "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200"
    if (-not $Durable) { $opts += ' -c fsync=off -c full_page_writes=off' }
    Invoke-AsPgUser $runAs (Join-Path $bin 'pg_ctl') @('-D', $data, '-l', (Join-Path $dir 'log'), '-w', '-t', '60', '-o', $opts, 'start') | Out-Null
    $psql = Join-Path $bin 'psql'
    if (-not (Test-Path $psql)) { $psql = (Get-Command psql).Source }
    Invoke-AsPgUser $runAs $psql @('-h', $dir, '-p', "$port", '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q',
        '-c', "CREATE ROLE fle_user LOGIN CREATEDB PASSWORD 'fle123'",
        '-c', 'CREATE DATABASE fle_database OWNER fle_user') | Out-Null
    [pscustomobject]@{
        PSTypeName       = 'Fle.TestPostgres'
        Bin              = $bin
        Dir              = $dir
        DataDir          = $data
        Port             = $port
        Host             = '127.0.0.1'
        Socket           = $dir
        RunAs            = $runAs
        User             = 'fle_user'
        Password         = 'fle123'
        Database         = 'fle_database'
        ConnectionString = "Host=127.0.0.1;Port=$port;Database=fle_database;Username=fle_user;Password=fle123"
    }
}

function New-FleTestCertificates {
    <#
    .SYNOPSIS
    A test certificate authority and a server certificate it signs (for localhost and 127.0.0.1), plus a second,
    unrelated authority, made with openssl in -Directory. Returns the paths.
    #>
    param([Parameter(Mandatory)] [string] $Directory, [string[]] $Names = @('localhost'), [string[]] $Addresses = @('127.0.0.1'))
    if (-not (Get-Command openssl -ErrorAction SilentlyContinue)) { throw 'openssl is needed to make the test certificates (Debian: apt-get install openssl).' }
    New-Item -ItemType Directory -Force -Path $Directory | Out-Null
    function Invoke-OpenSsl([string[]] $a) {
        $out = & openssl @a 2>&1
        if ($LASTEXITCODE -ne 0) { throw "openssl $($a[0]) failed: $($out -join "`n")" }
    }
    $p = @{}
    foreach ($ca in 'ca', 'other-ca') {
        $key = Join-Path $Directory "$ca.key"; $crt = Join-Path $Directory "$ca.crt"
        Invoke-OpenSsl @('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', "/CN=Fle test $ca", '-keyout', $key, '-out', $crt)
        $p[$ca] = $crt
    }
    $san = (@($Names | ForEach-Object { "DNS:$_" }) + @($Addresses | Where-Object { $_ } | ForEach-Object { "IP:$_" })) -join ','
    $ext = Join-Path $Directory 'server.ext'
    Set-Content -Path $ext -Value "subjectAltName=$san`nbasicConstraints=CA:FALSE`nkeyUsage=digitalSignature,keyEncipherment`nextendedKeyUsage=serverAuth"
    $key = Join-Path $Directory 'server.key'; $csr = Join-Path $Directory 'server.csr'; $crt = Join-Path $Directory 'server.crt'
    Invoke-OpenSsl @('req', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$($Names[0])", '-keyout', $key, '-out', $csr)
    Invoke-OpenSsl @('x509', '-req', '-in', $csr, '-CA', (Join-Path $Directory 'ca.crt'), '-CAkey', (Join-Path $Directory 'ca.key'), '-CAcreateserial',
        '-days', '2', '-extfile', $ext, '-out', $crt)
    [pscustomobject]@{ Ca = $p['ca']; OtherCa = $p['other-ca']; ServerCertificate = $crt; ServerKey = $key }
}

function Start-FleTestPostgresTls {
    <#
    .SYNOPSIS
    A throwaway PostgreSQL with ssl=on and a certificate signed by a test CA (New-FleTestCertificates). -HostSslOnly
    makes pg_hba.conf accept TCP clients only over TLS (hostssl), as managed servers do.
    #>
    [CmdletBinding()]
    param([switch] $HostSslOnly)
    $server = Start-FleTestPostgres
    try {
        # Issued for localhost only: connecting to 127.0.0.1 with VerifyFull is a host name mismatch.
        $certs = New-FleTestCertificates -Directory (Join-Path $server.Dir 'certs') -Names localhost -Addresses @()
        foreach ($f in $certs.ServerCertificate, $certs.ServerKey) {
            Copy-Item $f $server.DataDir
            $copy = Join-Path $server.DataDir (Split-Path $f -Leaf)
            if ($server.RunAs) { & chown "$($server.RunAs):$($server.RunAs)" $copy }
            & chmod 600 $copy
        }
        if ($server.RunAs) { & chmod 755 (Join-Path $server.Dir 'certs'); Get-ChildItem (Join-Path $server.Dir 'certs') | ForEach-Object { & chmod 644 $_.FullName } }
        Add-Content (Join-Path $server.DataDir 'postgresql.conf') "ssl = on`nssl_cert_file = 'server.crt'`nssl_key_file = 'server.key'"
        if ($HostSslOnly) {
            $hba = Join-Path $server.DataDir 'pg_hba.conf'
            $lines = Get-Content $hba | Where-Object { $_ -notmatch '^\s*host\s' }
            Set-Content $hba ($lines + 'hostssl all all 127.0.0.1/32 scram-sha-256' + 'hostssl all all ::1/128 scram-sha-256')
        }
        Invoke-AsPgUser $server.RunAs (Join-Path $server.Bin 'pg_ctl') @('-D', $server.DataDir, '-l', (Join-Path $server.Dir 'log'), '-w', '-t', '60', 'restart') | Out-Null
    } catch {
        Stop-FleTestPostgres $server
        throw
    }
    $server | Add-Member -NotePropertyMembers @{ Ca = $certs.Ca; OtherCa = $certs.OtherCa } -PassThru
}

function Stop-FleTestPostgres {
    [CmdletBinding()]
    param([Parameter(Mandatory)] $Server)
    try { Invoke-AsPgUser $Server.RunAs (Join-Path $Server.Bin 'pg_ctl') @('-D', $Server.DataDir, '-m', 'immediate', '-w', 'stop') | Out-Null } catch { Write-Warning $_ }
    Remove-Item -Recurse -Force $Server.Dir -ErrorAction SilentlyContinue
}

function Restart-FleTestPostgres {
    <#
    .SYNOPSIS
    Restart the throwaway server (from Start-FleTestPostgres, or the one FLE_TEST_PG_* describe) with its original options.
    .DESCRIPTION
    pg_ctl restart reuses the options recorded in postmaster.opts (port, socket folder, listen address, fsync...);
    the log goes to the same file, so the server never holds the caller's output pipes open.
    -Mode fast disconnects clients cleanly (57P01); immediate is a server crash, recovered from WAL on start.
    -DownSeconds keeps the server stopped that long before starting it again.
    #>
    [CmdletBinding()]
    param($Server, [ValidateSet('fast', 'immediate')] [string] $Mode = 'fast', [double] $DownSeconds = 0)
    $bin = if ($Server) { $Server.Bin } else { $env:FLE_TEST_PG_BIN }
    $data = if ($Server) { $Server.DataDir } else { $env:FLE_TEST_PG_DATA }
    $runAs = if ($Server) { $Server.RunAs } else { $env:FLE_TEST_PG_RUNAS }
    if (-not $bin -or -not $data) { throw 'No test server to restart: pass -Server or set FLE_TEST_PG_BIN and FLE_TEST_PG_DATA.' }
    $pgCtl = Join-Path $bin 'pg_ctl'
    $log = Join-Path (Split-Path $data) 'log'
    if ($DownSeconds -gt 0) {
        Invoke-AsPgUser $runAs $pgCtl @('-D', $data, '-m', $Mode, '-w', '-t', '60', 'stop') | Out-Null
        Start-Sleep -Milliseconds ([int]($DownSeconds * 1000))
        $opts = (Get-Content (Join-Path $data 'postmaster.opts') -Raw).Trim()
        # postmaster.opts is: <postgres binary> "-D" "<data>" "-p" "<port>" ...; pass everything after -D <data> again.
        $argsText = ($opts -replace '^\S+\s+"-D"\s+"[^"]*"\s*', '') -replace '"', ''
        Invoke-AsPgUser $runAs $pgCtl @('-D', $data, '-l', $log, '-w', '-t', '60', '-o', $argsText, 'start') | Out-Null
    } else {
        Invoke-AsPgUser $runAs $pgCtl @('-D', $data, '-l', $log, '-m', $Mode, '-w', '-t', '60', 'restart') | Out-Null
    }
}

function Set-FleTestPostgresEnvironment {
    # What the xUnit and Pester suites read. FLE_TEST_PG is a full Npgsql connection string.
    param([Parameter(Mandatory)] $Server)
    $env:FLE_TEST_PG = $Server.ConnectionString
    $env:FLE_TEST_PG_HOST = $Server.Host
    $env:FLE_TEST_PG_PORT = "$($Server.Port)"
    $env:FLE_TEST_PG_USER = $Server.User
    $env:FLE_TEST_PG_PASSWORD = $Server.Password
    $env:FLE_TEST_PG_DB = $Server.Database
    $env:FLE_TEST_PG_BIN = $Server.Bin
    $env:FLE_TEST_PG_DATA = $Server.DataDir
    $env:FLE_TEST_PG_SOCKET = $Server.Socket
    $env:FLE_TEST_PG_RUNAS = "$($Server.RunAs)"
}

Export-ModuleMember -Function Start-FleTestPostgres, Start-FleTestPostgresTls, New-FleTestCertificates, Stop-FleTestPostgres, Restart-FleTestPostgres, Set-FleTestPostgresEnvironment
