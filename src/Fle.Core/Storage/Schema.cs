namespace Fle.Core.Storage;

/// <summary>
/// The schema, as ordered forward migrations per backend (each provider holds its own: SqliteSchema, PostgresSchema). Version N is reached by applying every
/// migration up to N in one transaction; the version table records each. A later release appends
/// migrations and never edits old ones, so files written by an earlier release upgrade in place.
/// </summary>
internal static class Schema
{
    /// <summary>The newest schema version this release knows.</summary>
    public const int CurrentVersion = 2;

    public sealed record Migration(int Version, string Description, string[] Statements);

    public static Exception TooNew(string location, int found) => new FleException(FleErrorIds.SchemaTooNew, FleErrorKind.NotSupported,
        $"The database at {location} has schema version {found}, but this Fle module knows versions up to {CurrentVersion}. " +
        "It was written by a newer Fle; update the module (Update-Module Fle) rather than use this one, which could damage it.",
        target: location)
    { RecommendedAction = "Update the Fle module to a release that knows this schema version." };
}
