using System.Data;
using System.Data.Common;
using Dapper;
using Npgsql;

namespace Fle.Core.Storage.Postgres;

/// <summary>
/// Watching a trajectory: LISTEN/NOTIFY. A watch LISTENs on a connection of its own, named <see cref="WatcherName"/>;
/// a save notifies on <see cref="Channel"/> with the trajectory id as payload, from its one write statement, but only
/// while someone watches the database.
/// </summary>
/// <remarks>
/// Why only then: PostgreSQL serialises the commits of every transaction that notifies (a lock on the queue of
/// notifications, held until the commit is flushed), so notifying on every save would cost concurrent writers their
/// group commit (pgbench here, 4 writers of a small insert: about half the commits/s with a pg_notify in each). So once a
/// second a writer's save asks pg_stat_activity, in its statement, whether a watch is connected to this database
/// (<see cref="NotifyMode.IfWatched"/>: notifies only then); until the next look its saves notify (<see
/// cref="NotifyMode.Always"/>) or run the plain statement of before (<see cref="NotifyMode.None"/>) by that answer. A
/// writer therefore notices a new watch within about a second, and a writer of an older Fle never notifies: so a watch
/// also reports a change every <see cref="WatchFallback"/> (one small read).
/// </remarks>
internal sealed partial class PostgresProvider
{
    /// <summary>The channel of a save's notification; the payload is the trajectory id.</summary>
    internal const string Channel = "fle_watch";

    /// <summary>The application_name of a watch's connection: how a writer finds out that someone watches.</summary>
    internal const string WatcherName = "Fle watch";

    /// <summary>How long a writer keeps to its last answer before it asks again whether a watch is connected.</summary>
    private const long LookForWatchersEveryMs = 1000;

    /// <summary>A watch reports a possible change at least this often (writers that do not know of it yet; tests lengthen it).</summary>
    internal TimeSpan WatchFallback { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What a save's statement does about watches.</summary>
    internal enum NotifyMode
    {
        /// <summary>Nothing: the plain statement.</summary>
        None,

        /// <summary>Ask pg_stat_activity whether a watch is connected to this database; notify if so; return the answer.</summary>
        IfWatched,

        /// <summary>Notify (a watch was connected at the last look).</summary>
        Always,
    }

    /// <summary>
    /// The CTEs a notifying write statement starts with: w (is a watch connected?) and n (the notification, sent only
    /// then). n is evaluated from the statement's RETURNING list (<see cref="WatchColumns"/>), so only when the step was
    /// written.
    /// </summary>
    internal static string WatchCtes(NotifyMode mode) => mode switch
    {
        NotifyMode.IfWatched => "w AS (SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = '" +
            WatcherName + "') AS watched), n AS (SELECT pg_notify('" + Channel + "', @t) WHERE (SELECT watched FROM w))",
        NotifyMode.Always => "w AS (SELECT true AS watched), n AS (SELECT pg_notify('" + Channel + "', @t))",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>The columns a notifying write statement returns after its three: whether a watch is connected, notifications sent.</summary>
    internal const string WatchColumns = ", (SELECT watched FROM w), (SELECT count(*) FROM n)";

    private long _lookForWatchersAt; // Environment.TickCount64; 0: the first save looks
    private volatile bool _watched;

    /// <summary>What this save's statement does about watches (see the remarks of this class).</summary>
    private NotifyMode NotifyModeNow() => Environment.TickCount64 >= Volatile.Read(ref _lookForWatchersAt) ? NotifyMode.IfWatched
        : _watched ? NotifyMode.Always : NotifyMode.None;

    /// <summary>What an <see cref="NotifyMode.IfWatched"/> statement found: a watch was connected (or not) when it ran.</summary>
    private void SawWatchers(bool watched)
    {
        _watched = watched;
        Volatile.Write(ref _lookForWatchersAt, Environment.TickCount64 + LookForWatchersEveryMs);
    }

    public override async Task NotifyChangedAsync(DbConnection conn, string trajectoryId, CancellationToken ct)
        => await conn.ExecuteAsync(new CommandDefinition("SELECT pg_notify(@c, @t)", new { c = Channel, t = trajectoryId },
            cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);

    public override async Task<ChangeWatch> WatchAsync(string trajectoryId, CancellationToken ct)
    {
        var watch = new ListenWatch(this, trajectoryId);
        try
        {
            await watch.ListenAsync(ct).ConfigureAwait(false);
            return watch;
        }
        catch
        {
            await watch.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// A connection of its own, not from the pool (LISTEN is session state, and pooled connections go back without a
    /// reset), named <see cref="WatcherName"/>, with TCP keepalives: it may sit idle for hours.
    /// </summary>
    private string ListenConnectionString() => new NpgsqlConnectionStringBuilder(BuildConnectionString(Settings))
    {
        Pooling = false, ApplicationName = WatcherName, KeepAlive = 30,
    }.ConnectionString;

    /// <summary>LISTEN on a connection of the watch; a notification with the trajectory's id is a change.</summary>
    private sealed class ListenWatch(PostgresProvider provider, string trajectoryId) : ChangeWatch
    {
        private NpgsqlConnection? _conn;
        private volatile bool _notified;
        private long _reportedAt = Environment.TickCount64;

        public async Task ListenAsync(CancellationToken ct)
        {
            for (var attempt = 0; ; attempt++)
            {
                var conn = new NpgsqlConnection(provider.ListenConnectionString());
                try
                {
                    await conn.OpenAsync(ct).ConfigureAwait(false);
                    conn.Notification += (_, e) =>
                    {
                        if (e.Channel == Channel && e.Payload == trajectoryId) _notified = true;
                    };
                    await using var cmd = new NpgsqlCommand("LISTEN " + Channel, conn);
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    _conn = conn;
                    return;
                }
                catch (NpgsqlException e) when (IsRetryableConnect(e) && attempt < MaxConnectRetries)
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * (1 << attempt)), ct).ConfigureAwait(false);
                }
                catch
                {
                    await conn.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }

        public override async Task<bool> WaitAsync(TimeSpan maxWait, CancellationToken ct)
        {
            var deadline = Deadline(maxWait);
            var fallback = (long)provider.WatchFallback.TotalMilliseconds;
            while (true)
            {
                if (_conn is null)
                {
                    // The connection broke: listen again; what was saved meanwhile is unknown, so that is a change.
                    await ListenAsync(ct).ConfigureAwait(false);
                    return Reported();
                }
                var now = Environment.TickCount64;
                if (_notified || now - _reportedAt >= fallback) return Reported();
                var until = Math.Min(deadline, _reportedAt + fallback);
                if (until <= now) return false;
                try
                {
                    // A timeout of 0 would mean "forever" to Npgsql: at least 1 ms.
                    await _conn.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(1, until - now)), ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NpgsqlException or IOException or ObjectDisposedException && !ct.IsCancellationRequested)
                {
                    // A server restart, a network drop, idle_session_timeout: listen again on a new connection next time round.
                    await _conn.DisposeAsync().ConfigureAwait(false);
                    _conn = null;
                }
            }
        }

        private bool Reported()
        {
            _notified = false;
            _reportedAt = Environment.TickCount64;
            return true;
        }

        public override async ValueTask DisposeAsync()
        {
            if (_conn is { } conn)
            {
                _conn = null;
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
