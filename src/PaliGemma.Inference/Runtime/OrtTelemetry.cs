using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace PaliGemma.Inference.Runtime;

/// <summary>
/// Turns ONNX Runtime's telemetry off before the first session. ONNX Runtime 1.31 on Linux otherwise persists a device
/// id and an event store under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and a session file in TMPDIR (seen here),
/// which breaks the promise that pgpipe writes only the configured store and export file. The native library reads
/// ORT_DISABLE_TELEMETRY with getenv, which does not see .NET's managed environment on Unix, so it is set with setenv.
/// An operator's own ORT_DISABLE_TELEMETRY value (e.g. 0) is respected.
/// </summary>
internal static partial class OrtTelemetry
{
    private const string Variable = "ORT_DISABLE_TELEMETRY";
    private static readonly Lazy<bool> Applied = new(Apply, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Applies the setting once per process; call before any ONNX Runtime environment or session exists.</summary>
    public static void EnsureDisabled() => _ = Applied.Value;

    private static bool Apply()
    {
        var chosen = Environment.GetEnvironmentVariable(Variable);
        if (chosen is not null)
        {
            return chosen != "0";
        }

        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            _ = SetEnv(Variable, "1", 0);
        }
        else
        {
            // Windows: the CRT and the native library read the process environment this call writes.
            Environment.SetEnvironmentVariable(Variable, "1");
        }

        OrtEnv.Instance().DisableTelemetryEvents();
        return true;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
