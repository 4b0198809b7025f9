using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "failures",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    uri = table.Column<string>(type: "TEXT", nullable: false),
                    etag = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", nullable: false),
                    task = table.Column<string>(type: "TEXT", nullable: false),
                    reason_code = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    message = table.Column<string>(type: "TEXT", nullable: true),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_failures", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "images",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    uri = table.Column<string>(type: "TEXT", nullable: false),
                    etag = table.Column<string>(type: "TEXT", nullable: false),
                    width = table.Column<int>(type: "INTEGER", nullable: false),
                    height = table.Column<int>(type: "INTEGER", nullable: false),
                    size = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_images", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "results",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    uri = table.Column<string>(type: "TEXT", nullable: false),
                    etag = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", nullable: false),
                    task = table.Column<string>(type: "TEXT", nullable: false),
                    text = table.Column<string>(type: "TEXT", nullable: true),
                    boxes = table.Column<string>(type: "TEXT", nullable: true),
                    prompt_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    generated_tokens = table.Column<int>(type: "INTEGER", nullable: false),
                    latency_ms = table.Column<double>(type: "REAL", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    superseded = table.Column<bool>(type: "INTEGER", nullable: false),
                    change_seq = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_results", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "runs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    source = table.Column<string>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    tasks = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    last_listed_key = table.Column<string>(type: "TEXT", nullable: true),
                    listing_completed = table.Column<bool>(type: "INTEGER", nullable: false),
                    listed_count = table.Column<long>(type: "INTEGER", nullable: false),
                    enqueued_count = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "run_items",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    uri = table.Column<string>(type: "TEXT", nullable: false),
                    etag = table.Column<string>(type: "TEXT", nullable: false),
                    size = table.Column<long>(type: "INTEGER", nullable: false),
                    enqueued = table.Column<bool>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_run_items", x => new { x.run_id, x.uri });
                    table.ForeignKey(
                        name: "FK_run_items_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_failures_uri_etag_model_task",
                table: "failures",
                columns: new[] { "uri", "etag", "model", "task" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_images_uri_etag",
                table: "images",
                columns: new[] { "uri", "etag" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_results_run_id_updated_at",
                table: "results",
                columns: new[] { "run_id", "updated_at" });

            migrationBuilder.CreateIndex(
                name: "IX_results_uri_etag_model_task",
                table: "results",
                columns: new[] { "uri", "etag", "model", "task" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_results_uri_model_task",
                table: "results",
                columns: new[] { "uri", "model", "task" });

            migrationBuilder.CreateIndex(
                name: "IX_runs_name",
                table: "runs",
                column: "name",
                unique: true);

            // What the shared EF model cannot express, kept in this provider's migration set.
            // FTS5 over results.text as an external-content table (no second copy of the text), kept in sync by
            // triggers; porter stemming to match the english configuration on Postgres.
            migrationBuilder.Sql("CREATE VIRTUAL TABLE results_fts USING fts5(text, content='results', content_rowid='id', tokenize='porter unicode61');");
            migrationBuilder.Sql("CREATE TRIGGER results_fts_ai AFTER INSERT ON results BEGIN INSERT INTO results_fts(rowid, text) VALUES (new.id, new.text); END;");
            migrationBuilder.Sql("CREATE TRIGGER results_fts_ad AFTER DELETE ON results BEGIN INSERT INTO results_fts(results_fts, rowid, text) VALUES ('delete', old.id, old.text); END;");
            migrationBuilder.Sql("CREATE TRIGGER results_fts_au AFTER UPDATE OF text ON results BEGIN INSERT INTO results_fts(results_fts, rowid, text) VALUES ('delete', old.id, old.text); INSERT INTO results_fts(rowid, text) VALUES (new.id, new.text); END;");
            migrationBuilder.Sql(CurrentResultsView.CreateBeforePages);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql("DROP TRIGGER results_fts_au; DROP TRIGGER results_fts_ad; DROP TRIGGER results_fts_ai; DROP TABLE results_fts;");
            migrationBuilder.DropTable(
                name: "failures");

            migrationBuilder.DropTable(
                name: "images");

            migrationBuilder.DropTable(
                name: "results");

            migrationBuilder.DropTable(
                name: "run_items");

            migrationBuilder.DropTable(
                name: "runs");
        }
    }
}
