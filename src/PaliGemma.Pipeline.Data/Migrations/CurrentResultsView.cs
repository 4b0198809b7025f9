namespace PaliGemma.Pipeline.Data.Migrations;

/// <summary>
/// The current_results view, identical SQL on both providers: per (uri, model, task) the latest
/// (updated_at, then id) result that is not superseded. Results of older ETags are superseded by the producer,
/// so "latest" only breaks ties between rows that are all still current.
/// </summary>
internal static class CurrentResultsView
{
    public const string Create = """
        CREATE VIEW current_results AS
        SELECT r.* FROM results r
        WHERE r.superseded = FALSE
          AND NOT EXISTS (
            SELECT 1 FROM results n
            WHERE n.uri = r.uri AND n.model = r.model AND n.task = r.task AND n.superseded = FALSE
              AND (n.updated_at > r.updated_at OR (n.updated_at = r.updated_at AND n.id > r.id)));
        """;

    public const string Drop = "DROP VIEW current_results;";
}
