using System.Data;
using System.Runtime.CompilerServices;
using Dapper;
using Fle.Core.Codec;
using Fle.Core.Configuration;

namespace Fle.Core.Storage;

/// <summary>
/// The storage engine: the same API on every backend. It validates, encodes game states, shapes transactions, reports
/// progress and errors; a <see cref="StorageProvider"/> (Storage/Sqlite, Storage/Postgres) does what its database does
/// differently. Thread-safe: one instance can be shared by several runspaces or threads. Every statement is
/// parameterised. See docs/architecture.md.
/// </summary>
public sealed partial class FleStore : IAsyncDisposable, IDisposable
{
    private bool _disposed;

    private FleStore(StorageProvider provider)
    {
        Provider = provider;
        Codec.RootCandidates = LoadRootCandidates;
        provider.DatabaseReplaced = ForgetEverything;
    }

    /// <summary>Open (and create or upgrade the schema of) the database the settings name.</summary>
    public static async Task<FleStore> OpenAsync(FleSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var store = new FleStore(StorageProviders.Create(settings));
        try
        {
            await store.RunAsync(async ct => { await store.Provider.InitializeAsync(ct).ConfigureAwait(false); return 0; }, null, null, cancellationToken)
                .ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>True when opening this database reaches no server and creates nothing (an existing local file): cheap enough for tab completion.</summary>
    public static bool OpensQuietly(FleSettings settings) => StorageProviders.OpensQuietly(settings);

    /// <summary>Resolve settings from the sources (parameters &gt; environment &gt; .env) and open.</summary>
    public static Task<FleStore> OpenAsync(FleSettingsOverrides? overrides = null, CancellationToken cancellationToken = default)
        => OpenAsync(FleSettingsResolver.Resolve(overrides), cancellationToken);

    internal StorageProvider Provider { get; }

    public FleSettings Settings => Provider.Settings;
    public FleBackend Backend => Provider.Backend;

    /// <summary>File path or user@host:port/database; never a password.</summary>
    public string Location => Provider.Location;

    /// <summary>Schema version of the open database.</summary>
    public int SchemaVersion => Provider.SchemaVersion;

    internal StateCodec Codec { get; } = new();

    private SqlText Sql => Provider.Dialect.Text;

    public override string ToString() => $"{Backend} {Location}";

    // ------------------------------------------------------------------ trajectories

    /// <summary>create_trajectory(task_id, metadata): a new running trajectory.</summary>
    public Task<FleTrajectory> CreateTrajectoryAsync(string taskId, IEnumerable<KeyValuePair<string, object?>>? metadata = null,
        string? id = null, CancellationToken cancellationToken = default)
        => CreateTrajectoryAsync(taskId, FleJson.Serialize(metadata), id, null, cancellationToken);

    /// <summary>Create a trajectory with metadata given as a JSON object text and an optional start time.</summary>
    public Task<FleTrajectory> CreateTrajectoryAsync(string taskId, string? metadataJson, string? id,
        DateTime? startTime, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(taskId, "task id");
        if (id is not null) FleIds.Validate(id);
        return InsertTrajectoryAsync(taskId, FleJson.NormalizeObject(metadataJson), id, startTime, null, null, cancellationToken);
    }

    /// <summary>Insert a new running trajectory (a fork when <paramref name="parentId"/> is given).</summary>
    private async Task<FleTrajectory> InsertTrajectoryAsync(string taskId, string meta, string? id, DateTime? startTime, string? parentId, long? forkStepNumber,
        CancellationToken cancellationToken)
    {
        var trajectoryId = id ?? FleIds.NewTrajectoryId();
        var start = startTime is { } s ? FleClock.Truncate(s) : FleClock.UtcNow();
        await DbAsync(async (conn, ct) =>
        {
            try
            {
                return await conn.ExecuteAsync(Cmd(Sql.InsertTrajectory, new
                {
                    id = trajectoryId, task_id = taskId, start_time = Provider.TimeParameter(start), metadata = meta,
                    parent_id = parentId, fork_step_number = forkStepNumber,
                }, ct)).ConfigureAwait(false);
            }
            catch (Exception e) when (id is null && Provider.Translate(e, trajectoryId) is { ErrorId: FleErrorIds.TrajectoryAlreadyExists })
            {
                // The id is new and random: a row with it can only be this call's own insert, committed by an attempt
                // whose connection broke before the answer arrived (RunAsync retried it).
                return 0;
            }
            catch (Exception e) when (parentId is not null && Provider.Translate(e, parentId) is { ErrorId: FleErrorIds.TrajectoryNotFound } gone)
            {
                throw gone; // the parent was removed meanwhile
            }
        }, id ?? trajectoryId, cancellationToken).ConfigureAwait(false);
        return new FleTrajectory
        {
            Id = trajectoryId, TaskId = taskId, Status = FleTrajectoryStatus.Running, StartTime = start,
            MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), StepCount = 0, Source = Location, ParentId = parentId, ForkStepNumber = forkStepNumber,
        };
    }

    /// <summary>get_trajectory(id): the trajectory, or null.</summary>
    public async Task<FleTrajectory?> GetTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        await foreach (var t in QueryTrajectoriesAsync(new FleTrajectoryQuery { Ids = [id] }, cancellationToken).ConfigureAwait(false))
            return t;
        return null;
    }

    /// <summary>get_all_trajectories(): newest first.</summary>
    public Task<List<FleTrajectory>> GetAllTrajectoriesAsync(CancellationToken cancellationToken = default)
        => ToListAsync(QueryTrajectoriesAsync(new FleTrajectoryQuery(), cancellationToken));

    /// <summary>get_task_trajectories(task_id): newest first.</summary>
    public Task<List<FleTrajectory>> GetTaskTrajectoriesAsync(string taskId, CancellationToken cancellationToken = default)
        => ToListAsync(QueryTrajectoriesAsync(new FleTrajectoryQuery { TaskId = taskId }, cancellationToken));

    /// <summary>Trajectories matching a filter, newest first, streamed.</summary>
    public async IAsyncEnumerable<FleTrajectory> QueryTrajectoriesAsync(FleTrajectoryQuery query,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(query);
        if (query.Ids is { Count: 0 }) yield break;
        var ps = new List<(string, object?)>();
        var where = new List<string>();
        if (query.Ids is { } ids)
        {
            var names = new List<string>();
            for (var i = 0; i < ids.Count; i++)
            {
                names.Add($"@id{i}");
                ps.Add(($"@id{i}", ids[i]));
            }
            where.Add($"t.id IN ({string.Join(", ", names)})");
        }
        if (query.TaskId is not null) { where.Add("t.task_id = @task"); ps.Add(("@task", query.TaskId)); }
        if (query.Status is { } st) { where.Add("t.status = @status"); ps.Add(("@status", StatusText(st))); }
        if (query.After is { } a) { where.Add("t.start_time >= @after"); ps.Add(("@after", Provider.TimeParameter(FleClock.Truncate(a)))); }
        if (query.Before is { } b) { where.Add("t.start_time < @before"); ps.Add(("@before", Provider.TimeParameter(FleClock.Truncate(b)))); }
        if (query.EndedBefore is { } eb) { where.Add("t.end_time IS NOT NULL AND t.end_time < @ended"); ps.Add(("@ended", Provider.TimeParameter(FleClock.Truncate(eb)))); }
        if (query.ParentId is not null)
        {
            where.Add(query.Recursive ? $"t.id IN ({SubtreeSql})" : "t.parent_id = @parent");
            ps.Add(("@parent", query.ParentId));
        }
        if (!string.IsNullOrEmpty(query.IdPrefix))
        {
            where.Add(@"t.id LIKE @prefix ESCAPE '\'");
            ps.Add(("@prefix", EscapeLike(query.IdPrefix) + "%"));
        }
        var sql = Sql.SelectTrajectories + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "")
            + " ORDER BY t.start_time DESC, t.id DESC";
        if (query.First is { } first)
        {
            sql += " LIMIT @first";
            ps.Add(("@first", (long)Math.Max(0, first)));
        }
        // Hand-written reader: streams any number of trajectories, one row at a time. A fork's figures count what it inherits.
        await foreach (var t in StreamAsync(sql, ps, CommandBehavior.Default, null, ReadTrajectory, cancellationToken).ConfigureAwait(false))
            yield return t.ParentId is null ? t : await WithInheritedAsync(t, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The trajectories of a query as a list; a long id list is queried in chunks (statement parameter limits).</summary>
    public async Task<List<FleTrajectory>> ListTrajectoriesAsync(FleTrajectoryQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var all = new List<FleTrajectory>();
        foreach (var chunk in query.Chunks())
            all.AddRange(await ToListAsync(QueryTrajectoriesAsync(chunk, cancellationToken)).ConfigureAwait(false));
        return all;
    }

    /// <summary>Task ids that begin with a prefix (for completion), at most <paramref name="limit"/>.</summary>
    public async Task<List<string>> GetTaskIdsAsync(string? prefix, int limit = 100, CancellationToken cancellationToken = default)
        => (await DbAsync((conn, ct) => conn.QueryAsync<string>(Cmd(
            @"SELECT DISTINCT task_id FROM trajectories WHERE task_id LIKE @p ESCAPE '\' ORDER BY task_id LIMIT @n",
            new { p = EscapeLike(prefix ?? "") + "%", n = (long)limit }, ct)), null, cancellationToken).ConfigureAwait(false)).ToList();

    /// <summary>trajectory_exists(id).</summary>
    public async Task<bool> TrajectoryExistsAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        return await DbAsync((conn, ct) => conn.ExecuteScalarAsync<long?>(Cmd("SELECT 1 FROM trajectories WHERE id = @id", new { id }, ct)),
            id, cancellationToken).ConfigureAwait(false) is not null;
    }

    /// <summary>delete_trajectory(id): removes it with its steps and states. False when it did not exist; FleTrajectoryHasForks when it has forks.</summary>
    public Task<bool> DeleteTrajectoryAsync(string id, CancellationToken cancellationToken) => DeleteTrajectoryAsync(id, false, cancellationToken);

    /// <summary>
    /// delete_trajectory(id): removes it with its steps and states. False when it did not exist. A trajectory with forks
    /// is FleTrajectoryHasForks, unless <paramref name="recurse"/> removes its whole subtree with it (one transaction).
    /// </summary>
    public async Task<bool> DeleteTrajectoryAsync(string id, bool recurse = false, CancellationToken cancellationToken = default)
        => (await DeleteTrajectoriesAsync(id, recurse, cancellationToken).ConfigureAwait(false)).Count > 0;

    /// <summary>
    /// As <see cref="DeleteTrajectoryAsync(string, bool, CancellationToken)"/>, returning the ids removed: <paramref name="id"/>
    /// first, then its forks (parents before their forks); empty when it did not exist.
    /// </summary>
    public async Task<IReadOnlyList<string>> DeleteTrajectoriesAsync(string id, bool recurse = false, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        var subtree = await SubtreeAsync(id, cancellationToken).ConfigureAwait(false);
        if (subtree.Count > 0 && !recurse)
            throw HasForks(id, $"{subtree.Count} trajectory(ies) read steps through it (first: '{subtree[0]}'). Remove its subtree with it, or remove the forks first");
        var removed = await DbAsync(async (conn, ct) =>
        {
            try
            {
                // One statement: the foreign keys are checked at its end, when the whole subtree is gone.
                return (await conn.QueryAsync<string>(Cmd(recurse ? $"DELETE FROM trajectories WHERE id = @parent OR id IN ({SubtreeSql}) RETURNING id" : "DELETE FROM trajectories WHERE id = @parent RETURNING id",
                    new { parent = id }, ct)).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
            }
            catch (Exception e) when (Provider.Translate(e, id) is { ErrorId: FleErrorIds.TrajectoryNotFound })
            {
                throw HasForks(id, "a fork of it was created meanwhile"); // the foreign key of a fork refused the delete
            }
        }, id, cancellationToken).ConfigureAwait(false);
        foreach (var gone in subtree.Append(id).Concat(removed)) Codec.Forget(gone);
        ForgetLineage(subtree.Append(id).Concat(removed));
        // the given id, then the subtree in the order it was listed, then forks created meanwhile (removed with it)
        var ordered = new[] { id }.Concat(subtree).Where(removed.Contains).ToList();
        ordered.AddRange(removed.Except(ordered, StringComparer.Ordinal).Order(StringComparer.Ordinal));
        return ordered;
    }

    /// <summary>Mark a trajectory completed or failed and set its end time.</summary>
    public Task<FleTrajectory> CompleteTrajectoryAsync(string id, FleTrajectoryStatus status = FleTrajectoryStatus.Completed,
        CancellationToken cancellationToken = default)
    {
        if (status == FleTrajectoryStatus.Running)
            throw FleException.InvalidArgument("A trajectory is completed with status Completed or Failed; resuming marks it running again.");
        return SetStatusAsync(id, status, FleClock.UtcNow(), cancellationToken);
    }

    /// <summary>Mark a trajectory running again (end time cleared) and return it with its latest checkpoint.</summary>
    public async Task<(FleTrajectory Trajectory, FleCheckpoint? Latest)> ResumeTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        var t = await SetStatusAsync(id, FleTrajectoryStatus.Running, null, cancellationToken).ConfigureAwait(false);
        var latest = await GetLatestCheckpointAsync(id, cancellationToken).ConfigureAwait(false);
        return (t, latest);
    }

    private async Task<FleTrajectory> SetStatusAsync(string id, FleTrajectoryStatus status, DateTime? end, CancellationToken cancellationToken)
    {
        FleIds.Validate(id);
        var n = await DbAsync(async (conn, ct) =>
        {
            var rows = await conn.ExecuteAsync(Cmd("UPDATE trajectories SET status = @status, end_time = @end WHERE id = @id",
                new { status = StatusText(status), end = end is { } e ? Provider.TimeParameter(e) : null, id }, ct)).ConfigureAwait(false);
            if (rows > 0) await Provider.NotifyChangedAsync(conn, id, ct).ConfigureAwait(false); // a watch of it ends now
            return rows;
        }, id, cancellationToken).ConfigureAwait(false);
        if (n == 0) throw FleException.TrajectoryNotFound(id);
        return await GetTrajectoryAsync(id, cancellationToken).ConfigureAwait(false) ?? throw FleException.TrajectoryNotFound(id);
    }

    private FleTrajectory ReadTrajectory(System.Data.Common.DbDataReader r)
    {
        var meta = r.GetString(5);
        return new FleTrajectory
        {
            Id = r.GetString(0), TaskId = r.GetString(1), StartTime = Provider.ReadTime(r, 2),
            EndTime = r.IsDBNull(3) ? null : Provider.ReadTime(r, 3), Status = ParseStatus(r.GetString(4)),
            MetadataJson = meta, Metadata = FleJson.ToDictionary(meta),
            StepCount = Convert.ToInt64(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture),
            OwnStepCount = Convert.ToInt64(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture),
            LastStepNumber = r.IsDBNull(7) ? null : Convert.ToInt64(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
            ParentId = r.IsDBNull(8) ? null : r.GetString(8),
            ForkStepNumber = r.IsDBNull(9) ? null : Convert.ToInt64(r.GetValue(9), System.Globalization.CultureInfo.InvariantCulture),
            Source = Location,
        };
    }

    internal static string StatusText(FleTrajectoryStatus s) => s switch
    {
        FleTrajectoryStatus.Running => "running",
        FleTrajectoryStatus.Completed => "completed",
        FleTrajectoryStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    internal static FleTrajectoryStatus ParseStatus(string s) => s switch
    {
        "running" => FleTrajectoryStatus.Running,
        "completed" => FleTrajectoryStatus.Completed,
        "failed" => FleTrajectoryStatus.Failed,
        _ => throw new FleException(FleErrorIds.CorruptState, FleErrorKind.InvalidData, $"Unknown trajectory status '{s}' in the database."),
    };

    internal static string EscapeLike(string s) => s.Replace(@"\", @"\\", StringComparison.Ordinal)
        .Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    /// <summary>Collect an async sequence.</summary>
    public static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var x in source.ConfigureAwait(false)) list.Add(x);
        return list;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        Codec.Dispose();
        await Provider.DisposeAsync().ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
