using System.ComponentModel.DataAnnotations;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;

namespace PaliGemma.Inference.Runtime;

/// <summary>Where ONNX Runtime runs the graphs.</summary>
public enum ExecutionDevice
{
    /// <summary>Try CUDA, fall back to CPU and log why.</summary>
    Auto,
    /// <summary>CPU only.</summary>
    Cpu,
    /// <summary>CUDA only; loading fails when the CUDA provider cannot start.</summary>
    Cuda,
}

/// <summary>ONNX Runtime graph optimisation level, mirrored so configuration does not depend on ORT types.</summary>
public enum GraphOptimization
{
    /// <summary>No graph rewrites.</summary>
    Disabled,
    /// <summary>Constant folding and redundant-node removal.</summary>
    Basic,
    /// <summary>Basic plus node fusions.</summary>
    Extended,
    /// <summary>Everything, including layout optimisations.</summary>
    All,
}

/// <summary>How a model is loaded and run. Bound from the "Inference" configuration section by hosts.</summary>
public sealed class InferenceOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Inference";

    /// <summary>
    /// A shallow copy, for a host that adjusts settings for its own model: options bound from configuration are shared
    /// by every consumer of <c>IOptions&lt;InferenceOptions&gt;</c>, so they are never changed in place.
    /// </summary>
    public InferenceOptions Copy() => (InferenceOptions)MemberwiseClone();

    /// <summary>Graph file variant: fp32, fp16, q4, q4f16, int8, uint8, quantized, bnb4.</summary>
    public string Dtype { get; set; } = "fp32";

    /// <summary>auto, cpu or cuda.</summary>
    public ExecutionDevice Device { get; set; } = ExecutionDevice.Auto;

    /// <summary>CUDA device ordinal.</summary>
    [Range(0, 64)]
    public int DeviceId { get; set; }

    /// <summary>Intra-op threads per session; 0 lets ONNX Runtime choose (all physical cores).</summary>
    [Range(0, 1024)]
    public int IntraOpThreads { get; set; }

    /// <summary>Inter-op threads per session; 0 lets ONNX Runtime choose.</summary>
    [Range(0, 1024)]
    public int InterOpThreads { get; set; }

    /// <summary>
    /// Whether idle intra-op threads spin before sleeping (ORT session.intra_op.allow_spinning). Null keeps ONNX
    /// Runtime's default (spin). Spinning shortens the gap between small kernels but burns CPU that anything else in
    /// the process (image decoding in a worker) could use.
    /// </summary>
    public bool? AllowSpinning { get; set; }

    /// <summary>Graph optimisation level.</summary>
    public GraphOptimization GraphOptimization { get; set; } = GraphOptimization.All;

    /// <summary>Most rows (image x prompt pairs) in one decoder call; also the vision encoder batch.</summary>
    [Range(1, 1024)]
    public int MaxBatchSize { get; set; } = 8;

    /// <summary>
    /// Rewrite the decoder at load time so prefill computes only the last position's logits (exact: everything
    /// after the final norm is position-wise; see <c>DecoderGraphRewriter</c> and docs/architecture.md). Ignored
    /// when the decoder declares num_logits_to_keep, which does the same job.
    /// </summary>
    public bool RewriteDecoder { get; set; } = true;

    /// <summary>Record the smallest top-1 minus top-2 logit gap per row (for conformance tests; costs a little).</summary>
    public bool TrackTopMargin { get; set; }

    /// <summary>
    /// Diagnostic: keep the KV cache, image features, embeddings and step state in host memory and read each step's
    /// logits on the host, the data flow before generation state stayed on the device. On a GPU every step then
    /// copies the whole KV cache to the device and back; on the CPU it costs little. For transfer measurements
    /// (<c>pgpipe bench inference --host-bound</c>) and tests; never needed in production.
    /// </summary>
    public bool HostBoundState { get; set; }

    /// <summary>Test hook: run the decoder without the greedy head, as for a graph the rewrite cannot extend (logits read on the host).</summary>
    internal bool DisableGreedyHead { get; set; }

    /// <summary>
    /// The VQ-VAE mask decoder (vae_decoder.onnx from tools/convert_vae_oid.py) that turns segment answers' seg tokens
    /// into masks; null or empty means segment returns boxes only, with a note. Read only, never written into the
    /// model folder.
    /// </summary>
    public string? MaskDecoderPath { get; set; }

    /// <summary>Parsed <see cref="Dtype"/>.</summary>
    public ModelDtype ParsedDtype => ModelDtypes.Parse(Dtype);
}
