using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fle.Core.Configuration;

namespace Fle.Core.Storage.Postgres;

/// <summary>
/// Why a TLS connection to PostgreSQL failed, said the way a user can act on it. Npgsql reports a rejected server
/// certificate only as "rejected by the validation callback"; after such a failure Fle opens one TLS handshake of its own
/// (PostgreSQL's SSLRequest, then TLS with the same trust: the root certificate file, else the system's store) to see
/// whether the chain or the host name was wrong, and what the certificate names. No password is sent or shown.
/// </summary>
internal static class PostgresTls
{
    /// <summary>What the failing handshake found.</summary>
    internal sealed record Finding(bool Offered, bool NameMismatch, X509ChainStatusFlags Chain, IReadOnlyList<string> Names, string? Issuer, string? Error);

    /// <summary>The error for a handshake Npgsql gave up on, refined by a probe of the server (best effort: on any failure the generic message).</summary>
    public static async Task<FleException> DiagnoseAsync(FleSettings s, string location, Exception? inner, CancellationToken ct)
    {
        Finding? f = null;
        try
        {
            f = await ProbeAsync(s.Host ?? "localhost", s.Port, s.SslRootCertificate, s.ConnectTimeoutSeconds, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException or OperationCanceledException or CryptographicException or System.Security.Authentication.AuthenticationException)
        {
            // The probe itself failed: fall back to what Npgsql said.
        }
        var mode = s.SslMode ?? "VerifyFull";
        var trust = s.SslRootCertificate is { } root ? $"the root certificate file '{root}'" : "the system's trusted certificate authorities (no root certificate file was given)";
        var where = $"PostgreSQL at {s.Host}:{s.Port}";
        if (f is { Offered: false })
            return NotOffered(s, location, null);
        if (f is { NameMismatch: true } && f.Chain == X509ChainStatusFlags.NoError)
        {
            var names = f.Names.Count > 0 ? string.Join(", ", f.Names) : "(no names)";
            return new FleException(FleErrorIds.TlsHostNameMismatch, FleErrorKind.ConnectionError,
                $"The TLS certificate of {where} is trusted but was issued for {names}, not for '{s.Host}', and SslMode {mode} checks the host name. " +
                $"Connect with a name the certificate holds, or use SslMode VerifyCA, which checks only the issuer.",
                null, location) { RecommendedAction = $"Connect to one of: {names}." };
        }
        var chain = f is null ? "" : f.Chain == X509ChainStatusFlags.NoError ? "" : $" ({f.Chain})";
        var issuer = f?.Issuer is { } i ? $" It was issued by '{i}'." : "";
        return new FleException(FleErrorIds.TlsCertificateUntrusted, FleErrorKind.ConnectionError,
            $"The TLS certificate of {where} is not signed by an authority Fle trusts{chain}: SslMode {mode} checks it against {trust}.{issuer} " +
            "Give the server's CA certificate or bundle as the root certificate file (SKILLS_DB_SSLROOTCERT; managed services publish theirs), " +
            "or, on a network you trust, use SslMode Require (encrypted, not verified).",
            f is null ? inner : null, location)
        { RecommendedAction = "Give the server's CA bundle as the root certificate (SKILLS_DB_SSLROOTCERT) with SslMode VerifyFull." };
    }

    /// <summary>The server answered the SSL request with 'N': it has ssl=off, or no certificate.</summary>
    public static FleException NotOffered(FleSettings s, string location, Exception? inner) => new(FleErrorIds.TlsNotOffered, FleErrorKind.ConnectionError,
        $"PostgreSQL at {s.Host}:{s.Port} does not offer TLS (ssl is off on the server), and SslMode {s.SslMode} requires it, so Fle did not connect. " +
        "Turn ssl on in the server's postgresql.conf (with a certificate), or, on a network you trust, use SslMode Prefer or Disable.",
        inner, location) { RecommendedAction = "Enable ssl on the server, or choose a weaker SslMode." };

    /// <summary>pg_hba.conf has no line for an unencrypted connection of this user from this host (hostssl only).</summary>
    public static FleException Required(FleSettings s, string location) => new(FleErrorIds.TlsRequired, FleErrorKind.ConnectionError,
        $"PostgreSQL at {s.Host}:{s.Port} accepts user '{s.Username}' on database '{s.Database}' from this host only over TLS (its pg_hba.conf has no " +
        $"unencrypted 'host' line for it), and SslMode {s.SslMode ?? "Prefer"} connected without TLS. Use SslMode Require, or VerifyFull with the server's CA as the root certificate.",
        null, location) { RecommendedAction = "Connect with SslMode VerifyFull and the server's CA as the root certificate (or SslMode Require)." };

    /// <summary>PostgreSQL's SSLRequest, then a TLS handshake that records what it found and always ends it.</summary>
    private static async Task<Finding> ProbeAsync(string host, int port, string? rootFile, int timeoutSeconds, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, timeoutSeconds)));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
        var stream = tcp.GetStream();
        var request = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(request, 8);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
        await stream.WriteAsync(request, timeout.Token).ConfigureAwait(false);
        var answer = new byte[1];
        if (await stream.ReadAsync(answer, timeout.Token).ConfigureAwait(false) != 1 || answer[0] != (byte)'S')
            return new Finding(false, false, X509ChainStatusFlags.NoError, [], null, null);

        X509Certificate2Collection? roots = null;
        if (rootFile is not null)
        {
            roots = [];
            roots.ImportFromPemFile(rootFile);
        }
        var nameMismatch = false;
        var chainFlags = X509ChainStatusFlags.NoError;
        var names = new List<string>();
        string? issuer = null;
        await using var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            RemoteCertificateValidationCallback = (_, cert, _, errors) =>
            {
                if (cert is null) return false;
                using var c = new X509Certificate2(cert);
                issuer = c.Issuer;
                nameMismatch = errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch);
                names.AddRange(Names(c));
                using var chain = new X509Chain();
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                if (roots is not null)
                {
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                }
                if (!chain.Build(c))
                    foreach (var st in chain.ChainStatus) chainFlags |= st.Status;
                return false; // only looking: the probe never completes a session
            },
        };
        try
        {
            await ssl.AuthenticateAsClientAsync(options, timeout.Token).ConfigureAwait(false);
        }
        catch (System.Security.Authentication.AuthenticationException)
        {
            // Expected: the callback refused.
        }
        return new Finding(true, nameMismatch, chainFlags, names, issuer, null);
    }

    private static IEnumerable<string> Names(X509Certificate2 c)
    {
        var any = false;
        foreach (var ext in c.Extensions)
        {
            if (ext is not X509SubjectAlternativeNameExtension san) continue;
            foreach (var d in san.EnumerateDnsNames()) { any = true; yield return d; }
            foreach (var ip in san.EnumerateIPAddresses()) { any = true; yield return ip.ToString(); }
        }
        if (!any && c.GetNameInfo(X509NameType.DnsName, false) is { Length: > 0 } cn) yield return cn;
    }
}
