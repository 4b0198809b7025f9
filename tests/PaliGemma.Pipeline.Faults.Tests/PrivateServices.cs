using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PaliGemma.Pipeline.Faults.Tests;

/// <summary>
/// PostgreSQL, RabbitMQ and s3rver started by this suite alone, on free loopback ports with their data in a temporary
/// folder, so a test can stop and start them (a real outage: sockets close, connections drop) without touching the
/// shared instances on 5432/5672/4569 that other suites use. Disposal stops all three and deletes the folder.
/// </summary>
public sealed class PrivateServices : IAsyncDisposable
{
    private PrivateServices(string root, PrivatePostgres postgres, PrivateRabbitMq rabbitMq, PrivateS3 s3)
    {
        Root = root;
        Postgres = postgres;
        RabbitMq = rabbitMq;
        S3 = s3;
    }

    /// <summary>The temporary folder holding every service's data and logs.</summary>
    public string Root { get; }

    public PrivatePostgres Postgres { get; }

    private const string FolderPrefix = "pgpipe-faults-";

    private const string OwnerFile = "owner.pid";

    public PrivateRabbitMq RabbitMq { get; }

    public PrivateS3 S3 { get; }

    /// <summary>Why the services cannot be started on this machine (a missing program), or null.</summary>
    public static string? MissingPrerequisite()
    {
        if (PrivatePostgres.BinDirectory() is null)
        {
            return "PostgreSQL server programs (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin; install the postgresql package (.ci/services.sh does).";
        }

        if (!File.Exists(PrivateRabbitMq.ServerScript))
        {
            return $"{PrivateRabbitMq.ServerScript} not found; install the rabbitmq-server package (.ci/services.sh does).";
        }

        if (PrivateS3.FindS3rver() is null)
        {
            return "tools/node/node_modules/.bin/s3rver not found above the test folder; run 'npm ci' in tools/node (.ci/services.sh does).";
        }

        return FindOnPath("node") is null ? "node not found on PATH; s3rver needs it." : null;
    }

    /// <summary>Starts all three on fresh free ports; on failure stops what did start and throws with the logs.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static async Task<PrivateServices> StartAsync(CancellationToken ct)
    {
        await RemoveOrphansAsync(ct);
        var root = Directory.CreateTempSubdirectory(FolderPrefix).FullName;
        await File.WriteAllTextAsync(Path.Combine(root, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture), ct);
        // initdb and postgres refuse to run as root; the data folder must belong to the postgres user.
        Exec.MakeTraversable(root);
        var postgres = new PrivatePostgres(Path.Combine(root, "pg"), FreePort());
        var rabbitMq = new PrivateRabbitMq(Path.Combine(root, "rabbitmq"), FreePort(), FreePort(), FreePort());
        var s3 = new PrivateS3(Path.Combine(root, "s3"), FreePort());
        var services = new PrivateServices(root, postgres, rabbitMq, s3);
        try
        {
            await postgres.InitAsync(ct);
            await Task.WhenAll(postgres.StartAsync(ct), rabbitMq.StartAsync(ct), s3.StartAsync(ct));
            return services;
        }
        catch
        {
            await services.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Stops the services of earlier runs whose test process died without disposing them (a CI timeout, a crash), so
    /// they do not pile up on the machine. A folder whose owner process still lives belongs to a parallel run.
    /// </summary>
    private static async Task RemoveOrphansAsync(CancellationToken ct)
    {
        foreach (var folder in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            var owner = Path.Combine(folder, OwnerFile);
            if (!File.Exists(owner) || !int.TryParse(await File.ReadAllTextAsync(owner, ct), out var pid) || Exec.IsAlive(pid))
            {
                continue;
            }

            Exec.KillByPidFile(Path.Combine(folder, "rabbitmq", "rabbitmq.pid"), folder);
            Exec.KillByPidFile(Path.Combine(folder, "s3", "s3rver.pid"), folder);
            Exec.KillByPidFile(Path.Combine(folder, "pg", "data", "postmaster.pid"), folder);
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // Still closing; the next run tries again.
            }
        }
    }

    /// <summary>The last lines of every service log, for a failure message.</summary>
    public string LogTails() =>
        $"--- postgres ---\n{Exec.Tail(Postgres.LogFile)}\n--- rabbitmq ---\n{Exec.Tail(RabbitMq.LogFile)}\n--- s3rver ---\n{Exec.Tail(S3.LogFile)}";

    public async ValueTask DisposeAsync()
    {
        await S3.StopAsync(CancellationToken.None);
        await RabbitMq.StopAsync(CancellationToken.None);
        await Postgres.StopAsync(CancellationToken.None);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A service still closing files; the temp folder is cleaned up by the OS eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    internal static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        // The OS hands out an unused port; the tiny window before the service binds it is acceptable on a test machine.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A private PostgreSQL cluster (initdb into a temp folder, pg_ctl start/stop), trust authentication on 127.0.0.1.</summary>
public sealed class PrivatePostgres(string directory, int port)
{
    public int Port { get; } = port;

    public string LogFile { get; } = Path.Combine(directory, "postgres.log");

    /// <summary>An Npgsql connection string for the superuser; the fixture creates each test's database with it.</summary>
    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Password=postgres;Database=postgres;Timeout=5";

    private string DataDirectory => Path.Combine(directory, "data");

    /// <summary>The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl, or null.</summary>
    public static string? BinDirectory() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb")) && File.Exists(Path.Combine(b, "pg_ctl")))
                .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;

    internal async Task InitAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        Exec.GiveToPostgresUser(directory);
        await Exec.RunAsync(Exec.AsPostgres(Path.Combine(Bin, "initdb"), "-D", DataDirectory, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"),
            TimeSpan.FromSeconds(120), ct);
    }

    /// <summary>Starts the server and waits until it accepts connections.</summary>
    public Task StartAsync(CancellationToken ct) =>
        Exec.RunAsync(Exec.AsPostgres(Path.Combine(Bin, "pg_ctl"), "-D", DataDirectory, "-l", LogFile, "-w", "-t", "120", "-o",
            $"-p {Port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"), TimeSpan.FromSeconds(150), ct);

    /// <summary>Fast shutdown: open sessions are terminated, as in a database restart.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            await Exec.RunAsync(Exec.AsPostgres(Path.Combine(Bin, "pg_ctl"), "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop"), TimeSpan.FromSeconds(90), ct);
        }
    }

    private static string Bin => BinDirectory() ?? throw new InvalidOperationException("PostgreSQL server programs not found under /usr/lib/postgresql/*/bin.");
}

/// <summary>
/// A second RabbitMQ node (its own node name, ports, Mnesia folder, cookie and plugin list) with the management
/// plugin; stopping it closes every client connection, and its durable queues and persistent messages survive.
/// </summary>
public sealed class PrivateRabbitMq
{
    /// <summary>The broker start script, run directly (the /usr/sbin wrapper would switch to the rabbitmq user).</summary>
    public const string ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";

    private const string CtlScript = "/usr/lib/rabbitmq/bin/rabbitmqctl";

    private readonly string _directory;
    private readonly Dictionary<string, string> _environment;

    public PrivateRabbitMq(string directory, int amqpPort, int managementPort, int distributionPort)
    {
        _directory = directory;
        AmqpPort = amqpPort;
        ManagementPort = managementPort;
        NodeName = $"pgpipe-faults-{Guid.NewGuid():N}"[..24] + "@localhost";
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "enabled_plugins"), "[rabbitmq_management].\n");
        File.WriteAllText(Path.Combine(directory, "rabbitmq.conf"),
            $"listeners.tcp.default = 127.0.0.1:{amqpPort}\nmanagement.tcp.port = {managementPort}\nmanagement.tcp.ip = 127.0.0.1\n");
        _environment = new Dictionary<string, string>
        {
            // The node writes its Erlang cookie under HOME, and rabbitmqctl reads it from there.
            ["HOME"] = directory,
            ["RABBITMQ_NODENAME"] = NodeName,
            ["RABBITMQ_NODE_PORT"] = amqpPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distributionPort.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(directory, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(directory, "rabbitmq.pid"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(directory, "enabled_plugins"),
            ["RABBITMQ_PLUGINS_EXPAND_DIR"] = Path.Combine(directory, "plugins-expand"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(directory, "rabbitmq.conf"),
        };
        LogFile = Path.Combine(directory, "server.log");
    }

    public int AmqpPort { get; }

    public int ManagementPort { get; }

    public string NodeName { get; }

    public string LogFile { get; }

    public Uri AmqpUri => new($"amqp://guest:guest@127.0.0.1:{AmqpPort}/");

    public Uri ManagementUri => new($"http://127.0.0.1:{ManagementPort}/");

    /// <summary>Boots the node and waits until AMQP and the management API answer.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        Exec.StartDaemon(ServerScript, [], _environment, LogFile);
        await Exec.WaitUntilAsync("RabbitMQ node " + NodeName, LogFile, TimeSpan.FromSeconds(120), async token =>
            await Exec.PortOpenAsync(AmqpPort, token) && await Exec.HttpOkAsync(new Uri(ManagementUri, "api/overview"), ("guest", "guest"), token), ct);
    }

    /// <summary>
    /// Crashes the node (SIGKILL): every connection drops at once, with no goodbye, as when a broker's machine dies.
    /// Jobs the broker confirmed survive, since it confirms persistent messages only once they are on disk.
    /// </summary>
    public async Task KillAsync(CancellationToken ct)
    {
        var pidFile = Path.Combine(_directory, "rabbitmq.pid");
        if (!int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
        {
            throw new InvalidOperationException($"{pidFile} holds no process id; is the node running?");
        }

        using var node = System.Diagnostics.Process.GetProcessById(pid);
        node.Kill(entireProcessTree: true);
        await node.WaitForExitAsync(ct);
        File.Delete(pidFile);
    }

    /// <summary>Stops the node (rabbitmqctl stop): connections close, and the node is gone until <see cref="StartAsync"/>.</summary>
    public async Task StopAsync(CancellationToken ct)
    {
        if (!File.Exists(Path.Combine(_directory, "rabbitmq.pid")) || !await Exec.PortOpenAsync(AmqpPort, ct))
        {
            return;
        }

        await Exec.RunAsync(new Command(CtlScript, ["-n", NodeName, "stop", Path.Combine(_directory, "rabbitmq.pid")], _environment), TimeSpan.FromSeconds(90), ct);
    }
}

/// <summary>s3rver on its own port and data folder; stopping it kills the process, so requests are refused until it is started again.</summary>
public sealed class PrivateS3(string directory, int port)
{
    private Process? _process;

    public int Port { get; } = port;

    public string LogFile { get; } = Path.Combine(directory, "s3rver.log");

    public string ServiceUrl => $"http://127.0.0.1:{Port}";

    /// <summary>tools/node/node_modules/.bin/s3rver above the test folder, or null.</summary>
    public static string? FindS3rver()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tools", "node", "node_modules", ".bin", "s3rver");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public async Task StartAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Path.Combine(directory, "data"));
        var s3rver = FindS3rver() ?? throw new InvalidOperationException("s3rver not found (tools/node/node_modules/.bin/s3rver).");
        // Node 17+ lacks the legacy digests s3rver's continuation tokens use (see .ci/services.sh).
        _process = Exec.StartDaemon(s3rver, ["-d", Path.Combine(directory, "data"), "-a", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "--silent"],
            new Dictionary<string, string> { ["NODE_OPTIONS"] = "--openssl-legacy-provider" }, LogFile);
        await File.WriteAllTextAsync(Path.Combine(directory, "s3rver.pid"), _process.Id.ToString(CultureInfo.InvariantCulture), ct);
        await Exec.WaitUntilAsync("s3rver on port " + Port, LogFile, TimeSpan.FromSeconds(60), token => Exec.HttpOkAsync(new Uri(ServiceUrl + "/"), null, token), ct);
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        await _process.WaitForExitAsync(ct);
        _process.Dispose();
        _process = null;
    }
}

/// <summary>A program, its arguments and extra environment.</summary>
internal sealed record Command(string FileName, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string>? Environment = null);

/// <summary>Process plumbing for the private services.</summary>
internal static class Exec
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private static bool IsRoot => string.Equals(System.Environment.UserName, "root", StringComparison.Ordinal);

    /// <summary>Runs <paramref name="program"/> as the postgres user when this process is root (PostgreSQL refuses root).</summary>
    public static Command AsPostgres(string program, params string[] arguments) =>
        IsRoot ? new Command("runuser", ["-u", "postgres", "--", program, .. arguments]) : new Command(program, arguments);

    public static void GiveToPostgresUser(string directory)
    {
        if (IsRoot)
        {
            using var chown = Process.Start(new ProcessStartInfo("chown", ["-R", "postgres:postgres", directory]) { UseShellExecute = false })!;
            chown.WaitForExit();
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static void MakeTraversable(string directory)
    {
        // Directory.CreateTempSubdirectory makes the folder 0700; the postgres user must reach its data folder inside.
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    /// <summary>Runs a command to completion; a non-zero exit or a timeout throws with its output.</summary>
    public static async Task RunAsync(Command command, TimeSpan timeout, CancellationToken ct)
    {
        var info = new ProcessStartInfo(command.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in command.Environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{command.FileName} {string.Join(' ', command.Arguments)}' did not finish within {timeout}.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"'{command.FileName} {string.Join(' ', command.Arguments)}' exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
        }
    }

    /// <summary>Starts a long-running program with stdout and stderr going to <paramref name="logFile"/>.</summary>
    public static Process StartDaemon(string program, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string logFile)
    {
        // The shell does the redirection so the daemon never blocks on a pipe nobody reads.
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$PGPIPE_DAEMON_LOG\" 2>&1 </dev/null");
        info.ArgumentList.Add(program);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        info.Environment["PGPIPE_DAEMON_LOG"] = logFile;
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
    }

    public static async Task WaitUntilAsync(string what, string logFile, TimeSpan timeout, Func<CancellationToken, Task<bool>> ready, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await ready(ct))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not come up within {timeout}; last lines of {logFile}:\n{Tail(logFile)}");
            }

            await Task.Delay(250, ct);
        }
    }

    public static async Task<bool> PortOpenAsync(int port, CancellationToken ct)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public static async Task<bool> HttpOkAsync(Uri uri, (string User, string Password)? credentials, CancellationToken ct)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            if (credentials is { } c)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));
            }

            using var response = await Http.SendAsync(request, ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    public static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// SIGKILLs the process whose id is the first line of <paramref name="pidFile"/>, but only if its command line names
    /// <paramref name="folder"/>: a stale pid file may name a reused id that belongs to somebody else.
    /// </summary>
    public static void KillByPidFile(string pidFile, string folder)
    {
        try
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid)
                && File.ReadAllText($"/proc/{pid}/cmdline").Contains(folder, StringComparison.Ordinal))
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // Gone already, or not ours to kill.
        }
    }

    public static string Tail(string file, int lines = 30)
    {
        try
        {
            return string.Join('\n', File.ReadLines(file).TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"({file}: {e.Message})";
        }
    }
}
