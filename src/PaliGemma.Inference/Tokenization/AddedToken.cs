namespace PaliGemma.Inference.Tokenization;

/// <summary>An entry of tokenizer.json's <c>added_tokens</c>: matched atomically in raw text before the BPE model.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Content">The exact text that the token stands for.</param>
/// <param name="Special">True when the file marks it special; only those are dropped by skip-special decoding.</param>
public sealed record AddedToken(int Id, string Content, bool Special);
