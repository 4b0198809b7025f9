using System.CommandLine;
using PaliGemma.Pipeline.Benchmarks;

var root = new RootCommand("Benchmarks of the pipeline that print ratios against a baseline measured in the same run (pgpipe bench inference is the product's own).");
root.Add(PipelineBenchmark.Create());
root.Add(DocumentsBenchmark.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
