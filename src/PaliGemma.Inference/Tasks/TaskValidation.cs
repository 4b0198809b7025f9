using System.Globalization;

namespace PaliGemma.Inference.Tasks;

/// <summary>
/// The one place that decides whether a task request can run: the CLI before any work, the worker's message filter
/// before batching, the batch consumer per image, and the model per row all ask here, so a prompt or a token limit is
/// never accepted by one of them and refused by another.
/// </summary>
public static class TaskValidation
{
    /// <summary>
    /// Largest token limit any request may ask for: PaliGemma 2's whole context (max_position_embeddings 8192). No
    /// model of the family can generate more, so a bigger value is a bug, not a request. Whether a smaller one fits a
    /// given model is <see cref="FitProblem"/>'s question.
    /// </summary>
    public const int MaxNewTokensLimit = 8192;

    /// <summary>
    /// Model-independent checks of one request: the prompt follows <see cref="PaliGemmaTask.Parse"/>'s rules and the
    /// token limit (null: the task's default) is within 1..<see cref="MaxNewTokensLimit"/>.
    /// </summary>
    /// <param name="prompt">The prompt as typed.</param>
    /// <param name="maxNewTokens">The requested limit, or null for the task's default.</param>
    /// <param name="limitName">How the caller names the limit in its messages (<c>--max-new-tokens</c>, <c>MaxNewTokens</c>).</param>
    /// <returns>Null when the request is acceptable, else what is wrong, in one line.</returns>
    public static string? RequestProblem(string? prompt, int? maxNewTokens, string limitName = "max_new_tokens")
    {
        if (prompt is null)
        {
            return "Prompt is missing";
        }

        try
        {
            PaliGemmaTask.Parse(prompt);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }

        return LimitProblem(maxNewTokens, limitName);
    }

    /// <summary>The token-limit half of <see cref="RequestProblem"/>, for callers that check the limit before any prompt.</summary>
    public static string? LimitProblem(int? maxNewTokens, string limitName = "max_new_tokens") =>
        maxNewTokens is < 1 or > MaxNewTokensLimit
            ? string.Create(CultureInfo.InvariantCulture, $"{limitName} must be between 1 and {MaxNewTokensLimit}, got {maxNewTokens}")
            : null;

    /// <summary>
    /// The model-specific check: the prompt's prefix (image tokens, &lt;bos&gt;, prompt, newline) plus the new tokens must
    /// fit the model's positions.
    /// </summary>
    /// <returns>Null when it fits (or the model declares no limit), else the reason, a full sentence.</returns>
    public static string? FitProblem(string prompt, int prefixTokens, int maxNewTokens, int? maxPositions) =>
        maxPositions is { } limit && prefixTokens + maxNewTokens > limit
            ? string.Create(CultureInfo.InvariantCulture,
                $"Prompt '{prompt}' needs {prefixTokens} prefix tokens + {maxNewTokens} new tokens, more than the model's {limit} positions (config.json text_config.max_position_embeddings).")
            : null;
}
