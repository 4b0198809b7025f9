using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Postgres
{
    /// <summary>
    /// Per-partition resume points of a parallel listing (Producer:ListConcurrency above 1): one row per listed prefix of
    /// a run in progress, read and written only by hand-written SQL in ResultStore, so the EF model does not change.
    /// </summary>
    [DbContext(typeof(PostgresPipelineDbContext))]
    [Migration("20261207010000_RunPartitions")]
    public partial class RunPartitions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE TABLE run_partitions (
                  run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                  partition text NOT NULL,
                  last_key text NULL,
                  completed boolean NOT NULL DEFAULT FALSE,
                  PRIMARY KEY (run_id, partition));
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE run_partitions;");
        }
    }
}
