namespace PaliGemma.Inference.Onnx;

/// <summary>Outcome of a graph rewrite.</summary>
/// <param name="Rewritten">True when <paramref name="Model"/> holds a rewritten ModelProto.</param>
/// <param name="Model">The rewritten serialized ModelProto, or null when nothing was rewritten.</param>
/// <param name="Description">What was sliced and where, or why the graph was left alone.</param>
public sealed record RewriteResult(bool Rewritten, byte[]? Model, string Description)
{
    internal static RewriteResult Refused(string reason) => new(false, null, reason);
}
