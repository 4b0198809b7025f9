namespace PaliGemma.Pipeline.Data.Migrations;

/// <summary>
/// The DocumentPages migration's statements, the same on both providers but for the column types: results, failures
/// and images gain a page (0 = the whole object, so every existing row keeps its meaning and the unique keys stay plain
/// ON CONFLICT targets), results an origin, and the documents table records each archive's page count.
/// </summary>
internal static class DocumentPagesSql
{
    /// <summary>Upgrades a store in place; existing rows get page 0.</summary>
    public static string Up(string integer, string text, string bigint, string uuid, string timestamp) => $"""
        ALTER TABLE results ADD COLUMN page {integer} NOT NULL DEFAULT 0;
        ALTER TABLE results ADD COLUMN origin {text} NULL;
        ALTER TABLE failures ADD COLUMN page {integer} NOT NULL DEFAULT 0;
        ALTER TABLE images ADD COLUMN page {integer} NOT NULL DEFAULT 0;
        DROP INDEX "IX_results_uri_etag_model_task";
        CREATE UNIQUE INDEX "IX_results_uri_etag_page_model_task" ON results (uri, etag, page, model, task);
        DROP INDEX "IX_results_uri_model_task";
        CREATE INDEX "IX_results_uri_page_model_task" ON results (uri, page, model, task);
        DROP INDEX "IX_failures_uri_etag_model_task";
        CREATE UNIQUE INDEX "IX_failures_uri_etag_page_model_task" ON failures (uri, etag, page, model, task);
        DROP INDEX "IX_images_uri_etag";
        CREATE UNIQUE INDEX "IX_images_uri_etag_page" ON images (uri, etag, page);
        CREATE TABLE documents (
          uri {text} NOT NULL,
          etag {text} NOT NULL,
          kind {text} NOT NULL,
          page_count {integer} NULL,
          size {bigint} NOT NULL,
          run_id {uuid} NULL,
          created_at {timestamp} NOT NULL,
          CONSTRAINT "PK_documents" PRIMARY KEY (uri, etag));
        """;

    /// <summary>Back to the schema before pages: the older schema cannot hold pages, so their rows go and whole objects stay.</summary>
    public const string Down = """
        DROP TABLE documents;
        DELETE FROM results WHERE page <> 0;
        DELETE FROM failures WHERE page <> 0;
        DELETE FROM images WHERE page <> 0;
        DROP INDEX "IX_images_uri_etag_page";
        CREATE UNIQUE INDEX "IX_images_uri_etag" ON images (uri, etag);
        DROP INDEX "IX_failures_uri_etag_page_model_task";
        CREATE UNIQUE INDEX "IX_failures_uri_etag_model_task" ON failures (uri, etag, model, task);
        DROP INDEX "IX_results_uri_page_model_task";
        CREATE INDEX "IX_results_uri_model_task" ON results (uri, model, task);
        DROP INDEX "IX_results_uri_etag_page_model_task";
        CREATE UNIQUE INDEX "IX_results_uri_etag_model_task" ON results (uri, etag, model, task);
        ALTER TABLE images DROP COLUMN page;
        ALTER TABLE failures DROP COLUMN page;
        ALTER TABLE results DROP COLUMN origin;
        ALTER TABLE results DROP COLUMN page;
        """;
}
