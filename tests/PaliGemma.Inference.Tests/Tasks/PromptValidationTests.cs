using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Tasks;

/// <summary>Prompts no user could mean are refused by <see cref="PaliGemmaTask.Parse"/> with a message saying why.</summary>
public sealed class PromptValidationTests
{
    [Theory]
    [InlineData("", "The prompt is empty")]
    [InlineData("   ", "The prompt is blank (3 whitespace characters)")]
    [InlineData("\t\n", "The prompt is blank")]
    public void Empty_or_blank_prompt_is_refused(string prompt, string fragment)
    {
        var ex = Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(prompt));
        Assert.StartsWith(fragment, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_100_KB_prompt_is_refused_naming_the_limit_without_echoing_it_all()
    {
        var prompt = "answer en " + new string('x', 100 * 1024);
        var ex = Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(prompt));
        Assert.Contains($"is {prompt.Length} characters long; the limit is 2048", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 400, $"the message is {ex.Message.Length} characters");
    }

    [Fact]
    public void A_prompt_of_exactly_the_limit_is_accepted()
    {
        var prompt = "answer en " + new string('y', PaliGemmaTask.MaxPromptLength - "answer en ".Length);
        Assert.Equal(2048, prompt.Length);
        Assert.Equal(TaskKind.Answer, PaliGemmaTask.Parse(prompt).Kind);
        Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(prompt + "y"));
    }

    [Theory]
    [InlineData("caption en\0", "U+0000 at position 10")]
    [InlineData("answer en what\u0007is this", "U+0007 at position 14")]
    [InlineData("\u001b[31mcaption en", "U+001B at position 0")]
    [InlineData("ocr\u007f", "U+007F at position 3")]
    [InlineData("detect cat\u0085", "U+0085 at position 10")]
    public void Control_characters_are_refused_with_their_position(string prompt, string fragment)
    {
        var ex = Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(prompt));
        Assert.Contains("control character " + fragment, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unpaired_surrogates_are_refused()
    {
        // Built in code: xunit's theory serialization would replace a lone surrogate before the test saw it.
        foreach (var prompt in new[] { "caption en" + '\uD800', '\uDC00' + "answer en x", "answer en a" + '\uDC00' + '\uD800' })
        {
            var ex = Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(prompt));
            Assert.Contains("unpaired UTF-16 surrogate", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("answer en what is \U0001F600?")] // a paired surrogate (emoji) is ordinary text
    [InlineData("answer en\twhat is this?")]
    [InlineData("question ja 猫")]
    public void Tabs_newlines_and_non_ascii_text_are_accepted(string prompt) => PaliGemmaTask.Parse(prompt);
}
