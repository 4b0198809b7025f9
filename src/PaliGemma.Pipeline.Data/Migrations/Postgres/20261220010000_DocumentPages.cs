using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace PaliGemma.Pipeline.Data.Migrations.Postgres
{
    /// <summary>
    /// Document archives (see <see cref="DocumentPagesSql"/>), upgrading a store in place. The current_results view is
    /// recreated to partition by page (Postgres expands r.* when a view is created, so the view must be recreated to carry the new columns).
    /// </summary>
    [DbContext(typeof(PostgresPipelineDbContext))]
    [Migration("20261220010000_DocumentPages")]
    public partial class DocumentPages : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(CurrentResultsView.Drop);
            migrationBuilder.Sql(DocumentPagesSql.Up("integer", "text", "bigint", "uuid", "timestamp with time zone"));
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
