using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.Core.Transfer;

/// <summary>
/// The database an import writes into, which may still be opening: <see cref="Open"/> starts opening it (connecting,
/// checking or creating the schema) in the background and returns at once, so the source is read meanwhile. The first
/// record imported while the target is still opening has its rows read, checked and queued (a bounded queue) at the
/// same time; the writing starts when the target is ready. Records that come later go straight to
/// <see cref="FleStore.ImportTrajectoryAsync"/>.
/// </summary>
public sealed class FleImportTarget : IAsyncDisposable, IDisposable
{
    private readonly Task<FleStore> _open;
    private readonly bool _owned;
    private int _disposed;

    private FleImportTarget(FleSettings settings, Task<FleStore> open, bool owned)
    {
        Settings = settings;
        _open = open;
        _owned = owned;
    }

    /// <summary>Start opening the database the settings name; the target owns the store (disposing the target closes it).</summary>
    public static FleImportTarget Open(FleSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return new FleImportTarget(settings, Task.Run(() => FleStore.OpenAsync(settings, cancellationToken), cancellationToken), owned: true);
    }

    /// <summary>A store that is open already (not owned: disposing the target leaves it open).</summary>
    public static FleImportTarget For(FleStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new FleImportTarget(store.Settings, Task.FromResult(store), owned: false);
    }

    public FleSettings Settings { get; }
    public FleBackend Backend => Settings.Backend;

    /// <summary>File path or user@host:port/database; never a password.</summary>
    public string Location => Settings.Describe();

    /// <summary>The store, once open (an open that failed throws its error here).</summary>
    public Task<FleStore> GetStoreAsync(CancellationToken cancellationToken = default) => _open.WaitAsync(cancellationToken);

    /// <summary>Import one trajectory (see <see cref="FleStore.ImportTrajectoryAsync"/>), reading it while the target is still opening.</summary>
    public async Task<FleImportItemResult> ImportTrajectoryAsync(FleExportRecord record, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_open.IsCompleted) // open (or failed: then awaiting it throws the open's error)
            return await (await _open.ConfigureAwait(false)).ImportTrajectoryAsync(record, onConflict, progress, cancellationToken).ConfigureAwait(false);
        using var importer = TrajectoryImport.Create(Settings, record, onConflict, progress);
        // Read ahead while the target opens. If the trajectory turns out to exist already (-ConflictAction Skip or
        // Error), what was read is dropped: at most a queue's worth, and only for this first record.
        await using var feed = importer.StartEarly(cancellationToken);
        var store = await _open.WaitAsync(cancellationToken).ConfigureAwait(false);
        return await store.ImportAsync(importer, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !_owned) return;
        FleStore store;
        try { store = await _open.ConfigureAwait(false); }
        catch (Exception) { return; } // the open failed (and was reported) or was cancelled: nothing to close
        await store.DisposeAsync().ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
