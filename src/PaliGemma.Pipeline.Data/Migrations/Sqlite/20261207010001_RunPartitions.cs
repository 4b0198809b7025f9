using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Sqlite
{
    /// <summary>
    /// Per-partition resume points of a parallel listing (Producer:ListConcurrency above 1): one row per listed prefix of
    /// a run in progress, read and written only by hand-written SQL in ResultStore, so the EF model does not change.
    /// </summary>
    [DbContext(typeof(SqlitePipelineDbContext))]
    [Migration("20261207010001_RunPartitions")]
    public partial class RunPartitions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE TABLE run_partitions (
                  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                  partition TEXT NOT NULL,
                  last_key TEXT NULL,
                  completed INTEGER NOT NULL DEFAULT 0,
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
