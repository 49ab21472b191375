using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>What to import and how to report.</summary>
public sealed class FleProgramImportOptions
{
    /// <summary>FLE's SQLite file (one of this and <see cref="ConnectionString"/>).</summary>
    public string? SqlitePath { get; init; }

    /// <summary>An Npgsql connection string to FLE's PostgreSQL database.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Asked once per run before its first write; null imports everything.</summary>
    public Func<FleProgramRun, FleImportDecision>? Decide { get; init; }

    public IProgress<FleProgramImportProgress>? Progress { get; init; }

    /// <summary>Called for every row that is not imported, as it is met.</summary>
    public Action<FleSkippedProgramRow>? RowSkipped { get; init; }

    /// <summary>Called for a row that is imported with a caveat (a JSON column that is not JSON, kept as text).</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>
/// Imports FLE's <c>programs</c> table (one row per agent step) into a Fle database. See the README section
/// "Importing FLE's programs table" for the mapping. Two forward-only passes over the source: the first reads the small
/// columns of every row (version, instance, created_at, id order) and finds each run (<see cref="ProgramRunPlan"/>),
/// the trees FLE's search algorithms recorded in parent_id, as trajectories and forks with their ids and step numbers
/// (<see cref="ProgramTree"/>), and where earlier imports put their rows (<see cref="ProgramPlacement"/>); the second
/// reads, trajectory by trajectory, the rows not imported yet, a query per 128 ids, one row at a time, and writes each
/// trajectory through the bulk import path of Import-FleData (<see cref="ProgramTrajectoryImport"/>), a fork after the
/// trajectory it reads through. Memory does not grow with the size of the rows: a row at a time, plus a few numbers per
/// row id.
/// </summary>
public static class FleProgramTableImporter
{
    /// <summary>The name-space of the deterministic trajectory ids (UUID version 5, RFC 9562).</summary>
    public static readonly Guid TrajectoryNamespace = new("8f0c3a4e-5b1d-4c6e-9a2f-7e1d0b3c5a69");

    /// <summary>The task id of a run whose version_description has no "type:" line.</summary>
    public const string UnknownTask = "unknown";

    /// <summary>Step-metadata key that holds the source row's id.</summary>
    public const string ProgramIdKey = "program_id";

    public static async Task<FleProgramImportResult> ImportAsync(FleStore target, FleProgramImportOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        await using var source = await ProgramTableSource.OpenAsync(options.SqlitePath, options.ConnectionString, cancellationToken).ConfigureAwait(false);
        var run = new ProgramImport(target, source, options, cancellationToken);
        try
        {
            await run.ExecuteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (ProgramTableSource.IsReadFailure(e))
        {
            throw source.Translate(e);
        }
        return run.Result(clock.Elapsed);
    }

    /// <summary>
    /// The id of a trajectory: a UUIDv5 of "fle-programs/2|&lt;run key&gt;|&lt;id&gt;@&lt;created_at&gt;" of its first row (for
    /// a run of FLE's trajectory runner, the run's first dated row; for a branch of a search tree, its first program), the
    /// run key being its version, process_id and instance (canonical text). It depends on its own rows only: the same in
    /// a copy or a moved file, and after other rows are deleted.
    /// </summary>
    public static string TrajectoryId(string runKey, long firstRowId, DateTime firstCreatedAt)
        => NameUuid(TrajectoryNamespace, $"fle-programs/2|{runKey}|{firstRowId.ToString(CultureInfo.InvariantCulture)}@{FleClock.Truncate(firstCreatedAt).ToString("O", CultureInfo.InvariantCulture)}");

    /// <summary>
    /// The id that earlier releases (up to 0.1.0) gave a run's trajectory: a UUIDv5 of "fle-programs/1|&lt;fingerprint&gt;|&lt;run key&gt;",
    /// the fingerprint being the table's first row ("&lt;id&gt;@&lt;created_at&gt;"). Trajectories with such ids are still found
    /// by their rows (see <see cref="ProgramPlacement"/>); new ones get <see cref="TrajectoryId"/>.
    /// </summary>
    public static string LegacyTrajectoryId(string tableFingerprint, string runKey)
        => NameUuid(TrajectoryNamespace, $"fle-programs/1|{tableFingerprint}|{runKey}");

    /// <summary>RFC 9562 name-based UUID, version 5 (SHA-1), lowercase text.</summary>
    public static string NameUuid(Guid ns, string name)
    {
        var nsBytes = ns.ToByteArray();
        // Guid.ToByteArray is little-endian in its first three fields; the RFC wants network order.
        Array.Reverse(nsBytes, 0, 4); Array.Reverse(nsBytes, 4, 2); Array.Reverse(nsBytes, 6, 2);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[nsBytes.Length + nameBytes.Length];
        nsBytes.CopyTo(input, 0);
        nameBytes.CopyTo(input, nsBytes.Length);
        var hash = SHA1.HashData(input);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        var hex = Convert.ToHexString(hash, 0, 16).ToLowerInvariant();
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..32]}";
    }

    /// <summary>The step number a depth gives under a numbering, or null when it gives no whole, non-negative number.</summary>
    public static long? StepFromDepth(double? depth, FleStepNumbering numbering)
    {
        if (depth is not { } d || !double.IsFinite(d)) return null;
        var s = numbering switch
        {
            FleStepNumbering.Depth => ((d - 1) / 2) + 1,
            FleStepNumbering.HalvedDepth => ((2 * d - 1) / 2) + 1,
            _ => double.NaN,
        };
        if (!double.IsFinite(s) || s < 0 || s != Math.Floor(s) || s > 1e15) return null;
        return (long)s;
    }
}
