using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>
/// A store written through the public ResultStore API as a run would write it, over real image files in a temporary
/// folder: run "photos" (model <see cref="Model"/>, tasks <see cref="Caption"/> and <see cref="Detect"/>) lists
/// cat.png (451x300: a caption holding markup, and one cat box with a rectangle mask), doc.jpg (300x300: a caption,
/// and a detection that found nothing) and bad.png (not an image: both tasks failed with reason "decode"). Another
/// model's caption of doc.jpg, written without a run, exists too.
/// </summary>
public abstract class SeededStore(Func<string, TestDatabase> database) : SeededFixture(database)
{
    public const string Model = "tiny:fp32";
    public const string OtherModel = "other:fp32";
    public const string Caption = "caption en";
    public const string Detect = "detect cat";
    public const string ScriptCaption = "<script>window.__pgpipeXss=1</script><img src=x onerror=\"window.__pgpipeXss=2\"> a cat on a sofa";
    public const string CatBoxes = """[{"label":"cat <b>tabby</b>","x1":45.5,"y1":30,"x2":225.5,"y2":150}]""";

    public string ImagesFolder => Path.Combine(Folder, "images");

    public RunInfo Run { get; private set; } = null!;

    public IReadOnlyDictionary<string, CatalogObject> Objects { get; private set; } = null!;

    protected override async Task SeedAsync(ResultStore store, CancellationToken ct)
    {
        Directory.CreateDirectory(ImagesFolder);
        File.Copy(Path.Combine(TestPaths.Images, "resize-451x300.png"), Path.Combine(ImagesFolder, "cat.png"));
        File.Copy(Path.Combine(TestPaths.Images, "resize-300x300.jpg"), Path.Combine(ImagesFolder, "doc.jpg"));
        await File.WriteAllTextAsync(Path.Combine(ImagesFolder, "bad.png"), "this is not an image", ct);

        using var sources = new CatalogSourceFactory(Options.Create(new S3Options()), Options.Create(new CatalogOptions()));
        var source = sources.Create(ImagesFolder);
        var objects = new Dictionary<string, CatalogObject>();
        await foreach (var o in source.ListAsync(new CatalogFilter(), ct))
        {
            objects[o.Key] = o;
        }

        Objects = objects;
        Run = await store.CreateRunAsync(new RunDefinition("photos", source.Root, Model, [Caption, Detect]), ct);
        await store.RecordListedPageAsync(Run.Id, objects.Values.Select(o => new RunItemRecord(o.Uri, o.ETag, o.Size, true)).ToList(), "doc.jpg", ct);
        await store.CompleteListingAsync(Run.Id, ct);
        CatalogObject cat = objects["cat.png"], doc = objects["doc.jpg"], bad = objects["bad.png"];
        var mask = CocoRleMasks.Rectangle(300, 451, 100, 50, 200, 150);
        var boxesWithMask = $$$"""[{"label":"cat <b>tabby</b>","x1":45.5,"y1":30,"x2":225.5,"y2":150,"mask":{"size":[300,451],"counts":"{{{mask}}}"}}]""";
        await store.WriteBatchAsync(new ResultBatch(
            [
                new ResultRecord(cat.Uri, cat.ETag, Model, Caption, ScriptCaption, null, 1030, 12, 95.5, Run.Id),
                new ResultRecord(cat.Uri, cat.ETag, Model, Detect, "cat", boxesWithMask, 1030, 5, 80, Run.Id),
                new ResultRecord(doc.Uri, doc.ETag, Model, Caption, "a document with printed text", null, 1030, 7, 70, Run.Id),
                new ResultRecord(doc.Uri, doc.ETag, Model, Detect, string.Empty, "[]", 1030, 1, 60, Run.Id),
                new ResultRecord(doc.Uri, doc.ETag, OtherModel, Caption, "a printed document page", null, 300, 6, 20, null),
            ],
            [
                new FailureRecord(bad.Uri, bad.ETag, Model, Caption, "decode", "The input is not in a recognised image format", Run.Id),
                new FailureRecord(bad.Uri, bad.ETag, Model, Detect, "decode", "The input is not in a recognised image format", Run.Id),
            ],
            [new ImageRecord(cat.Uri, cat.ETag, 451, 300, cat.Size), new ImageRecord(doc.Uri, doc.ETag, 300, 300, doc.Size)]), ct);
    }
}

public sealed class SqliteSeededStore() : SeededStore(folder => new SqliteTestDatabase(folder));

public sealed class PostgresSeededStore() : SeededStore(_ => new PostgresTestDatabase());

/// <summary>
/// WebApplicationFactory over the results browser's own wiring (AddResultsBrowser/UseResultsBrowser), with every
/// request appearing to come from <c>remote</c>: TestServer has no real peer, so a startup filter sets one first.
/// The type argument is this test assembly (the test SDK gives it an entry point, which the factory requires; the
/// Web project is a library hosted by pgpipe).
/// </summary>
public sealed class BrowserFactory(Web.BrowserStore store, IPAddress remote, IDictionary<string, string?> settings) : WebApplicationFactory<BrowserFactory>
{
    protected override IHostBuilder CreateHostBuilder() =>
        new HostBuilder()
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(settings))
            .ConfigureWebHost(web => web
                .ConfigureServices((context, services) =>
                {
                    services.AddResultsBrowser(context.Configuration, store);
                    services.AddSingleton<IStartupFilter>(new RemoteAddressFilter(remote));
                })
                .Configure(app => app.UseResultsBrowser()));

    // The factory guesses a content root from the solution layout; the browser reads nothing from disk, so any
    // existing folder does.
    protected override void ConfigureWebHost(IWebHostBuilder builder) => builder.UseContentRoot(AppContext.BaseDirectory);

    private sealed class RemoteAddressFilter(IPAddress remote) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((HttpContext context, RequestDelegate nextDelegate) =>
            {
                context.Connection.RemoteIpAddress = remote;
                return nextDelegate(context);
            });
            next(app);
        };
    }
}
