using System.Globalization;
using System.Text;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace PaliGemma.Pipeline.Faults.Tests;

/// <summary>One fault's outcome, as the closing note's table shows it.</summary>
/// <param name="Fault">What was done.</param>
/// <param name="Images">Objects the run listed.</param>
/// <param name="Combinations">(object, task) combinations expected: images x tasks.</param>
/// <param name="Results">Current results for the listed versions.</param>
/// <param name="Failures">Recorded failures for the listed versions.</param>
/// <param name="Duplicates">Combinations with more than one outcome (rows beyond the first).</param>
/// <param name="Missing">Combinations with no outcome.</param>
/// <param name="Recomputed">Results the workers computed again after the fault (redelivered work that was already done); not an error.</param>
/// <param name="ResumedAfter">From the service being back (or the restart) to the first new result.</param>
/// <param name="CompletedAfter">From the service being back (or the restart) to the last combination done.</param>
/// <param name="Note">Fault-specific detail (retries seen, error queue).</param>
public sealed record FaultFigure(string Fault, int Images, int Combinations, int Results, int Failures, int Duplicates, int Missing, int Recomputed,
    TimeSpan? ResumedAfter, TimeSpan CompletedAfter, string Note)
{
    public static string Header =>
        "| fault | images | combinations | results | failures | duplicates | missing | recomputed | resumed after | completed after | note |\n" +
        "|---|---|---|---|---|---|---|---|---|---|---|";

    public string Row => string.Create(CultureInfo.InvariantCulture,
        $"| {Fault} | {Images} | {Combinations} | {Results} | {Failures} | {Duplicates} | {Missing} | {Recomputed} | {(ResumedAfter is { } r ? $"{r.TotalSeconds:0.0} s" : "-")} | {CompletedAfter.TotalSeconds:0.0} s | {Note} |");
}

/// <summary>
/// Collects every test's figure and writes the table when the suite ends: to xunit's diagnostics, to stdout, and to the
/// file named by PGPIPE_FAULT_FIGURES (default fault-figures.md beside the tests) so .ci/run can print it.
/// </summary>
public static class FaultFigures
{
    private static readonly List<FaultFigure> Figures = [];

    public static string FilePath =>
        Environment.GetEnvironmentVariable("PGPIPE_FAULT_FIGURES") is { Length: > 0 } path ? path : Path.Combine(AppContext.BaseDirectory, "fault-figures.md");

    public static void Record(FaultFigure figure, ITestOutputHelper output)
    {
        lock (Figures)
        {
            Figures.Add(figure);
        }

        output.WriteLine(FaultFigure.Header);
        output.WriteLine(figure.Row);
        Console.WriteLine("FAULT-FIGURE " + figure.Row);
    }

    internal static void Flush(IMessageSink diagnostics)
    {
        string table;
        lock (Figures)
        {
            if (Figures.Count == 0)
            {
                return;
            }

            var text = new StringBuilder().AppendLine(FaultFigure.Header);
            foreach (var figure in Figures)
            {
                text.AppendLine(figure.Row);
            }

            table = text.ToString();
            Figures.Clear();
        }

        File.WriteAllText(FilePath, table);
        Console.WriteLine(table);
        diagnostics.OnMessage(new DiagnosticMessage("Fault figures (also in " + FilePath + "):\n" + table));
    }
}
