using PaliGemma.Pipeline.Cli;

return await PgpipeCli.InvokeAsync(args).ConfigureAwait(false);
