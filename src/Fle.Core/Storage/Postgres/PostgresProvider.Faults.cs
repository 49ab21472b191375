using System.Net.Sockets;
using Npgsql;

namespace Fle.Core.Storage.Postgres;

/// <summary>PostgreSQL errors as Fle errors: constraints, authentication, TLS, reachability.</summary>
internal sealed partial class PostgresProvider
{
    public override FleException? Translate(Exception e, string? trajectoryId = null, long? stepNumber = null)
    {
        switch (e)
        {
            case FleException fe:
                return fe;
            case OperationCanceledException:
                return null;
            case PostgresException pe:
                return pe.SqlState switch
                {
                    "23503" when trajectoryId is not null => FleException.TrajectoryNotFound(trajectoryId),
                    "23505" when stepNumber is not null => FleException.StepExists(trajectoryId!, stepNumber.Value),
                    "23505" when trajectoryId is not null && pe.ConstraintName == "trajectories_pkey" => new FleException(FleErrorIds.TrajectoryAlreadyExists,
                        FleErrorKind.AlreadyExists, $"A trajectory with id '{trajectoryId}' already exists.", pe, trajectoryId),
                    "28000" when pe.MessageText.Contains("no pg_hba.conf entry", StringComparison.Ordinal) && pe.MessageText.Contains("no encryption", StringComparison.Ordinal)
                        => PostgresTls.Required(Settings, Location),
                    "28000" when pe.MessageText.Contains("no pg_hba.conf entry", StringComparison.Ordinal) => new FleException(FleErrorIds.AuthenticationFailed,
                        FleErrorKind.AuthenticationError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} has no pg_hba.conf line that lets user '{Settings.Username}' connect to database '{Settings.Database}' from this host " +
                        "(over TLS either). Ask its administrator to add one, or check the user and database names.", null, Location),
                    "28P01" or "28000" => new FleException(FleErrorIds.AuthenticationFailed, FleErrorKind.AuthenticationError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} refused user '{Settings.Username}': the password or the user is wrong ({pe.SqlState}). " +
                        "Check the user and password (SKILLS_DB_USER, SKILLS_DB_PASSWORD or PGPASSFILE).", null, Location),
                    "3D000" => new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} has no database '{Settings.Database}'. Create it (CREATE DATABASE {Settings.Database} OWNER {Settings.Username}) or fix SKILLS_DB_NAME.",
                        null, Location),
                    "42501" => new FleException(FleErrorIds.PathNotWritable, FleErrorKind.PermissionDenied,
                        $"User '{Settings.Username}' lacks a privilege on database '{Settings.Database}' ({pe.MessageText}). Grant it, or connect as the database owner.", null, Location),
                    "57P01" or "57P02" or "57P03" or "08006" or "08001" or "08004" => Unreachable(pe),
                    _ => null,
                };
            case NpgsqlException ne when ne.InnerException is null && ne.Message.Contains("password", StringComparison.OrdinalIgnoreCase):
                // Npgsql: "No password has been provided but the backend requires one".
                return new FleException(FleErrorIds.AuthenticationFailed, FleErrorKind.AuthenticationError,
                    $"PostgreSQL at {Settings.Host}:{Settings.Port} requires a password for user '{Settings.Username}' and none was given. " +
                    "Give it (SKILLS_DB_PASSWORD, a credential), or put it in the file PGPASSFILE names (mode 0600).", null, Location);
            case NpgsqlException { InnerException: System.Security.Authentication.AuthenticationException ae }:
                // The server's certificate was rejected (InitializeAsync finds out why); or the handshake failed otherwise.
                return new FleException(FleErrorIds.TlsCertificateUntrusted, FleErrorKind.ConnectionError,
                    $"The TLS handshake with PostgreSQL at {Settings.Host}:{Settings.Port} failed: {ae.Message} With SslMode {Settings.SslMode}, the server's " +
                    "certificate must be signed by a CA of the root certificate file (SKILLS_DB_SSLROOTCERT) or the system's store, and name the host.", ae, Location);
            case NpgsqlException ne when ne.Message.Contains("No SSL enabled connection", StringComparison.OrdinalIgnoreCase)
                                         || (Settings.SslMode is "Require" or "VerifyCA" or "VerifyFull" && ne.Message.Contains("SSL", StringComparison.OrdinalIgnoreCase)):
                return PostgresTls.NotOffered(Settings, Location, null);
            case NpgsqlException ne:
                return Unreachable(ne);
            case TimeoutException te:
                return Unreachable(te);
            case FileNotFoundException fnf when Settings.Password is null:
                // Npgsql reads the password file PGPASSFILE names; libpq would ignore a missing one, Npgsql throws.
                return new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                    $"PGPASSFILE names the password file '{fnf.FileName}', which does not exist. Create it (mode 0600, lines host:port:database:user:password), " +
                    "unset PGPASSFILE, or give the password another way (SKILLS_DB_PASSWORD, a credential).", null, "PGPASSFILE");
            default:
                return null;
        }
    }

    private FleException Unreachable(Exception e)
    {
        var why = e.InnerException switch
        {
            SocketException se => se.SocketErrorCode.ToString(),
            TimeoutException => $"no answer within {Settings.ConnectTimeoutSeconds} s",
            _ when e is PostgresException pe => pe.MessageText,
            _ when e.Message.Contains("Timeout", StringComparison.OrdinalIgnoreCase) => $"no answer within {Settings.ConnectTimeoutSeconds} s",
            _ => e.Message.TrimEnd('.'),
        };
        return new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
            $"Cannot reach PostgreSQL at {Settings.Host}:{Settings.Port} (database '{Settings.Database}'): {why}. " +
            "Check that the server is running and that SKILLS_DB_HOST and SKILLS_DB_PORT are right; test with psql -h HOST -p PORT -U USER DATABASE.",
            null, Location)
        { RecommendedAction = "Start the PostgreSQL server or fix the host and port." };
    }
}
