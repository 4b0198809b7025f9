using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PaliGemma.Pipeline.Hosting;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// What the rendered worker pod expects of the app, checked against the app itself: the probes hit paths and the port
/// the real observability endpoint serves, and KEDA watches the queue the real <c>pgpipe worker</c> consumes.
/// </summary>
public sealed class WorkerContractTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public async Task Probes_and_scrape_target_are_served_by_the_apps_observability_endpoint(string valuesFile)
    {
        // Given the rendered worker container: its probes, named ports and the Observability settings it starts with.
        var chart = RenderedChart.For(valuesFile);
        var deployment = chart.Single("Deployment", "worker");
        var pod = chart.Pods.Single(p => p.Owner == deployment);
        var container = pod.Container("worker");
        var env = chart.Environment(container).Values;
        Assert.True(env.TryGetValue("Observability__Port", out var portText), $"{valuesFile}: the worker container sets no Observability__Port.");
        var port = int.Parse(portText, CultureInfo.InvariantCulture);
        var bindAddress = env.GetValueOrDefault("Observability__BindAddress", new ObservabilityOptions().BindAddress);
        Assert.True(IPAddress.Parse(bindAddress).Equals(IPAddress.Any),
            $"{valuesFile}: Observability__BindAddress {bindAddress} is not reachable by the kubelet; the listener must bind 0.0.0.0.");

        var probes = new[] { "startupProbe", "livenessProbe", "readinessProbe" }
            .ToDictionary(p => p, p => container[p]?["httpGet"] ?? throw new InvalidDataException($"{valuesFile}: the worker has no HTTP {p}."));
        foreach (var (name, probe) in probes)
        {
            Assert.Equal(port, ContainerPort(container, probe["port"]!, $"{valuesFile} {name}"));
        }

        var annotations = pod.Template["metadata"]?["annotations"];
        if ((string?)annotations?["prometheus.io/scrape"] == "true")
        {
            Assert.Equal(portText, (string?)annotations!["prometheus.io/port"]);
        }

        var service = chart.Single("Service", "worker");
        foreach (var servicePort in service["spec"]!["ports"]!.AsArray())
        {
            Assert.Equal(port, ContainerPort(container, servicePort!["targetPort"]!, $"{valuesFile} Service targetPort"));
        }

        // When the app's host starts with those settings (on a free port: the rendered one is fixed and this machine
        // runs other tests beside this one).
        var localPort = FreePort();
        var builder = PipelineConfiguration.CreateHostBuilder(overrides: new Dictionary<string, string?>
        {
            ["Observability:Port"] = localPort.ToString(CultureInfo.InvariantCulture),
            ["Observability:BindAddress"] = bindAddress,
        });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{localPort}") };

            // Then liveness and startup answer while the model is still loading, readiness only once it is loaded.
            foreach (var name in new[] { "startupProbe", "livenessProbe" })
            {
                Assert.Equal(HttpStatusCode.OK, await Status(http, probes[name], valuesFile, name));
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, await Status(http, probes["readinessProbe"], valuesFile, "readinessProbe before the model is loaded"));
            host.Services.GetRequiredService<ReadinessState>().MarkLoaded();
            Assert.Equal(HttpStatusCode.OK, await Status(http, probes["readinessProbe"], valuesFile, "readinessProbe"));
            if ((string?)annotations?["prometheus.io/scrape"] == "true")
            {
                var path = (string?)annotations!["prometheus.io/path"] ?? "/metrics";
                using var metrics = await http.GetAsync(new Uri(path, UriKind.Relative));
                Assert.True(metrics.StatusCode == HttpStatusCode.OK, $"{valuesFile}: prometheus.io/path {path} answers {(int)metrics.StatusCode}.");
            }
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Theory]
    [MemberData(nameof(RenderedChart.ValueFileData), MemberType = typeof(RenderedChart))]
    public void Keda_watches_the_queue_the_real_worker_prints_for_the_same_settings(string valuesFile)
    {
        // Given the rendered ScaledObject and the worker container's command line and environment.
        var chart = RenderedChart.For(valuesFile);
        var scaledObject = chart.OfKind("ScaledObject").SingleOrDefault();
        Assert.True(scaledObject is not null || !chart.Values["keda"]!["enabled"]!.GetValue<bool>(), $"{valuesFile}: keda.enabled but no ScaledObject.");
        if (scaledObject is null)
        {
            return;
        }

        var trigger = scaledObject["spec"]!["triggers"]!.AsArray().Single(t => (string?)t!["type"] == "rabbitmq")!;
        var watched = (string)trigger["metadata"]!["queueName"]!;
        var deployment = chart.Single("Deployment", "worker");
        Assert.Equal((string?)deployment["metadata"]!["name"], (string?)scaledObject["spec"]!["scaleTargetRef"]!["name"]);
        var container = chart.Pods.Single(p => p.Owner == deployment).Container("worker");
        Assert.Null(container["command"]);

        // When the real pgpipe runs that command line with --print-queue, in that environment.
        var args = container["args"]!.AsArray().Select(a => (string)a!).Append("--print-queue").ToList();
        var printed = Pgpipe.Run(args, chart.Environment(container).Values);

        // Then it names the queue KEDA watches.
        output.WriteLine($"pgpipe {string.Join(' ', args)} -> {printed}");
        Assert.True(watched == printed,
            $"{valuesFile}: KEDA watches queue '{watched}' but `pgpipe {string.Join(' ', args)}` with the pod's settings consumes '{printed}'; set worker.queueName to it.");
    }

    private static int ContainerPort(JsonObject container, JsonNode port, string where)
    {
        if (port.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            return (int)port.GetValue<long>();
        }

        var named = container["ports"]?.AsArray().SingleOrDefault(p => (string?)p!["name"] == (string)port!);
        Assert.True(named is not null, $"{where}: port '{port}' is not a named port of container {container["name"]}.");
        return (int)named!["containerPort"]!.GetValue<long>();
    }

    private static async Task<HttpStatusCode> Status(HttpClient http, JsonNode probe, string valuesFile, string name)
    {
        var path = (string)probe["path"]!;
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        Assert.True(response.StatusCode != HttpStatusCode.NotFound, $"{valuesFile} {name}: the app serves no {path} (404).");
        return response.StatusCode;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
