using Microsoft.EntityFrameworkCore;
using PaliGemma.Pipeline.Data.Model;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// The one EF model of the result store. Provider-specific details (jsonb, sequences, tsvector, FTS5,
/// the current_results view) live in the derived contexts and their own migration sets, so each provider
/// has real, separately generated migrations over the same tables.
/// </summary>
public abstract class PipelineDbContext : DbContext
{
    /// <summary>Creates the context with provider options built by a derived context.</summary>
    protected PipelineDbContext(DbContextOptions options)
        : base(options)
    {
    }

    /// <summary>Runs.</summary>
    public DbSet<RunEntity> Runs => Set<RunEntity>();

    /// <summary>Objects listed per run.</summary>
    public DbSet<RunItemEntity> RunItems => Set<RunItemEntity>();

    /// <summary>Image facts per object version.</summary>
    public DbSet<ImageEntity> Images => Set<ImageEntity>();

    /// <summary>Results.</summary>
    public DbSet<ResultEntity> Results => Set<ResultEntity>();

    /// <summary>Failures.</summary>
    public DbSet<FailureEntity> Failures => Set<FailureEntity>();

    /// <summary>Document archives and their page counts.</summary>
    public DbSet<DocumentEntity> Documents => Set<DocumentEntity>();

    /// <summary>Which provider this context talks to; the store picks its SQL dialect from it.</summary>
    public abstract DatabaseProvider Provider { get; }

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        // Column names are spelled out (snake_case) because the store's hand-written SQL depends on them.
        modelBuilder.Entity<RunEntity>(e =>
        {
            e.ToTable("runs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(x => x.Name).HasColumnName("name").HasMaxLength(200);
            e.HasIndex(x => x.Name).IsUnique();
            e.Property(x => x.Source).HasColumnName("source");
            e.Property(x => x.Model).HasColumnName("model").HasMaxLength(200);
            e.Property(x => x.Tasks).HasColumnName("tasks");
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
            e.Property(x => x.LastListedKey).HasColumnName("last_listed_key");
            e.Property(x => x.ListingCompleted).HasColumnName("listing_completed");
            e.Property(x => x.ListedCount).HasColumnName("listed_count");
            e.Property(x => x.EnqueuedCount).HasColumnName("enqueued_count");
        });

        modelBuilder.Entity<RunItemEntity>(e =>
        {
            e.ToTable("run_items");
            // (run, uri) is the key: a resumed producer re-recording a page inserts nothing new.
            e.HasKey(x => new { x.RunId, x.Uri });
            e.Property(x => x.RunId).HasColumnName("run_id");
            e.Property(x => x.Uri).HasColumnName("uri");
            e.Property(x => x.ETag).HasColumnName("etag");
            e.Property(x => x.Size).HasColumnName("size");
            e.Property(x => x.Enqueued).HasColumnName("enqueued");
            e.HasOne<RunEntity>().WithMany().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<ImageEntity>(e =>
        {
            e.ToTable("images");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id");
            e.Property(x => x.Uri).HasColumnName("uri");
            e.Property(x => x.ETag).HasColumnName("etag");
            e.Property(x => x.Width).HasColumnName("width");
            e.Property(x => x.Height).HasColumnName("height");
            e.Property(x => x.Page).HasColumnName("page");
            e.Property(x => x.Size).HasColumnName("size");
            e.HasIndex(x => new { x.Uri, x.ETag, x.Page }).IsUnique();
        });

        modelBuilder.Entity<ResultEntity>(e =>
        {
            e.ToTable("results");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id");
            e.Property(x => x.Uri).HasColumnName("uri");
            e.Property(x => x.ETag).HasColumnName("etag");
            e.Property(x => x.Model).HasColumnName("model");
            e.Property(x => x.Task).HasColumnName("task");
            e.Property(x => x.Text).HasColumnName("text");
            e.Property(x => x.Boxes).HasColumnName("boxes");
            e.Property(x => x.Page).HasColumnName("page");
            e.Property(x => x.Origin).HasColumnName("origin");
            e.Property(x => x.PromptTokens).HasColumnName("prompt_tokens");
            e.Property(x => x.GeneratedTokens).HasColumnName("generated_tokens");
            e.Property(x => x.LatencyMs).HasColumnName("latency_ms");
            e.Property(x => x.RunId).HasColumnName("run_id");
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
            e.Property(x => x.UpdatedAt).HasColumnName("updated_at");
            e.Property(x => x.Superseded).HasColumnName("superseded");
            e.Property(x => x.ChangeSeq).HasColumnName("change_seq");
            // The idempotency key: redelivery upserts on it. Page 0 (the whole object) rather than NULL keeps it a
            // plain unique key and ON CONFLICT target on both providers.
            e.HasIndex(x => new { x.Uri, x.ETag, x.Page, x.Model, x.Task }).IsUnique();
            // Serves the current view's "latest per (uri, page, model, task)" probe: without page, a document of
            // thousands of pages would probe every page's row for each row.
            e.HasIndex(x => new { x.Uri, x.Page, x.Model, x.Task });
            e.HasIndex(x => new { x.RunId, x.UpdatedAt });
        });

        modelBuilder.Entity<FailureEntity>(e =>
        {
            e.ToTable("failures");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id");
            e.Property(x => x.Uri).HasColumnName("uri");
            e.Property(x => x.ETag).HasColumnName("etag");
            e.Property(x => x.Model).HasColumnName("model");
            e.Property(x => x.Task).HasColumnName("task");
            e.Property(x => x.ReasonCode).HasColumnName("reason_code").HasMaxLength(100);
            e.Property(x => x.Page).HasColumnName("page");
            e.Property(x => x.Message).HasColumnName("message");
            e.Property(x => x.Attempts).HasColumnName("attempts");
            e.Property(x => x.RunId).HasColumnName("run_id");
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
            e.Property(x => x.UpdatedAt).HasColumnName("updated_at");
            e.HasIndex(x => new { x.Uri, x.ETag, x.Page, x.Model, x.Task }).IsUnique();
        });

        modelBuilder.Entity<DocumentEntity>(e =>
        {
            e.ToTable("documents");
            e.HasKey(x => new { x.Uri, x.ETag });
            e.Property(x => x.Uri).HasColumnName("uri");
            e.Property(x => x.ETag).HasColumnName("etag");
            e.Property(x => x.Kind).HasColumnName("kind");
            e.Property(x => x.PageCount).HasColumnName("page_count");
            e.Property(x => x.Size).HasColumnName("size");
            e.Property(x => x.RunId).HasColumnName("run_id");
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
        });
    }
}

/// <summary>Postgres flavour of the model: jsonb columns and a sequence-backed change-feed position.</summary>
public sealed class PostgresPipelineDbContext : PipelineDbContext
{
    /// <summary>Name of the sequence behind results.change_seq.</summary>
    public const string ChangeSequence = "results_change_seq";

    /// <summary>Creates the context.</summary>
    public PostgresPipelineDbContext(DbContextOptions<PostgresPipelineDbContext> options)
        : base(options)
    {
    }

    /// <inheritdoc />
    public override DatabaseProvider Provider => DatabaseProvider.Postgres;

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        modelBuilder.HasSequence<long>(ChangeSequence);
        modelBuilder.Entity<RunEntity>().Property(x => x.Tasks).HasColumnType("jsonb");
        modelBuilder.Entity<ResultEntity>(e =>
        {
            e.Property(x => x.Boxes).HasColumnType("jsonb");
            e.Property(x => x.ChangeSeq).HasDefaultValueSql($"nextval('{ChangeSequence}')");
        });
    }
}

/// <summary>SQLite flavour of the model (embedded default): JSON as text; change_seq assigned by the single writer.</summary>
public sealed class SqlitePipelineDbContext : PipelineDbContext
{
    /// <summary>Creates the context.</summary>
    public SqlitePipelineDbContext(DbContextOptions<SqlitePipelineDbContext> options)
        : base(options)
    {
    }

    /// <inheritdoc />
    public override DatabaseProvider Provider => DatabaseProvider.Sqlite;

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        // The SQLite feed orders by change_seq alone and every write batch reads MAX(change_seq); without this
        // index both scan the whole table. Postgres orders by (txid, change_seq) through its own ix_results_feed.
        modelBuilder.Entity<ResultEntity>().HasIndex(x => x.ChangeSeq);
    }
}
