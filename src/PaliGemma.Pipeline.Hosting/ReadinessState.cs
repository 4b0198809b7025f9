namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// What /health/ready reports: ready only after the host's prerequisites (e.g. the model) are loaded and until
/// draining starts, so Kubernetes stops routing work to a pod that is finishing its last batch.
/// </summary>
public sealed class ReadinessState
{
    private volatile bool _loaded;
    private volatile bool _draining;
    private volatile string _reason = "starting";

    /// <summary>True when the host can take work.</summary>
    public bool IsReady => _loaded && !_draining;

    /// <summary>Why the host is not ready (or "ready").</summary>
    public string Reason => IsReady ? "ready" : _reason;

    /// <summary>Called once the host's prerequisites are loaded.</summary>
    public void MarkLoaded()
    {
        _loaded = true;
    }

    /// <summary>Called when a prerequisite failed to load.</summary>
    public void MarkFailed(string reason)
    {
        _reason = reason;
        _loaded = false;
    }

    /// <summary>Called when shutdown begins: stop taking work, finish the current batch.</summary>
    public void MarkDraining()
    {
        _reason = "draining";
        _draining = true;
    }
}
