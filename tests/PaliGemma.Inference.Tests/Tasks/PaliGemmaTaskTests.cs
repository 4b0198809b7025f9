using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Tasks;

public sealed class PaliGemmaTaskTests
{
    [Theory]
    [InlineData("caption en", "caption en", "en", 32)]
    [InlineData("cap de", "cap de", "de", 32)]
    [InlineData("describe fr", "describe fr", "fr", 128)]
    [InlineData("  caption   pt-BR \n", "caption pt-BR", "pt-BR", 32)]
    public void Caption_prefixes_carry_their_language(string input, string prompt, string lang, int budget)
    {
        PaliGemmaTask task = PaliGemmaTask.Parse(input);
        Assert.Equal(TaskKind.Caption, task.Kind);
        Assert.Equal(prompt, task.Prompt);
        Assert.Equal(lang, task.Language);
        Assert.Null(task.Argument);
        Assert.Empty(task.Labels);
        Assert.Equal(budget, task.DefaultMaxNewTokens);
        Assert.False(task.ProducesBoxes);
    }

    [Fact]
    public void Ocr_has_a_long_budget()
    {
        PaliGemmaTask task = PaliGemmaTask.Parse("ocr");
        Assert.Equal((TaskKind.Ocr, "ocr", 256), (task.Kind, task.Prompt, task.DefaultMaxNewTokens));
        Assert.Null(task.Language);
    }

    [Fact]
    public void Answer_keeps_the_question_text()
    {
        PaliGemmaTask task = PaliGemmaTask.Parse("answer en  what colour is the car?");
        Assert.Equal(TaskKind.Answer, task.Kind);
        Assert.Equal("en", task.Language);
        Assert.Equal("what colour is the car?", task.Argument);
        Assert.Equal("answer en what colour is the car?", task.Prompt);
        Assert.Equal(32, task.DefaultMaxNewTokens);
    }

    [Fact]
    public void Question_keeps_the_answer_text()
    {
        PaliGemmaTask task = PaliGemmaTask.Parse("question es un coche rojo");
        Assert.Equal((TaskKind.Question, "es", "un coche rojo"), (task.Kind, task.Language, task.Argument));
    }

    [Theory]
    [InlineData("detect cat ; dog", TaskKind.Detect, "detect cat ; dog", new[] { "cat", "dog" }, 128)]
    [InlineData("detect  red car;person ", TaskKind.Detect, "detect red car ; person", new[] { "red car", "person" }, 128)]
    [InlineData("segment cat", TaskKind.Segment, "segment cat", new[] { "cat" }, 128)]
    public void Detect_and_segment_split_labels_on_semicolons(string input, TaskKind kind, string prompt, string[] labels, int budget)
    {
        PaliGemmaTask task = PaliGemmaTask.Parse(input);
        Assert.Equal(kind, task.Kind);
        Assert.Equal(prompt, task.Prompt);
        Assert.Equal(labels, task.Labels);
        Assert.Equal(budget, task.DefaultMaxNewTokens);
        Assert.True(task.ProducesBoxes);
    }

    [Theory]
    [InlineData("What is in this picture?")]
    [InlineData("Caption en")] // prefixes are case-sensitive: the model was trained on lower case
    [InlineData("captions en")]
    [InlineData("  leading spaces kept \n")]
    public void Unknown_first_word_is_raw_and_kept_exactly(string input)
    {
        PaliGemmaTask task = PaliGemmaTask.Parse(input);
        Assert.Equal(TaskKind.Raw, task.Kind);
        Assert.Equal(input, task.Prompt);
        Assert.Equal(64, task.DefaultMaxNewTokens);
        Assert.False(task.ProducesBoxes);
    }

    [Theory]
    [InlineData("caption", "'caption {lang}'")]
    [InlineData("cap", "'cap {lang}'")]
    [InlineData("caption en extra words", "'caption {lang}'")]
    [InlineData("caption english", "not a language code")]
    [InlineData("answer en", "'answer {lang} {question}'")]
    [InlineData("answer", "the language code is missing")]
    [InlineData("question en", "the answer is missing")]
    [InlineData("detect", "'detect a ; b'")]
    [InlineData("detect cat ; ; dog", "empty object name")]
    [InlineData("segment ;", "'segment a ; b'")]
    [InlineData("ocr this", "'ocr' with nothing after it")]
    public void Malformed_known_prefix_names_the_expected_form(string input, string fragment)
    {
        var ex = Assert.Throws<ArgumentException>(() => PaliGemmaTask.Parse(input));
        Assert.Contains(fragment, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{input}'", ex.Message, StringComparison.Ordinal);
    }
}
