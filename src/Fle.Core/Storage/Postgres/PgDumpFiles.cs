using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fle.Core.Storage;

namespace Fle.Core.Storage.Postgres;

/// <summary>What a pg_dump holds, as far as Fle cares: its Fle tables, their schema, and the Fle schema version of its data.</summary>
internal sealed class PgDumpContents
{
    public string? Schema { get; private set; }
    public SortedSet<string> FleTables { get; } = new(StringComparer.Ordinal);
    public int? SchemaVersion { get; private set; }
    public bool HasOtherTables { get; private set; }

    /// <summary>The closing comment of a plain dump was read: the file is whole.</summary>
    public bool Complete { get; private set; }

    /// <summary>The tables without which a dump is not a Fle database.</summary>
    public static readonly string[] Required = ["trajectories", "steps", "game_states", "fle_schema_version"];

    /// <summary>Fle's tables, in an order that drops cleanly (with CASCADE any order would).</summary>
    public static readonly string[] All = ["game_states", "steps", "state_dictionaries", "trajectories", "fle_schema_version"];

    public bool IsFle => Required.All(FleTables.Contains);

    private static readonly Regex CreateTable = new(@"^CREATE TABLE (?<schema>""[^""]+""|\w+)\.(?<table>""[^""]+""|\w+) \(", RegexOptions.CultureInvariant);
    private static readonly Regex CopyFrom = new(@"^COPY (?<schema>""[^""]+""|\w+)\.(?<table>""[^""]+""|\w+) \(.*\) FROM stdin;$", RegexOptions.CultureInvariant);
    private string? _copying;

    /// <summary>Read one line of the SQL text of a dump (a plain dump, or what pg_restore -f - prints).</summary>
    public void Read(string line)
    {
        if (_copying is not null)
        {
            if (line == "\\.") _copying = null;
            else if (_copying == "fle_schema_version")
            {
                var tab = line.IndexOf('\t', StringComparison.Ordinal);
                if (int.TryParse(tab < 0 ? line : line[..tab], NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                    SchemaVersion = Math.Max(SchemaVersion ?? 0, v);
            }
            return;
        }
        if (line == "-- PostgreSQL database dump complete") Complete = true;
        if (CopyFrom.Match(line) is { Success: true } copy)
        {
            _copying = copy.Groups["table"].Value;
            return;
        }
        if (CreateTable.Match(line) is { Success: true } create) Table(create.Groups["schema"].Value, create.Groups["table"].Value);
    }

    /// <summary>A table named by the archive's table of contents (pg_restore -l).</summary>
    public void Table(string schema, string table)
    {
        if (All.Contains(table))
        {
            FleTables.Add(table);
            Schema ??= schema;
        }
        else HasOtherTables = true;
    }
}

/// <summary>Plain SQL dumps (pg_dump &gt; backup.sql) and archives (pg_dump -Fc): inspected before a restore, and a plain one made restorable over an existing Fle database.</summary>
internal static partial class PgDumpFiles
{
    private static readonly Encoding Utf8 = new UTF8Encoding(false);

    /// <summary>Read a plain SQL dump line by line.</summary>
    public static PgDumpContents InspectScript(string path)
    {
        var contents = new PgDumpContents();
        using var reader = new StreamReader(path, Utf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        while (reader.ReadLine() is { } line) contents.Read(line);
        return contents;
    }

    /// <summary>The table of contents of an archive (pg_restore -l), then the data of fle_schema_version (pg_restore -a -t).</summary>
    public static async Task<PgDumpContents> InspectArchiveAsync(string exe, string path, Configuration.FleSettings settings, CancellationToken ct)
    {
        var contents = new PgDumpContents();
        await PgTools.RunAsync(exe, ["-l", path], settings, FleErrorIds.RestoreFailed, "Reading the archive's table of contents", ct, stdout: line =>
        {
            // "216; 1259 16385 TABLE public trajectories fle_user"
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 6 && !line.StartsWith(';') && f[3] == "TABLE") lock (contents) contents.Table(f[4], f[5]);
        }).ConfigureAwait(false);
        if (contents.FleTables.Contains("fle_schema_version"))
        {
            await PgTools.RunAsync(exe, ["-a", "-t", "fle_schema_version", "-f", "-", path], settings, FleErrorIds.RestoreFailed,
                "Reading the archive's schema version", ct, stdout: line => { lock (contents) contents.Read(line); }).ConfigureAwait(false);
        }
        return contents;
    }

    /// <summary>
    /// Refuse, before anything changes, a dump that is not of a Fle database or was written by a newer Fle.
    /// </summary>
    public static void Check(PgDumpContents c, string path, bool script)
    {
        if (script && !c.Complete)
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData,
                $"'{path}' is cut short: it lacks pg_dump's last line ('-- PostgreSQL database dump complete'), so restoring it would replace the database " +
                "with part of one. Nothing was changed.", target: path) { RecommendedAction = "Make the dump again, or restore an earlier backup." };
        if (!c.IsFle)
        {
            var missing = PgDumpContents.Required.Where(t => !c.FleTables.Contains(t));
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData,
                $"'{path}' is a PostgreSQL dump, but not of a Fle database: it has no {string.Join(", ", missing)} table. Nothing was changed.",
                target: path) { RecommendedAction = "Restore it with psql or pg_restore yourself, or pick a backup of a Fle database." };
        }
        if (c.SchemaVersion is { } v && v > Schema.CurrentVersion) throw Schema.TooNew(path, v);
    }

    /// <summary>
    /// The script psql runs, in one transaction, to restore a plain dump into a database that may already hold Fle's
    /// tables: first Fle's tables are dropped (IF EXISTS), then the dump follows with its own DROP statements (pg_dump
    /// --clean) made IF EXISTS, as pg_dump --if-exists writes them, and without its OWNER TO statements (as pg_restore
    /// --no-owner), so it restores as the connecting user over an existing database or an empty one. COPY data passes
    /// through unchanged.
    /// </summary>
    public static async Task WriteRestoreScriptAsync(string path, string schema, Stream output, CancellationToken ct)
    {
        await using var w = new StreamWriter(output, Utf8, 1 << 16) { NewLine = "\n" };
        await w.WriteLineAsync($"DROP TABLE IF EXISTS {string.Join(", ", PgDumpContents.All.Select(t => $"{schema}.{t}"))} CASCADE;".AsMemory(), ct).ConfigureAwait(false);
        using var reader = new StreamReader(path, Utf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var copying = false;
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (copying)
            {
                if (line == "\\.") copying = false;
            }
            else if (line.StartsWith("COPY ", StringComparison.Ordinal) && line.EndsWith(" FROM stdin;", StringComparison.Ordinal)) copying = true;
            else if (OwnerTo().IsMatch(line)) continue;
            else line = IfExists(line);
            await w.WriteLineAsync(line.AsMemory(), ct).ConfigureAwait(false);
        }
    }

    [GeneratedRegex(@"^ALTER (TABLE|SEQUENCE|VIEW|MATERIALIZED VIEW|FUNCTION|TYPE|SCHEMA|DOMAIN|EXTENSION) .* OWNER TO .*;$", RegexOptions.CultureInvariant)]
    private static partial Regex OwnerTo();

    [GeneratedRegex(@"^DROP (?<kind>TABLE|INDEX|SEQUENCE|VIEW|MATERIALIZED VIEW|FUNCTION|TYPE|DOMAIN|TRIGGER|RULE|POLICY) (?!IF EXISTS )", RegexOptions.CultureInvariant)]
    private static partial Regex Drop();

    [GeneratedRegex(@"^ALTER TABLE (?<only>ONLY )?(?<table>\S+) (?<rest>DROP CONSTRAINT (?!IF EXISTS )|ALTER COLUMN \S+ DROP DEFAULT)", RegexOptions.CultureInvariant)]
    private static partial Regex AlterDrop();

    /// <summary>A --clean statement of pg_dump as --if-exists writes it; any other line unchanged.</summary>
    internal static string IfExists(string line)
    {
        if (Drop().Match(line) is { Success: true } d)
            return $"DROP {d.Groups["kind"].Value} IF EXISTS {line[d.Length..]}";
        if (AlterDrop().Match(line) is { Success: true } a)
        {
            var rest = a.Groups["rest"].Value.StartsWith("DROP CONSTRAINT", StringComparison.Ordinal) ? "DROP CONSTRAINT IF EXISTS " : a.Groups["rest"].Value;
            return $"ALTER TABLE IF EXISTS {a.Groups["only"].Value}{a.Groups["table"].Value} {rest}{line[a.Length..]}";
        }
        return line;
    }
}
