using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Sqlite
{
    /// <summary>
    /// Document archives: results, failures and images gain a page (0 = the whole object, so every existing row keeps
    /// its meaning and the unique keys stay plain ON CONFLICT targets), results an origin, and the documents table
    /// records each archive's page count. Upgrades a store in place. The current_results view is recreated to partition
    /// by page (SQLite keeps the view's text, so only the partition changes).
    /// </summary>
    [DbContext(typeof(SqlitePipelineDbContext))]
    [Migration("20261220010001_DocumentPages")]
    public partial class DocumentPages : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql("""
                ALTER TABLE results ADD COLUMN page INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE results ADD COLUMN origin TEXT NULL;
                ALTER TABLE failures ADD COLUMN page INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE images ADD COLUMN page INTEGER NOT NULL DEFAULT 0;
                DROP INDEX "IX_results_uri_etag_model_task";
                CREATE UNIQUE INDEX "IX_results_uri_etag_page_model_task" ON results (uri, etag, page, model, task);
                DROP INDEX "IX_results_uri_model_task";
                CREATE INDEX "IX_results_uri_page_model_task" ON results (uri, page, model, task);
                DROP INDEX "IX_failures_uri_etag_model_task";
                CREATE UNIQUE INDEX "IX_failures_uri_etag_page_model_task" ON failures (uri, etag, page, model, task);
                DROP INDEX "IX_images_uri_etag";
                CREATE UNIQUE INDEX "IX_images_uri_etag_page" ON images (uri, etag, page);
                CREATE TABLE documents (
                  uri TEXT NOT NULL,
                  etag TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  page_count INTEGER NULL,
                  size INTEGER NOT NULL,
                  run_id TEXT NULL,
                  created_at TEXT NOT NULL,
                  CONSTRAINT "PK_documents" PRIMARY KEY (uri, etag));
                """);
            migrationBuilder.Sql(CurrentResultsView.Create);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // The older schema cannot hold pages: their rows go, whole objects stay.
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql("""
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
                """);
            migrationBuilder.Sql(CurrentResultsView.CreateBeforePages);
        }
    }
}
