namespace PaliGemma.Pipeline.Data.Migrations;

/// <summary>
/// The current_results view, identical SQL on both providers: per (uri, page, model, task) the latest
/// (updated_at, then id) result that is not superseded. Results of older ETags are superseded by the producer,
/// so "latest" only breaks ties between rows that are all still current.
/// </summary>
internal static class CurrentResultsView
{
    /// <summary>The view as the initial migration created it, before results had pages; only migrations use it.</summary>
    public static readonly string CreateBeforePages = View(string.Empty);

    /// <summary>The view since results have pages: each page of a document is current on its own.</summary>
    public static readonly string Create = View("n.page = r.page AND ");

    public const string Drop = "DROP VIEW current_results;";

    private static string View(string samePage) => $"""
        CREATE VIEW current_results AS
        SELECT r.* FROM results r
        WHERE r.superseded = FALSE
          AND NOT EXISTS (
            SELECT 1 FROM results n
            WHERE n.uri = r.uri AND {samePage}n.model = r.model AND n.task = r.task AND n.superseded = FALSE
              AND (n.updated_at > r.updated_at OR (n.updated_at = r.updated_at AND n.id > r.id)));
        """;
}
