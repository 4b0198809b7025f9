namespace PaliGemma.Inference;
