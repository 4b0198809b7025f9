namespace PaliGemma.Inference.Tokenization;

/// <summary>All flags of one <c>added_tokens</c> entry, as Hugging Face reads them.</summary>
internal sealed record AddedTokenSpec(
    int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);
