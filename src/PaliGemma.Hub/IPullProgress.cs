namespace PaliGemma.Hub;

/// <summary>Receives a pull's progress; called from several download tasks at once, so implementations must be thread-safe.</summary>
public interface IPullProgress
{
    /// <summary>The files the pull will make present, before any download starts.</summary>
    void Planned(IReadOnlyList<HubTreeFile> files);

    /// <summary>A file's bytes so far (including bytes resumed from an earlier run); may go down when a server ignores Range.</summary>
    void Advanced(string path, long bytesSoFar);

    /// <summary>A file is in the cache, verified and linked; <paramref name="downloaded"/> is false when it was already there.</summary>
    void Completed(string path, bool downloaded);
}
