namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// A job for another model reached this worker's queue (a producer or routing bug). Retrying cannot help, so the
/// consumer definition sends its batch straight to the error queue instead of retrying it for a minute.
/// </summary>
public sealed class MisroutedJobException : InvalidOperationException
{
    /// <summary>Creates the exception naming the job's model and the model this worker serves.</summary>
    public MisroutedJobException(string jobModel, string servedModel)
        : base($"Job for model '{jobModel}' reached the worker serving '{servedModel}'.")
    {
        JobModel = jobModel;
        ServedModel = servedModel;
    }

    /// <summary>The model the job names.</summary>
    public string JobModel { get; }

    /// <summary>The model this worker serves.</summary>
    public string ServedModel { get; }
}
