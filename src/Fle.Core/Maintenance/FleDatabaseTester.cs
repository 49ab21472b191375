using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.Core.Maintenance;

/// <summary>The spec's Troubleshooting section as checks: before opening (file, folder, server) and then on the open database.</summary>
public static class FleDatabaseTester
{
    /// <summary>
    /// Check the database the settings name. With <paramref name="store"/> null a store is opened for the checks (and closed);
    /// a missing SQLite file is reported, never created.
    /// </summary>
    public static async Task<List<FleDatabaseCheck>> RunAsync(FleSettings settings, FleStore? store, bool deep, IProgress<FleProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var checks = new List<FleDatabaseCheck>();
        var location = settings.Describe();
        FleDatabaseCheck C(string name, FleCheckStatus st, string msg, long problems = 0) => new()
        {
            Check = name, Status = st, Message = msg, Problems = problems, Backend = settings.Backend, Location = location,
        };

        // Before anything is opened (a missing SQLite file is reported, never created).
        var provider = store?.Provider ?? StorageProviders.Create(settings);
        try
        {
            if (!provider.CheckBeforeOpen(checks, C)) return checks;
        }
        finally
        {
            if (store is null) await provider.DisposeAsync().ConfigureAwait(false);
        }
        var journalWarned = checks.Any(c => c.Check == "JournalMode" && c.Status == FleCheckStatus.Warning);

        var owned = store is null;
        if (store is null)
        {
            try
            {
                store = await FleStore.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            }
            catch (FleException e)
            {
                checks.Add(C("Connect", FleCheckStatus.Failed, e.Message + provider.ConnectHint, 1));
                return checks;
            }
        }
        try
        {
            checks.Add(C("Connect", FleCheckStatus.Passed, $"Opened the {settings.Backend} database {location}."));
            var more = await store.CheckAsync(deep, progress, cancellationToken).ConfigureAwait(false);
            checks.AddRange(journalWarned ? more.Where(c => c.Check != "JournalMode" || c.Status != FleCheckStatus.Passed) : more);
        }
        catch (FleException e)
        {
            checks.Add(C("Checks", FleCheckStatus.Failed, e.Message, 1));
        }
        finally
        {
            if (owned) await store.DisposeAsync().ConfigureAwait(false);
        }
        return checks;
    }
}
