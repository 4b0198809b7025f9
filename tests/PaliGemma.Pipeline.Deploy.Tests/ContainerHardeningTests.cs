using System.Text.RegularExpressions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// Static checks of the images and compose services that no engine is needed for: multi-stage builds from a small
/// context, a non-root user, no models in images, read-only root filesystems, replicas that can scale.
/// </summary>
public sealed partial class ContainerHardeningTests
{
    public static TheoryData<string> Dockerfiles() => ["Dockerfile.worker-cpu", "Dockerfile.worker-cuda", "Dockerfile.cli"];

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_is_multi_stage_non_root_and_bakes_in_no_model(string name)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "deploy", name));
        var instructions = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        Assert.True(instructions.Count(l => l.StartsWith("FROM ", StringComparison.Ordinal)) >= 2, $"{name}: expected a build stage and a runtime stage.");
        var lastFrom = instructions.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.Ordinal));
        var runtime = instructions.Skip(lastFrom).ToList();
        var user = runtime.LastOrDefault(l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.True(user is not null, $"{name}: the runtime stage sets no USER, so it runs as root.");
        Assert.DoesNotMatch(RootUser(), user);
        Assert.Contains(runtime, l => l.StartsWith("ENTRYPOINT [\"/app/pgpipe\"]", StringComparison.Ordinal));
        Assert.Contains("dotnet publish src/PaliGemma.Pipeline.Cli", text, StringComparison.Ordinal);
        // Only the build inputs are copied; models arrive through a volume.
        foreach (var copy in instructions.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal)))
        {
            Assert.Matches(AllowedCopy(), copy);
        }

        Assert.DoesNotContain(instructions, l => OnnxFile().IsMatch(l));
    }

    [Fact]
    public void Cuda_image_uses_the_gpu_runtime_on_cuda_13_with_cudnn()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "deploy", "Dockerfile.worker-cuda"));
        Assert.Contains("-p:OrtFlavor=Gpu", text, StringComparison.Ordinal);
        Assert.Matches(@"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-", text);
    }

    [Fact]
    public void Docker_build_context_admits_only_build_inputs()
    {
        var lines = File.ReadLines(Path.Combine(RepositoryFiles.Root, ".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal("**", lines[0]);
        Assert.Equal(
            ["!Directory.Build.props", "!Directory.Packages.props", "!global.json", "!src/**"],
            lines.Where(l => l.StartsWith('!')).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Compose_pgpipe_services_run_read_only_and_workers_can_scale()
    {
        var compose = ComposeFile.Load();
        foreach (var service in compose.PgpipeServices)
        {
            var svc = compose.Service(service);
            Assert.True(svc.TryGetValue("read_only", out var ro) && ro is "true", $"compose {service}: read_only: true expected.");
        }

        var worker = compose.Service("worker");
        Assert.False(worker.ContainsKey("container_name"), "compose worker: container_name prevents --scale.");
        Assert.False(worker.ContainsKey("ports"), "compose worker: a published host port collides between replicas.");
        Assert.Contains("models:/models:ro", ((List<object>)worker["volumes"]).Cast<string>());

        var volumes = ((Dictionary<object, object>)compose.Root["volumes"]).Keys.Cast<string>().ToHashSet();
        foreach (var (name, svc) in compose.Services)
        {
            if (((Dictionary<object, object>)svc).TryGetValue("volumes", out var mounts))
            {
                foreach (var source in ((List<object>)mounts).Cast<string>().Select(m => m.Split(':')[0]).Where(s => !s.StartsWith('.') && !s.StartsWith('/')))
                {
                    Assert.True(volumes.Contains(source), $"compose {name}: volume '{source}' is not declared under volumes:.");
                }
            }
        }
    }

    /// <summary>
    /// A worker copies each document whose pages it renders to local disk; a scanned PDF can be gigabytes, so the copies
    /// must not land in /tmp (a small memory-backed tmpfs in compose and the chart). The images point the worker at a
    /// folder they declare as a volume and hand to the unprivileged user, which compose mounts per replica (an anonymous
    /// volume: scaled workers never share, and trim, one folder) and the chart mounts as a disk-backed emptyDir.
    /// </summary>
    [Theory]
    [InlineData("Dockerfile.worker-cpu")]
    [InlineData("Dockerfile.worker-cuda")]
    public void Workers_keep_document_copies_on_a_disk_volume_of_their_own(string name)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "deploy", name));
        var folder = Assert.Single(DocumentCacheEnv().Matches(text)).Groups[1].Value;
        Assert.False(folder.StartsWith("/tmp", StringComparison.Ordinal), $"{name}: Worker__DocumentCacheFolder {folder} is under the memory-backed /tmp.");
        Assert.Matches(VolumeLine(folder), text);
        Assert.Matches(new Regex($@"^RUN mkdir -p {Regex.Escape(folder)} && chown ""?\$?\w+""? {Regex.Escape(folder)}$", RegexOptions.Multiline), text);

        var worker = ComposeFile.Load().Service("worker");
        Assert.Contains(folder, ((List<object>)worker["volumes"]).Cast<string>());
        Assert.Equal(folder, ChartValues.Load("values.yaml")["worker"]!["documentCache"]!["mountPath"]!.GetValue<string>());
    }

    private static Regex VolumeLine(string folder) => new($@"^VOLUME \[.*""{Regex.Escape(folder)}"".*\]$", RegexOptions.Multiline);

    [GeneratedRegex(@"Worker__DocumentCacheFolder=(\S+)")]
    private static partial Regex DocumentCacheEnv();

    [GeneratedRegex(@"\.onnx(_data)?\b")]
    private static partial Regex OnnxFile();

    [GeneratedRegex(@"^USER\s+(root|0)(:|$)")]
    private static partial Regex RootUser();

    [GeneratedRegex(@"^COPY (global\.json Directory\.Build\.props Directory\.Packages\.props \./|src/ src/)$")]
    private static partial Regex AllowedCopy();
}
