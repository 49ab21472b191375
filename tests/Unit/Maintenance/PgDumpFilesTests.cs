using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage.Postgres;
using Xunit;

namespace Fle.Tests.Maintenance;

/// <summary>How a plain pg_dump is read and made restorable over an existing database (the real tools run in Pester).</summary>
public sealed class PgDumpFilesTests
{
    [Theory]
    [InlineData("DROP TABLE public.steps;", "DROP TABLE IF EXISTS public.steps;")]
    [InlineData("DROP INDEX public.idx_step_trajectory;", "DROP INDEX IF EXISTS public.idx_step_trajectory;")]
    [InlineData("DROP TABLE IF EXISTS public.steps;", "DROP TABLE IF EXISTS public.steps;")]
    [InlineData("ALTER TABLE ONLY public.steps DROP CONSTRAINT steps_pkey;", "ALTER TABLE IF EXISTS ONLY public.steps DROP CONSTRAINT IF EXISTS steps_pkey;")]
    [InlineData("ALTER TABLE public.steps ALTER COLUMN id DROP DEFAULT;", "ALTER TABLE IF EXISTS public.steps ALTER COLUMN id DROP DEFAULT;")]
    [InlineData("ALTER TABLE IF EXISTS ONLY public.steps DROP CONSTRAINT IF EXISTS steps_pkey;", "ALTER TABLE IF EXISTS ONLY public.steps DROP CONSTRAINT IF EXISTS steps_pkey;")]
    [InlineData("ALTER TABLE ONLY public.steps ADD CONSTRAINT steps_pkey PRIMARY KEY (id);", "ALTER TABLE ONLY public.steps ADD CONSTRAINT steps_pkey PRIMARY KEY (id);")]
    [InlineData("CREATE TABLE public.steps (", "CREATE TABLE public.steps (")]
    public void A_clean_statement_is_made_IF_EXISTS_as_pg_dump_if_exists_writes_it(string line, string expected)
        => Assert.Equal(expected, PgDumpFiles.IfExists(line));

    private static string Dump(bool fle, bool complete, int version = 1, bool clean = false) => string.Join('\n',
        "--", "-- PostgreSQL database dump", "--", "SET statement_timeout = 0;",
        clean ? "DROP TABLE public.trajectories;" : "",
        fle ? "CREATE TABLE public.fle_schema_version (\n    version integer NOT NULL\n);" : "CREATE TABLE public.programs (\n    id integer\n);",
        "ALTER TABLE public.fle_schema_version OWNER TO fle_user;",
        fle ? "CREATE TABLE public.trajectories (\n    id text\n);\nCREATE TABLE public.steps (\n    id bigint\n);\nCREATE TABLE public.game_states (\n    id bigint\n);" : "",
        "COPY public.fle_schema_version (version, description, applied_at) FROM stdin;",
        $"{version}\tfirst\t2026-01-01 00:00:00+00",
        "DROP TABLE this_is_data_not_a_statement",
        "\\.",
        complete ? "--\n-- PostgreSQL database dump complete\n--" : "", "");

    [Fact]
    public async Task A_whole_Fle_dump_passes_its_check_and_its_restore_script_drops_Fle_tables_first_keeps_data_and_drops_owners()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, Dump(fle: true, complete: true, clean: true));
            var c = PgDumpFiles.InspectScript(path);
            Assert.True(c.IsFle);
            Assert.Equal("public", c.Schema);
            Assert.Equal(1, c.SchemaVersion);
            PgDumpFiles.Check(c, path, script: true);

            using var ms = new MemoryStream();
            await PgDumpFiles.WriteRestoreScriptAsync(path, c.Schema!, ms, CancellationToken.None);
            var lines = System.Text.Encoding.UTF8.GetString(ms.ToArray()).Split('\n');
            Assert.StartsWith("DROP TABLE IF EXISTS public.game_states, public.steps, public.state_dictionaries, public.trajectories, public.fle_schema_version CASCADE;", lines[0]);
            Assert.Contains("DROP TABLE IF EXISTS public.trajectories;", lines);
            Assert.DoesNotContain(lines, l => l.Contains("OWNER TO", StringComparison.Ordinal));
            Assert.Contains("DROP TABLE this_is_data_not_a_statement", lines); // COPY data passes unchanged
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(false, true, 1, "not of a Fle database")]
    [InlineData(true, false, 1, "cut short")]
    public async Task A_dump_that_is_not_of_Fle_or_is_cut_short_is_refused(bool fle, bool complete, int version, string why)
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, Dump(fle, complete, version));
            var e = Assert.Throws<FleException>(() => PgDumpFiles.Check(PgDumpFiles.InspectScript(path), path, script: true));
            Assert.Equal(FleErrorIds.RestoreFailed, e.ErrorId);
            Assert.Contains(why, e.Message);
            Assert.Contains("Nothing was changed", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task A_dump_of_a_newer_Fle_is_SchemaTooNew()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, Dump(true, true, version: 99));
            var e = Assert.Throws<FleException>(() => PgDumpFiles.Check(PgDumpFiles.InspectScript(path), path, script: true));
            Assert.Equal(FleErrorIds.SchemaTooNew, e.ErrorId);
        }
        finally { File.Delete(path); }
    }
}

/// <summary>The root certificate setting (SKILLS_DB_SSLROOTCERT, -RootCertificate).</summary>
public sealed class RootCertificateSettingTests
{
    private static FleSettings Resolve(string? root, string cwd) => FleSettingsResolver.Resolve(new FleSettingsOverrides
    {
        WorkingDirectory = cwd,
        Environment = new Dictionary<string, string?>
        {
            ["FLE_DB_TYPE"] = "postgres", ["SKILLS_DB_HOST"] = "db", ["SKILLS_DB_NAME"] = "fle", ["SKILLS_DB_USER"] = "u", ["SKILLS_DB_SSLROOTCERT"] = root,
        },
    });

    [Fact]
    public void A_PEM_file_is_resolved_against_the_working_directory_and_a_missing_or_non_PEM_file_is_ConfigurationInvalid()
    {
        var dir = Directory.CreateTempSubdirectory("fle-root-").FullName;
        try
        {
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test ca", key,
                System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(Path.Combine(dir, "ca.pem"), cert.ExportCertificatePem());
            Assert.Equal(Path.Combine(dir, "ca.pem"), Resolve("ca.pem", dir).SslRootCertificate);
            Assert.Null(Resolve(null, dir).SslRootCertificate);

            var missing = Assert.Throws<FleException>(() => Resolve("nope.pem", dir));
            Assert.Equal(FleErrorIds.ConfigurationInvalid, missing.ErrorId);
            Assert.Contains("does not exist", missing.Message);
            File.WriteAllText(Path.Combine(dir, "junk.pem"), "hello");
            var junk = Assert.Throws<FleException>(() => Resolve("junk.pem", dir));
            Assert.Contains("not a PEM certificate", junk.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
