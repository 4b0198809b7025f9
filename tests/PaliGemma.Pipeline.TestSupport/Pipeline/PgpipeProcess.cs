using System.Diagnostics;
using System.Text;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// One run of the real pgpipe binary (<c>dotnet pgpipe.dll ...</c>) as a separate process, configured through
/// environment variables like a deployment. stdout and stderr are captured line by line with timestamps so a failing
/// test can show what every process said; disposal kills it if it is still running.
/// </summary>
public sealed class PgpipeProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PgpipeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    /// <summary>Path of pgpipe.dll beside the test assembly (copied there by the project reference).</summary>
    public static string PgpipeDll { get; } = Path.Combine(AppContext.BaseDirectory, "pgpipe.dll");

    /// <summary>A label for logs, e.g. "worker-1".</summary>
    public string Name { get; }

    /// <summary>The process id, kept so it can still be reported after disposal.</summary>
    public int Id { get; private set; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process printed to stdout so far.</summary>
    public string StandardOutput
    {
        get
        {
            lock (_log)
            {
                return _stdout.ToString();
            }
        }
    }

    /// <summary>stdout and stderr interleaved, each line stamped and tagged.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static PgpipeProcess Start(string name, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        StartIn(name, environment, AppContext.BaseDirectory, args);

    /// <summary>As <see cref="Start(string, IReadOnlyDictionary{string, string}, string[])"/>, in <paramref name="workingDirectory"/>.</summary>
    public static PgpipeProcess StartIn(string name, IReadOnlyDictionary<string, string> environment, string workingDirectory, params string[] args)
    {
        if (!File.Exists(PgpipeDll))
        {
            throw new FileNotFoundException($"pgpipe.dll not found at {PgpipeDll}; the test project must reference src/PaliGemma.Pipeline.Cli.", PgpipeDll);
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        info.ArgumentList.Add(PgpipeDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var wrapper = new PgpipeProcess(name, process);
        process.OutputDataReceived += (_, e) => wrapper.Append(e.Data, "out", wrapper._stdoutClosed);
        process.ErrorDataReceived += (_, e) => wrapper.Append(e.Data, "err", wrapper._stderrClosed);
        process.Start();
        wrapper.Id = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Waits for exit (and for its output to be read); throws a <see cref="TimeoutException"/> carrying the log.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} (pid {Id}) did not exit within {timeout}. Its output:\n{Log}");
        }

        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no drain, no ack; what it held goes back to the queue.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            // On Unix Process.Kill sends SIGKILL.
            _process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>SIGTERM, as Kubernetes sends before a pod's grace period ends.</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("could not start kill(1)");
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {Id} exited with {kill.ExitCode}");
        }
    }

    public void Dispose()
    {
        try
        {
            KillHard();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    private void Append(string? line, string stream, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        lock (_log)
        {
            if (stream == "out")
            {
                _stdout.AppendLine(line);
            }

            // xunit's output refuses control characters (e.g. ANSI colour codes), and they help nobody reading a log.
            line = new string(line.Select(c => char.IsControl(c) && c != '\t' ? '?' : c).ToArray());
            _log.Append(DateTime.UtcNow.ToString("HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)).Append(' ').Append(Name).Append(' ').Append(stream).Append(": ").AppendLine(line);
        }
    }
}
