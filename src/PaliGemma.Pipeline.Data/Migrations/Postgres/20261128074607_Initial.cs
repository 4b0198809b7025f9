using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateSequence(
                name: "results_change_seq");

            migrationBuilder.CreateTable(
                name: "failures",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    uri = table.Column<string>(type: "text", nullable: false),
                    etag = table.Column<string>(type: "text", nullable: false),
                    model = table.Column<string>(type: "text", nullable: false),
                    task = table.Column<string>(type: "text", nullable: false),
                    reason_code = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    message = table.Column<string>(type: "text", nullable: true),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_failures", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "images",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    uri = table.Column<string>(type: "text", nullable: false),
                    etag = table.Column<string>(type: "text", nullable: false),
                    width = table.Column<int>(type: "integer", nullable: false),
                    height = table.Column<int>(type: "integer", nullable: false),
                    size = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_images", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "results",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    uri = table.Column<string>(type: "text", nullable: false),
                    etag = table.Column<string>(type: "text", nullable: false),
                    model = table.Column<string>(type: "text", nullable: false),
                    task = table.Column<string>(type: "text", nullable: false),
                    text = table.Column<string>(type: "text", nullable: true),
                    boxes = table.Column<string>(type: "jsonb", nullable: true),
                    prompt_tokens = table.Column<int>(type: "integer", nullable: false),
                    generated_tokens = table.Column<int>(type: "integer", nullable: false),
                    latency_ms = table.Column<double>(type: "double precision", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    superseded = table.Column<bool>(type: "boolean", nullable: false),
                    change_seq = table.Column<long>(type: "bigint", nullable: false, defaultValueSql: "nextval('results_change_seq')")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_results", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "runs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    source = table.Column<string>(type: "text", nullable: false),
                    model = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    tasks = table.Column<string>(type: "jsonb", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_listed_key = table.Column<string>(type: "text", nullable: true),
                    listing_completed = table.Column<bool>(type: "boolean", nullable: false),
                    listed_count = table.Column<long>(type: "bigint", nullable: false),
                    enqueued_count = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "run_items",
                columns: table => new
                {
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    uri = table.Column<string>(type: "text", nullable: false),
                    etag = table.Column<string>(type: "text", nullable: false),
                    size = table.Column<long>(type: "bigint", nullable: false),
                    enqueued = table.Column<bool>(type: "boolean", nullable: false)
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
            // Change feed: the writing transaction's id. Readers return only rows with txid below the oldest
            // still-running transaction (snapshot xmin), ordered by (txid, change_seq), so a transaction that
            // took an earlier change_seq but commits late can never be passed over by a cursor.
            migrationBuilder.Sql("ALTER TABLE results ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();");
            migrationBuilder.Sql("CREATE INDEX ix_results_feed ON results (txid, change_seq);");
            // Full-text search: 'english' because PaliGemma captions/answers are prompted in English; stemming
            // lets "dogs" find "dog". OCR codes survive (they are kept as lexemes, just not stemmed).
            migrationBuilder.Sql("ALTER TABLE results ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(text, ''))) STORED;");
            migrationBuilder.Sql("CREATE INDEX ix_results_search ON results USING GIN (search_vector);");
            migrationBuilder.Sql(CurrentResultsView.CreateBeforePages);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
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

            migrationBuilder.DropSequence(
                name: "results_change_seq");
        }
    }
}
