using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Tasks;

/// <summary>The one entry point every caller uses to accept or refuse a task request.</summary>
public sealed class TaskValidationTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData(1, null)]
    [InlineData(8192, null)]
    [InlineData(0, "--max-new-tokens must be between 1 and 8192, got 0")]
    [InlineData(8193, "--max-new-tokens must be between 1 and 8192, got 8193")]
    [InlineData(-1, "--max-new-tokens must be between 1 and 8192, got -1")]
    public void Token_limits_outside_one_to_the_whole_context_are_refused_in_the_callers_words(int? limit, string? problem) =>
        Assert.Equal(problem, TaskValidation.LimitProblem(limit, "--max-new-tokens"));

    [Fact]
    public void A_request_reports_the_prompt_problem_first_then_the_limit()
    {
        Assert.Null(TaskValidation.RequestProblem("caption en", 32));
        Assert.Null(TaskValidation.RequestProblem("detect cat ; dog", null));
        Assert.Equal("Prompt is missing", TaskValidation.RequestProblem(null, 32));
        Assert.StartsWith("The prompt is empty", TaskValidation.RequestProblem("", 0), StringComparison.Ordinal);
        Assert.Equal("MaxNewTokens must be between 1 and 8192, got 0", TaskValidation.RequestProblem("ocr", 0, "MaxNewTokens"));
    }

    [Theory]
    // 16 image tokens + <bos> + 2 prompt tokens + "\n" = 20 prefix tokens; 20 + 44 = 64 fits 64 positions exactly.
    [InlineData(20, 44, 64, false)]
    [InlineData(20, 45, 64, true)]
    [InlineData(1030, 8000, null, false)]
    public void A_prompt_fits_when_prefix_and_new_tokens_stay_within_the_positions(int prefix, int newTokens, int? positions, bool refused)
    {
        var problem = TaskValidation.FitProblem("caption en", prefix, newTokens, positions);
        Assert.Equal(refused, problem is not null);
        if (refused)
        {
            Assert.Contains($"needs {prefix} prefix tokens + {newTokens} new tokens, more than the model's {positions} positions", problem, StringComparison.Ordinal);
        }
    }
}
