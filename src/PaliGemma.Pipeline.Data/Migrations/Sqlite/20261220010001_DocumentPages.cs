using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Sqlite
{
    /// <summary>
    /// Document archives (see <see cref="DocumentPagesSql"/>), upgrading a store in place. The current_results view is
    /// recreated to partition by page (SQLite keeps the view's text, but its partition changes).
    /// </summary>
    [DbContext(typeof(SqlitePipelineDbContext))]
    [Migration("20261220010001_DocumentPages")]
    public partial class DocumentPages : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql(DocumentPagesSql.Up("INTEGER", "TEXT", "INTEGER", "TEXT", "TEXT"));
            migrationBuilder.Sql(CurrentResultsView.Create);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql(DocumentPagesSql.Down);
            migrationBuilder.Sql(CurrentResultsView.CreateBeforePages);
        }
    }
}
