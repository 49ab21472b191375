using System.Diagnostics;
using System.Text;
using Fle.Core.Configuration;

namespace Fle.Core.Storage.Postgres;

/// <summary>Runs the PostgreSQL client tools (pg_dump, pg_restore, psql) for a store's settings; the password goes in PGPASSWORD, never on the command line.</summary>
internal static class PgTools
{
    /// <summary>Full path of a PostgreSQL client tool, or null: FLE_PG_BIN, then PATH, then /usr/lib/postgresql/*/bin (newest).</summary>
    public static string? Find(string tool)
    {
        var exe = OperatingSystem.IsWindows() ? tool + ".exe" : tool;
        var dirs = new List<string>();
        if (Environment.GetEnvironmentVariable("FLE_PG_BIN") is { Length: > 0 } bin) dirs.Add(bin);
        dirs.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        if (!OperatingSystem.IsWindows() && Directory.Exists("/usr/lib/postgresql"))
            dirs.AddRange(Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        foreach (var d in dirs)
        {
            var p = Path.Combine(d, exe);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>The connection arguments (no password).</summary>
    public static List<string> ConnectionArgs(FleSettings s, bool databaseFlag = true)
    {
        var a = new List<string> { "-h", s.Host ?? "localhost", "-p", s.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-password" };
        if (!string.IsNullOrEmpty(s.Username)) { a.Add("-U"); a.Add(s.Username); }
        if (databaseFlag && !string.IsNullOrEmpty(s.Database)) { a.Add("-d"); a.Add(s.Database); }
        return a;
    }

    /// <summary>
    /// Run a tool; throws FleException(<paramref name="errorId"/>) with its stderr when it fails. Cancelling kills it.
    /// <paramref name="stdin"/> writes the tool's standard input (closed after); <paramref name="stdout"/> gets each line it prints.
    /// </summary>
    /// <summary>
    /// Writes the tool's standard input. The end of the input is the end of the script: psql with --single-transaction
    /// commits there. So when the writer fails while the tool still reads (the backup file could not be read, a check of
    /// it failed, the run was cancelled), the tool is killed before its input is closed, and nothing it did is committed.
    /// An IOException after the tool has exited is the tool having stopped reading: its exit code and stderr say why.
    /// </summary>
    private static async Task FeedAsync(Process p, Func<Stream, CancellationToken, Task> stdin, string exe, string errorId, string what, FleSettings s,
        CancellationToken ct)
    {
        var input = p.StandardInput.BaseStream;
        try
        {
            await stdin(input, ct).ConfigureAwait(false);
        }
        catch (IOException) when (p.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            // The tool stopped reading.
        }
        catch (Exception e)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            try { input.Dispose(); } catch (IOException) { }
            if (e is OperationCanceledException or FleException) throw;
            throw new FleException(errorId, FleErrorKind.InvalidData,
                $"{what} failed: writing to {Path.GetFileName(exe)} failed ({e.Message}); it was stopped before the end of its input, so nothing was committed.", e, s.Describe());
        }
        try { input.Dispose(); } catch (IOException) { }
    }

    public static async Task RunAsync(string exe, IEnumerable<string> args, FleSettings s, string errorId, string what, CancellationToken ct,
        Func<Stream, CancellationToken, Task>? stdin = null, Action<string>? stdout = null, string? advice = null)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = stdin is not null,
            UseShellExecute = false, CreateNoWindow = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (s.Password is { Length: > 0 } pw) psi.Environment["PGPASSWORD"] = pw;
        else psi.Environment.Remove("PGPASSWORD");
        if (s.SslMode is { } ssl)
            psi.Environment["PGSSLMODE"] = ssl.ToLowerInvariant() switch { "verifyca" => "verify-ca", "verifyfull" => "verify-full", var m => m };
        if (s.SslRootCertificate is { } root) psi.Environment["PGSSLROOTCERT"] = root;
        psi.Environment["PGCONNECT_TIMEOUT"] = s.ConnectTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["PGAPPNAME"] = "Fle";

        using var p = new Process { StartInfo = psi };
        var err = new StringBuilder();
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (err) err.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) stdout?.Invoke(e.Data); };
        try { p.Start(); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new FleException(errorId, FleErrorKind.NotFound, $"Cannot start {exe}: {e.Message}", e, exe);
        }
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        try
        {
            if (stdin is not null) await FeedAsync(p, stdin, exe, errorId, what, s, ct).ConfigureAwait(false);
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            string text;
            lock (err) text = err.ToString().Trim();
            // Blame the connection only when the tool says so (psql exits 2 for a lost connection; libpq's messages name it).
            var unreachable = (Path.GetFileNameWithoutExtension(exe) == "psql" && p.ExitCode == 2)
                || text.Contains("connection to server", StringComparison.OrdinalIgnoreCase) || text.Contains("could not connect", StringComparison.OrdinalIgnoreCase);
            throw new FleException(errorId, unreachable ? FleErrorKind.ConnectionError : FleErrorKind.InvalidData,
                $"{what} failed: {Path.GetFileName(exe)} exited with code {p.ExitCode}: {text}", target: s.Describe())
            {
                RecommendedAction = unreachable || advice is null
                    ? $"Check that the server is reachable (psql -h {s.Host} -p {s.Port} -U {s.Username} {s.Database}) and that the client tools match the server version."
                    : advice,
            };
        }
    }
}
