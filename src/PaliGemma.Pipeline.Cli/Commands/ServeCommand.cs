using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Web;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>
/// <c>pgpipe serve [--urls URL]</c>: the results browser, a read-only web page and HTTP API over the same store the
/// other commands read (./pgpipe.db by default, or --db / Database:*). Loopback only unless Serve:ApiKey or
/// Serve:BasicAuthUser/BasicAuthPassword is configured.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var urls = new Option<string[]>("--urls")
        {
            Description = $"Where to listen, e.g. {ResultsBrowserApp.DefaultUrl} (several: repeat or separate with ';'). Anything but loopback needs Serve:ApiKey or Serve:BasicAuthUser/BasicAuthPassword configured.",
            DefaultValueFactory = _ => [ResultsBrowserApp.DefaultUrl],
        };
        var db = StoreAccess.CreateDbOption();
        var command = new Command("serve", "Browse runs and results in a web page (read-only HTTP API with an OpenAPI document at /openapi/v1.json).");
        command.Add(urls);
        command.Add(db);
        command.SetAction((r, ct) => ReadOutput.RunAsync(r, db, (c, token) => RunAsync(c, r.GetValue(urls) ?? [], token), ct));
        return command;
    }

    private static async Task<int> RunAsync(ReadContext c, string[] urlValues, CancellationToken ct)
    {
        var urls = urlValues.SelectMany(u => u.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        var options = StoreAccess.GetDatabaseOptions(c.Configuration);
        var sqliteFile = options.Provider == DatabaseProvider.Sqlite ? StoreAccess.SqliteFilePath(options.EffectiveConnectionString) : null;
        var app = ResultsBrowserApp.CreateServer(c.Configuration, new BrowserStore(c.Store, sqliteFile), urls, logging =>
        {
            // Refused requests and faults are worth a line on stderr; per-request chatter is not.
            logging.SetMinimumLevel(LogLevel.Warning);
            c.Command.AddLogging(logging);
        });
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(ct).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                // Kestrel reports a taken port as an IOException ("address already in use"); the message names the address.
                throw new CommandFailedException($"cannot listen on {string.Join(", ", urls)}: {ex.Message}", ex);
            }

            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? urls;
            await c.Output.WriteLineAsync($"Serving {StoreAccess.Describe(options)} read-only at {string.Join(", ", addresses)} (Ctrl+C stops).").ConfigureAwait(false);
            try
            {
                await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Ctrl+C: a normal end.
            }
        }

        return ExitCodes.Ok;
    }
}
