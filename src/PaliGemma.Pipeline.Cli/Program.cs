using PaliGemma.Pipeline.Cli;

return await PgpipeCli.Build().Parse(args).InvokeAsync().ConfigureAwait(false);
