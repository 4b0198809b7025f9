using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class SqliteChangeSeqIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_results_change_seq",
                table: "results",
                column: "change_seq");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_results_change_seq",
                table: "results");
        }
    }
}
