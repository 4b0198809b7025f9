namespace PaliGemma.Inference.Tasks;

/// <summary>
/// A prompt parsed into its PaliGemma task, with the generation budget that task needs.
/// </summary>
/// <param name="Kind">The task.</param>
/// <param name="Prompt">The text to send to the model after <c>&lt;bos&gt;</c> (the tokenizer input, without the trailing newline).</param>
/// <param name="Language">The language code for caption/answer/question tasks; null otherwise.</param>
/// <param name="Argument">The question (answer), the answer (question), the object list (detect, segment); null otherwise.</param>
/// <param name="Labels">The object names for detect/segment, trimmed, in prompt order; empty otherwise.</param>
/// <param name="DefaultMaxNewTokens">Generation budget used when the caller gives none (see <see cref="Parse"/>).</param>
public sealed record PaliGemmaTask(TaskKind Kind, string Prompt, string? Language, string? Argument, IReadOnlyList<string> Labels, int DefaultMaxNewTokens)
{
    /// <summary>Short captions are one sentence: 32 tokens leave room for a long one.</summary>
    public const int CaptionMaxNewTokens = 32;

    /// <summary><c>describe</c> asks for a paragraph-length description.</summary>
    public const int DescribeMaxNewTokens = 128;

    /// <summary>OCR returns every line of text in the image: documents and signs need a long budget.</summary>
    public const int OcrMaxNewTokens = 256;

    /// <summary>Answers and generated questions are a word or a short sentence.</summary>
    public const int AnswerMaxNewTokens = 32;

    /// <summary>
    /// Each detected object costs 4 loc tokens + a label (1-3 tokens) + the " ;" separator (1-2 tokens), about 8-10 tokens,
    /// so 128 fits a dozen objects.
    /// </summary>
    public const int DetectMaxNewTokens = 128;

    /// <summary>
    /// Each segmented object costs 4 loc + 16 seg tokens + a label + separator, about 24 tokens, so 128 fits about five
    /// objects; segmentation prompts usually name one or two.
    /// </summary>
    public const int SegmentMaxNewTokens = 128;

    /// <summary>Unknown prompts: a middle budget; callers who know better pass their own.</summary>
    public const int RawMaxNewTokens = 64;

    /// <summary>
    /// Longest prompt accepted, in UTF-16 characters. PaliGemma's task prefixes are a few words; the longest real ones are
    /// VQA questions of a sentence or two. 2048 characters (~500 Gemma tokens) is far above those and far below the
    /// context left beside the image tokens (PaliGemma 2: 8192 positions, 256-4096 of them image tokens), so anything
    /// longer is a mistake such as a file pasted into --task. The worker additionally checks prompt tokens plus
    /// max_new_tokens against the model's positions.
    /// </summary>
    public const int MaxPromptLength = 2048;

    /// <summary>True for <see cref="TaskKind.Detect"/> and <see cref="TaskKind.Segment"/>, whose output <see cref="LocationParser"/> reads.</summary>
    public bool ProducesBoxes => Kind is TaskKind.Detect or TaskKind.Segment;

    /// <summary>
    /// Parses a prompt by its first word.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Known prefixes (matched case-sensitively, lower case, because the model was trained on exactly these words):
    /// <c>caption|cap|describe {lang}</c>, <c>ocr</c>, <c>answer {lang} {question}</c>, <c>question {lang} {answer}</c>,
    /// <c>detect a ; b</c>, <c>segment a ; b</c>. For these, <see cref="Prompt"/> is the input with leading and trailing
    /// whitespace removed (the runtime appends the newline PaliGemma expects) and runs of spaces after the prefix and
    /// language collapsed to one, so that equivalent prompts tokenize the same. Labels are split on ';' and trimmed.
    /// </para>
    /// <para>
    /// A prompt whose first word is not a known prefix is <see cref="TaskKind.Raw"/>, and its text is kept exactly as typed.
    /// </para>
    /// <para>
    /// Every prompt must be non-blank, at most <see cref="MaxPromptLength"/> characters, and free of control characters
    /// other than tab/CR/LF and of unpaired surrogates: such text cannot be what a user meant, U+0000 cannot be stored in
    /// PostgreSQL text (the task column), and an unpaired surrogate cannot be encoded as UTF-8 for the tokenizer or the store.
    /// </para>
    /// <para>
    /// A known prefix with the wrong shape (<c>caption</c> without a language, <c>answer en</c> without a question,
    /// <c>detect</c> without objects, <c>ocr</c> followed by text) throws rather than being sent as-is: the model would
    /// produce plausible-looking output for a prompt it was never trained on, and the mistake would go unnoticed.
    /// </para>
    /// <para>
    /// Default budgets: caption/cap 32, describe 128, ocr 256, answer/question 32, detect 128, segment 128, raw 64 (see the
    /// constants for why).
    /// </para>
    /// </remarks>
    /// <param name="prompt">The prompt as the user typed it.</param>
    /// <returns>The parsed task.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prompt"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// The prompt is empty or blank, longer than <see cref="MaxPromptLength"/>, contains control characters (other than
    /// tab, CR and LF) or unpaired surrogates, or a known prefix is used with the wrong shape; the message says which.
    /// </exception>
    public static PaliGemmaTask Parse(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ValidateText(prompt);
        string trimmed = prompt.Trim();
        int firstEnd = IndexOfWhiteSpace(trimmed, 0);
        string first = trimmed[..firstEnd];
        string rest = trimmed[firstEnd..].TrimStart();

        switch (first)
        {
            case "caption":
            case "cap":
            case "describe":
            {
                string form = $"'{first} {{lang}}', e.g. '{first} en'";
                string lang = ReadLanguage(rest, form, prompt, out string after);
                if (after.Length != 0)
                {
                    throw Malformed(prompt, form, $"unexpected text after the language: '{after}'");
                }

                int budget = first == "describe" ? DescribeMaxNewTokens : CaptionMaxNewTokens;
                return new PaliGemmaTask(TaskKind.Caption, $"{first} {lang}", lang, null, [], budget);
            }

            case "ocr":
                if (rest.Length != 0)
                {
                    throw Malformed(prompt, "'ocr' with nothing after it", $"unexpected text '{rest}'");
                }

                return new PaliGemmaTask(TaskKind.Ocr, "ocr", null, null, [], OcrMaxNewTokens);

            case "answer":
            case "question":
            {
                string what = first == "answer" ? "question" : "answer";
                string form = $"'{first} {{lang}} {{{what}}}', e.g. '{first} en {(first == "answer" ? "what is on the table?" : "a red car")}'";
                string lang = ReadLanguage(rest, form, prompt, out string argument);
                if (argument.Length == 0)
                {
                    throw Malformed(prompt, form, $"the {what} is missing");
                }

                TaskKind kind = first == "answer" ? TaskKind.Answer : TaskKind.Question;
                return new PaliGemmaTask(kind, $"{first} {lang} {argument}", lang, argument, [], AnswerMaxNewTokens);
            }

            case "detect":
            case "segment":
            {
                string form = $"'{first} a ; b', e.g. '{first} cat ; dog'";
                var labels = new List<string>();
                foreach (string part in rest.Split(';'))
                {
                    string label = part.Trim();
                    if (label.Length == 0)
                    {
                        throw Malformed(prompt, form, rest.Length == 0 ? "no object names" : "an empty object name between ';' separators");
                    }

                    labels.Add(label);
                }

                // Canonical " ; " spacing, the form PaliGemma's detection/segmentation data uses.
                string argument = string.Join(" ; ", labels);
                TaskKind kind = first == "detect" ? TaskKind.Detect : TaskKind.Segment;
                int budget = kind == TaskKind.Detect ? DetectMaxNewTokens : SegmentMaxNewTokens;
                return new PaliGemmaTask(kind, $"{first} {argument}", null, argument, labels, budget);
            }

            default:
                return new PaliGemmaTask(TaskKind.Raw, prompt, null, null, [], RawMaxNewTokens);
        }
    }

    private static void ValidateText(string prompt)
    {
        if (string.IsNullOrWhiteSpace(prompt))
        {
            throw new ArgumentException(
                prompt.Length == 0 ? "The prompt is empty; give a task such as 'caption en', 'ocr' or 'detect cat ; dog'." : $"The prompt is blank ({prompt.Length} whitespace characters); give a task such as 'caption en'.",
                nameof(prompt));
        }

        if (prompt.Length > MaxPromptLength)
        {
            throw new ArgumentException(
                $"The prompt is {prompt.Length} characters long; the limit is {MaxPromptLength} (PaliGemmaTask.MaxPromptLength). It starts '{prompt[..40]}...'.", nameof(prompt));
        }

        for (int i = 0; i < prompt.Length; i++)
        {
            char c = prompt[i];
            if (char.IsControl(c) && c is not ('\t' or '\n' or '\r'))
            {
                throw new ArgumentException(
                    $"The prompt contains the control character U+{(int)c:X4} at position {i}; only tab, CR and LF are allowed.", nameof(prompt));
            }

            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < prompt.Length && char.IsLowSurrogate(prompt[i + 1]))
                {
                    i++;
                    continue;
                }

                throw new ArgumentException($"The prompt contains an unpaired UTF-16 surrogate U+{(int)c:X4} at position {i}; it is not valid text.", nameof(prompt));
            }
        }
    }

    private static string ReadLanguage(string rest, string form, string prompt, out string after)
    {
        int end = IndexOfWhiteSpace(rest, 0);
        string lang = rest[..end];
        after = rest[end..].Trim();
        if (lang.Length == 0)
        {
            throw Malformed(prompt, form, "the language code is missing");
        }

        if (!IsLanguageCode(lang))
        {
            throw Malformed(prompt, form, $"'{lang}' is not a language code such as en, de, zh, pt-BR");
        }

        return lang;
    }

    /// <summary>ISO 639 code (2-3 letters), optionally with a region/script subtag: en, fil, pt-BR, zh-Hant.</summary>
    private static bool IsLanguageCode(string s)
    {
        int dash = s.IndexOf('-', StringComparison.Ordinal);
        string primary = dash < 0 ? s : s[..dash];
        if (primary.Length is < 2 or > 3 || !primary.All(char.IsAsciiLetter))
        {
            return false;
        }

        if (dash < 0)
        {
            return true;
        }

        string sub = s[(dash + 1)..];
        return sub.Length is >= 2 and <= 8 && sub.All(char.IsAsciiLetterOrDigit);
    }

    private static int IndexOfWhiteSpace(string s, int start)
    {
        for (int i = start; i < s.Length; i++)
        {
            if (char.IsWhiteSpace(s[i]))
            {
                return i;
            }
        }

        return s.Length;
    }

    private static ArgumentException Malformed(string prompt, string form, string problem) =>
        new($"Prompt '{prompt}' is malformed ({problem}); expected {form}. Prompts whose first word is not a task prefix are sent unchanged.", nameof(prompt));
}
