namespace PaliGemma.Inference.Tasks;

/// <summary>The PaliGemma task a prompt asks for, from its first word.</summary>
public enum TaskKind
{
    /// <summary><c>caption {lang}</c>, <c>cap {lang}</c> or <c>describe {lang}</c>.</summary>
    Caption,

    /// <summary><c>ocr</c>: read the text in the image.</summary>
    Ocr,

    /// <summary><c>answer {lang} {question}</c>: visual question answering.</summary>
    Answer,

    /// <summary><c>question {lang} {answer}</c>: generate a question whose answer is given.</summary>
    Question,

    /// <summary><c>detect a ; b</c>: boxes as four <c>&lt;locNNNN&gt;</c> tokens and a label per object.</summary>
    Detect,

    /// <summary><c>segment a ; b</c>: a box plus sixteen <c>&lt;segNNN&gt;</c> mask codes and a label per object.</summary>
    Segment,

    /// <summary>Any other prompt, sent exactly as typed.</summary>
    Raw,
}
