using System.Globalization;
using System.Runtime.InteropServices;

namespace PaliGemma.Inference.Onnx;

/// <summary>
/// Exact load-time rewrite of a decoder graph so that it computes logits only for the last position.
/// </summary>
/// <remarks>
/// Everything after the decoder's final norm is position-wise: the lm_head matmul and the soft-cap (Div, Tanh,
/// Mul) treat each position on its own. Slicing the head's activation input to the last position therefore
/// gives exactly the last row of the original logits, while skipping the [B,S,V] head work and memory that
/// prefill would otherwise spend on rows nobody reads (the [B,S,V] logits of a 3B model at batch 32 would be ~34 GB).
/// A second edit, <see cref="TryAddGreedyHead"/>, appends the greedy choice so that each step returns B token ids
/// instead of logits. Both edits are done at the protobuf wire level: every byte outside the touched messages is
/// copied from the source unchanged. docs/architecture.md describes where they sit in generation.
/// One file on purpose: finding the cut point, proving that everything after it is position-wise, and re-emitting the
/// touched messages are one chain of reasoning about the same graph; the exactness tests hold the whole chain.
/// </remarks>
public static class DecoderGraphRewriter
{
    private const string MicrosoftDomain = "com.microsoft";

    // Ops that map each element to one element (with optional constant operands): they never mix positions.
    private static readonly HashSet<string> UnaryPositionWise = new(StringComparer.Ordinal)
    {
        "Tanh", "Cast", "Identity", "Relu", "Sigmoid", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal",
        "Erf", "Softplus", "Softsign", "HardSigmoid", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Floor",
        "Ceil", "Round", "Sign", "Clip", "Tan", "Atan", "Sin", "Cos",
    };

    private static readonly HashSet<string> BinaryPositionWise = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
    };

    // Softmax-like ops are position-wise only when they normalise over the vocabulary (last) axis.
    private static readonly HashSet<string> LastAxisOnly = new(StringComparer.Ordinal) { "Softmax", "LogSoftmax", "Hardmax" };

    /// <summary>Parses the decoder, or says why the rewriter leaves it alone (an unreadable model is never an error here).</summary>
    private static bool TryParse(ReadOnlySpan<byte> modelProto, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OnnxGraph? graph,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out RewriteResult? refused)
    {
        try
        {
            graph = OnnxGraph.Parse(modelProto);
            refused = null;
            return true;
        }
        catch (InvalidDataException ex)
        {
            graph = null;
            refused = RewriteResult.Refused($"Not a ModelProto this rewriter can read: {ex.Message}");
            return false;
        }
    }

    /// <summary>
    /// Rewrites a serialized ModelProto so that the graph output <paramref name="logitsOutputName"/> holds only the
    /// last position ([B,1,V] instead of [B,S,V]).
    /// </summary>
    /// <param name="modelProto">The serialized decoder ModelProto.</param>
    /// <param name="logitsOutputName">The graph output holding logits.</param>
    /// <returns>The rewritten model and what was sliced, or <c>Rewritten = false</c> with the reason the graph was left alone.</returns>
    public static RewriteResult TrySliceLastPosition(ReadOnlySpan<byte> modelProto, string logitsOutputName = "logits")
    {
        ArgumentNullException.ThrowIfNull(logitsOutputName);
        if (!TryParse(modelProto, out var graph, out var unreadable))
        {
            return unreadable;
        }

        var plan = Plan(graph, logitsOutputName);
        if (plan.Refusal is not null)
        {
            return RewriteResult.Refused(plan.Refusal);
        }

        var bytes = Emit(modelProto, graph, plan);
        return new RewriteResult(true, bytes, plan.Description!);
    }

    /// <summary>
    /// Rewrites an ONNX file and writes the result to <paramref name="outputPath"/> (nothing is written when the
    /// rewrite is refused). Weights kept in external data stay where they are: the rewritten graph still names the
    /// same data files by relative path, so the output must sit in a folder where those files resolve.
    /// </summary>
    /// <param name="inputPath">The decoder .onnx file.</param>
    /// <param name="outputPath">Where to write the rewritten .onnx file.</param>
    /// <param name="logitsOutputName">The graph output holding logits.</param>
    /// <returns>The result; <see cref="RewriteResult.Model"/> also holds the bytes that were written.</returns>
    /// <exception cref="FileNotFoundException"><paramref name="inputPath"/> does not exist.</exception>
    public static RewriteResult RewriteFile(string inputPath, string outputPath, string logitsOutputName = "logits")
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var info = new FileInfo(inputPath);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"ONNX model '{inputPath}' does not exist.", inputPath);
        }

        if (info.Length > Array.MaxLength)
        {
            return RewriteResult.Refused(
                $"'{inputPath}' is {info.Length} bytes; a single protobuf cannot exceed 2 GB (weights must be in external data).");
        }

        var source = File.ReadAllBytes(inputPath);
        var result = TrySliceLastPosition(source, logitsOutputName);
        if (!result.Rewritten)
        {
            return result;
        }

        var outputFolder = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        var graph = OnnxGraph.Parse(source);
        var missing = graph.Initializers.Values
            .SelectMany(i => i.ExternalLocations)
            .Distinct(StringComparer.Ordinal)
            .Where(location => !File.Exists(Path.Combine(outputFolder, location)))
            .ToList();
        if (missing.Count > 0)
        {
            return RewriteResult.Refused(
                $"'{inputPath}' keeps weights in external data ({string.Join(", ", missing)}) that would not resolve next to " +
                $"'{outputPath}'; write the output into the folder that holds the data files.");
        }

        File.WriteAllBytes(outputPath, result.Model!);
        return result;
    }

    /// <summary>Output of the greedy head: the chosen token of each row, [B,1] int64, for the next step's embedding.</summary>
    public const string NextToken = "pgpipe/next_token";

    /// <summary>The same ids as <see cref="NextToken"/>, as a second output so that one copy can be read on the host.</summary>
    public const string NextTokenHost = "pgpipe/next_token_host";

    /// <summary>Output of the greedy head with margin tracking: top-1 minus top-2 logit per row, [B] float32.</summary>
    public const string TopMargin = "pgpipe/top_margin";

    /// <summary>
    /// Extends a decoder so that each step returns what the next step needs instead of the whole logits tensor:
    /// the greedy token of each row's last position (ArgMax over the vocabulary, first index on ties, as
    /// transformers.js), optionally the top-1 minus top-2 margin, the next position ids (last column + 1) and, when the
    /// decoder declares <c>attention_mask</c>, the mask grown by one column of ones. Existing outputs are untouched.
    /// </summary>
    /// <param name="modelProto">The serialized decoder (as exported or already sliced by <see cref="TrySliceLastPosition"/>).</param>
    /// <param name="trackMargin">Also output <see cref="TopMargin"/>.</param>
    /// <param name="logitsOutputName">The graph output holding logits.</param>
    /// <returns>The extended model, or <c>Rewritten = false</c> with the reason the graph was left alone.</returns>
    public static RewriteResult TryAddGreedyHead(ReadOnlySpan<byte> modelProto, bool trackMargin, string logitsOutputName = "logits")
    {
        ArgumentNullException.ThrowIfNull(logitsOutputName);
        if (!TryParse(modelProto, out var graph, out var unreadable))
        {
            return unreadable;
        }

        if (graph.DefaultOpset is not { } opset || opset < 11)
        {
            return RewriteResult.Refused($"Default-domain opset is {graph.DefaultOpset?.ToString(CultureInfo.InvariantCulture) ?? "missing"}; the greedy head needs opset 11 or later.");
        }

        var logits = graph.Outputs.FirstOrDefault(o => o.Name == logitsOutputName);
        if (logits is not { Rank: 3 })
        {
            return RewriteResult.Refused(logits is null
                ? $"The graph has no output named '{logitsOutputName}'."
                : $"Output '{logitsOutputName}' declares rank {logits.Rank?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}; expected [B,S,V].");
        }

        if (logits.ElemType is not (OnnxType.Float or OnnxType.Float16))
        {
            return RewriteResult.Refused($"Output '{logitsOutputName}' has element type {logits.ElemType?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}; expected float32 or float16.");
        }

        var inputs = graph.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        if (!inputs.Contains("position_ids"))
        {
            return RewriteResult.Refused("The graph has no 'position_ids' input to advance.");
        }

        var taken = CollectNames(graph);
        string[] produced = [NextToken, NextTokenHost, TopMargin, GenerationGraphs.NextPositionIds, GenerationGraphs.NextAttentionMask];
        if (produced.FirstOrDefault(taken.Contains) is { } clash)
        {
            return RewriteResult.Refused($"The graph already has a tensor named '{clash}'.");
        }

        var b = new OnnxModelBuilder("pgpipe", taken);
        var last = b.Node("Slice", [logitsOutputName, b.Int64s(-1), b.Int64s(long.MaxValue), b.Int64s(1)]);
        if (logits.ElemType == OnnxType.Float16)
        {
            // Exact (every half is a float) and monotonic, so the choice and the margin are those of the half logits;
            // the CPU provider's ArgMax and TopK take no float16.
            last = b.Node("Cast", [last], null, OnnxAttr.I("to", OnnxType.Float));
        }

        var ids = b.Node("ArgMax", [last], null, OnnxAttr.I("axis", 2), OnnxAttr.I("keepdims", 0), OnnxAttr.I("select_last_index", 0));
        b.Node("Identity", [ids], NextToken);
        b.Output(NextToken, OnnxType.Int64, 2);
        b.Node("Identity", [ids], NextTokenHost);
        b.Output(NextTokenHost, OnnxType.Int64, 2);
        if (trackMargin)
        {
            var top = b.NodeN("TopK", [last, b.Int64s(2)], 2, [], OnnxAttr.I("axis", 2), OnnxAttr.I("largest", 1), OnnxAttr.I("sorted", 1))[0];
            var first = b.Node("Slice", [top, b.Int64s(0), b.Int64s(1), b.Int64s(2)]);
            var second = b.Node("Slice", [top, b.Int64s(1), b.Int64s(2), b.Int64s(2)]);
            b.Node("Reshape", [b.Node("Sub", [first, second]), b.Int64s(-1)], TopMargin);
            b.Output(TopMargin, OnnxType.Float, 1);
        }

        GenerationGraphs.EmitAdvance(b, "position_ids", inputs.Contains("attention_mask") ? "attention_mask" : null);
        var bytes = AppendToGraph(modelProto, graph, b.Nodes, b.OutputFields);
        return new RewriteResult(true, bytes,
            $"Added the greedy head (Slice last position -> ArgMax{(trackMargin ? ", TopK margin" : "")}) after '{logitsOutputName}' and the step advance of position_ids{(inputs.Contains("attention_mask") ? " and attention_mask" : "")}.");
    }

    // The source model with extra node fields after its last node and extra output fields after its last output.
    private static byte[] AppendToGraph(ReadOnlySpan<byte> source, OnnxGraph g, List<byte> nodes, List<byte> outputs)
    {
        var lastNode = g.GraphFields.LastOrDefault(f => f.Number == OnnxFields.GraphNode);
        var lastOutput = g.GraphFields.LastOrDefault(f => f.Number == OnnxFields.GraphOutput);
        var pieces = new List<Piece>();
        foreach (var field in g.GraphFields)
        {
            AddSource(pieces, field.Start, field.End - field.Start);
            if (field.Start == lastNode.Start && field.Number == OnnxFields.GraphNode)
            {
                pieces.Add(new Piece([.. nodes], 0, nodes.Count));
            }

            if (field.Start == lastOutput.Start && field.Number == OnnxFields.GraphOutput)
            {
                pieces.Add(new Piece([.. outputs], 0, outputs.Count));
            }
        }

        return AssembleModel(source, g, pieces);
    }

    private sealed record RewritePlan(
        string? Refusal,
        string? Description = null,
        OnnxNode? Head = null,
        string? Activation = null,
        long Axis = 0,
        HashSet<string>? ChainTensors = null,
        string? LogitsName = null,
        IReadOnlyList<string>? NewNames = null)
    {
        public static RewritePlan Refuse(string reason) => new(reason);
    }

    private static RewritePlan Plan(OnnxGraph g, string logitsName)
    {
        var opset = g.DefaultOpset;
        if (opset is null)
        {
            return RewritePlan.Refuse("The model imports no default-domain opset.");
        }

        if (opset < 10)
        {
            return RewritePlan.Refuse($"Default-domain opset is {opset}; Slice with tensor inputs needs opset 10 or later.");
        }

        var logitsOutput = g.Outputs.FirstOrDefault(o => o.Name == logitsName);
        if (logitsOutput is null)
        {
            return RewritePlan.Refuse(
                $"The graph has no output named '{logitsName}' (outputs: {string.Join(", ", g.Outputs.Select(o => o.Name))}).");
        }

        if (logitsOutput.Rank != 3)
        {
            return RewritePlan.Refuse(
                $"Output '{logitsName}' declares rank {logitsOutput.Rank?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}; expected [B,S,V].");
        }

        var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in g.Nodes)
        {
            foreach (var output in node.Outputs.Where(o => o.Length > 0))
            {
                if (!producers.TryAdd(output, node))
                {
                    return RewritePlan.Refuse($"Tensor '{output}' is produced by more than one node; the graph is not valid SSA.");
                }
            }

            foreach (var input in node.Inputs.Where(i => i.Length > 0))
            {
                consumers[input] = consumers.GetValueOrDefault(input) + 1;
            }
        }

        var graphOutputs = g.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var graphInputs = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var constness = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool IsConstant(string name) => IsConstantTensor(name, g, producers, graphInputs, constness);

        // Walk from the logits output back to the head, accepting only ops that keep positions apart.
        var chain = new List<OnnxNode>();
        var chainTensors = new HashSet<string>(StringComparer.Ordinal) { logitsName };
        var current = logitsName;
        OnnxNode? head = null;
        while (head is null)
        {
            if (!producers.TryGetValue(current, out var node))
            {
                return RewritePlan.Refuse($"Tensor '{current}' on the way back from '{logitsName}' is not produced by a node; no lm_head found.");
            }

            if (node.Outputs.Count(o => o.Length > 0) != 1)
            {
                return RewritePlan.Refuse($"{node.Label} on the chain to '{logitsName}' has several outputs.");
            }

            var extraUse = consumers.GetValueOrDefault(current) - (current == logitsName ? 0 : 1);
            if (extraUse > 0 || g.SubgraphReferences.Contains(current) || (current != logitsName && graphOutputs.Contains(current)))
            {
                return RewritePlan.Refuse(
                    $"Tensor '{current}' between the lm_head and '{logitsName}' is also used elsewhere (another node, a subgraph " +
                    "or a graph output); slicing it would change that use.");
            }

            if (node.HasSubgraph)
            {
                return RewritePlan.Refuse($"{node.Label} on the chain to '{logitsName}' has a subgraph.");
            }

            var kind = Classify(node);
            switch (kind)
            {
                case NodeKind.Head:
                    head = node;
                    continue;
                case NodeKind.Gemm:
                    return RewritePlan.Refuse(
                        $"The head is {node.Label}: Gemm is 2-D only, so positions are flattened together with the batch and a " +
                        "last-position slice is not an axis slice there.");
                case NodeKind.QuantizedHead:
                    return RewritePlan.Refuse(
                        $"The head is {node.Label}: its activation quantization parameters are computed over the whole tensor " +
                        "(dynamic quantization), so slicing one position would change the result.");
                case NodeKind.Unary:
                    if (node.Inputs.Skip(1).Any(i => i.Length > 0 && !IsConstant(i)))
                    {
                        return RewritePlan.Refuse($"{node.Label} on the chain has a non-constant extra operand.");
                    }

                    current = node.Inputs[0];
                    break;
                case NodeKind.Binary:
                    var operands = node.Inputs.Where(i => i.Length > 0).ToList();
                    var variable = operands.Where(i => !IsConstant(i)).ToList();
                    if (operands.Count != 2 || variable.Count != 1)
                    {
                        return RewritePlan.Refuse(
                            $"{node.Label} on the chain to '{logitsName}' does not combine the chain with exactly one constant " +
                            $"(operands: {string.Join(", ", operands)}); it may mix positions.");
                    }

                    var constant = operands.First(i => i != variable[0]);
                    var dims = ConstantDims(constant, g, producers);
                    if (dims is null)
                    {
                        return RewritePlan.Refuse(
                            $"Cannot read the shape of constant '{constant}' of {node.Label}; cannot prove it broadcasts the same over positions.");
                    }

                    if (dims.Count >= 2 && dims[^2] != 1)
                    {
                        return RewritePlan.Refuse(
                            $"Constant '{constant}' of {node.Label} has shape [{string.Join(",", dims)}], which varies along the sequence axis.");
                    }

                    current = variable[0];
                    break;
                case NodeKind.LastAxis:
                    var axis = node.Attribute("axis")?.Int;
                    var overVocab = axis is -1 or 2 || (axis is null && opset >= 13);
                    if (!overVocab)
                    {
                        return RewritePlan.Refuse(
                            $"{node.Label} on the chain normalises over axis {axis?.ToString(CultureInfo.InvariantCulture) ?? "(opset default 1)"}, not the vocabulary axis; it mixes positions.");
                    }

                    current = node.Inputs[0];
                    break;
                default:
                    return RewritePlan.Refuse(
                        $"{node.Label} on the chain from the lm_head to '{logitsName}' is not known to be position-wise.");
            }

            chain.Add(node);
            chainTensors.Add(current);
        }

        var headCheck = CheckHead(head, IsConstant);
        if (headCheck is not null)
        {
            return RewritePlan.Refuse(headCheck);
        }

        var activation = head.Inputs[0];
        chainTensors.Remove(activation);
        chainTensors.Add(head.Outputs[0]);
        if (graphOutputs.Contains(activation))
        {
            return RewritePlan.Refuse(
                $"The head's input '{activation}' is also a graph output; whoever reads it expects every position, so the graph is left alone.");
        }

        // A known rank gives the positive axis opset 10 understands; otherwise -2, which is the row axis of any
        // matmul activation of rank >= 2 (and axis 1 for the usual [B,S,D]).
        var activationRank = g.ValueInfos.Concat(g.Inputs).FirstOrDefault(v => v.Name == activation)?.Rank;
        long sliceAxis;
        if (activationRank is >= 2)
        {
            sliceAxis = activationRank.Value - 2;
        }
        else if (opset >= 11)
        {
            sliceAxis = -2;
        }
        else
        {
            return RewritePlan.Refuse($"Rank of '{activation}' is not declared and opset {opset} Slice does not take negative axes.");
        }

        var taken = CollectNames(g);
        string Fresh(string stem)
        {
            var name = stem;
            for (var n = 1; taken.Contains(name); n++)
            {
                name = $"{stem}_{n}";
            }

            taken.Add(name);
            return name;
        }

        var prefix = $"{activation}/last_position";
        var newNames = new[]
        {
            Fresh($"{prefix}/starts"), Fresh($"{prefix}/ends"), Fresh($"{prefix}/axes"), Fresh(prefix), Fresh($"{prefix}/Slice"),
        };

        chain.Reverse();
        var path = string.Join(" -> ", chain.Select(n => n.OpType));
        var description =
            $"Sliced '{activation}' to its last position (Slice axis {sliceAxis}) before {head.Label}; " +
            $"chain to '{logitsName}': {head.OpType}{(path.Length > 0 ? " -> " + path : "")}; '{logitsName}' is now [B,1,V].";
        return new RewritePlan(null, description, head, activation, sliceAxis, chainTensors, logitsName, newNames);
    }

    private enum NodeKind
    {
        Other,
        Head,
        Gemm,
        QuantizedHead,
        Unary,
        Binary,
        LastAxis,
    }

    private static NodeKind Classify(OnnxNode node)
    {
        if (node.IsDefaultDomain)
        {
            return node.OpType switch
            {
                "MatMul" => NodeKind.Head,
                "Gemm" => NodeKind.Gemm,
                "MatMulInteger" or "QLinearMatMul" => NodeKind.QuantizedHead,
                _ when UnaryPositionWise.Contains(node.OpType) => NodeKind.Unary,
                _ when BinaryPositionWise.Contains(node.OpType) => NodeKind.Binary,
                _ when LastAxisOnly.Contains(node.OpType) => NodeKind.LastAxis,
                _ => NodeKind.Other,
            };
        }

        if (node.Domain == MicrosoftDomain)
        {
            return node.OpType switch
            {
                "FusedMatMul" or "MatMulNBits" => NodeKind.Head,
                "DynamicQuantizeMatMul" or "MatMulIntegerToFloat" => NodeKind.QuantizedHead,
                "Gelu" or "FastGelu" or "QuickGelu" => NodeKind.Unary,
                _ => NodeKind.Other,
            };
        }

        return NodeKind.Other;
    }

    private static string? CheckHead(OnnxNode head, Func<string, bool> isConstant)
    {
        if (head.Inputs.Count < 2 || head.Inputs[0].Length == 0)
        {
            return $"{head.Label} has no activation input.";
        }

        if (isConstant(head.Inputs[0]))
        {
            return $"The first input of {head.Label} is a constant, so it is not the activation; the weight is on the left.";
        }

        if (head.OpType == "FusedMatMul")
        {
            if (head.Attribute("transA")?.Int is { } ta && ta != 0)
            {
                return $"{head.Label} transposes its activation (transA=1); its rows are not positions.";
            }

            if (head.Attribute("transBatchA")?.Int is { } tba && tba != 0)
            {
                return $"{head.Label} transposes its activation's batch axes (transBatchA=1).";
            }
        }

        var weights = head.Inputs.Skip(1).Where(i => i.Length > 0).ToList();
        var nonConstant = weights.Where(w => !isConstant(w)).ToList();
        if (nonConstant.Count > 0)
        {
            return $"{head.Label} takes non-constant weights ({string.Join(", ", nonConstant)}); it may not be the lm_head.";
        }

        return null;
    }

    private static bool IsConstantTensor(
        string name, OnnxGraph g, Dictionary<string, OnnxNode> producers, HashSet<string> graphInputs, Dictionary<string, bool> memo)
    {
        if (memo.TryGetValue(name, out var known))
        {
            return known;
        }

        // Guard against cycles in a malformed graph: assume non-constant while deciding.
        memo[name] = false;
        bool result;
        if (graphInputs.Contains(name))
        {
            // An initializer that is also a graph input can be overridden at run time (IR < 4 style).
            result = false;
        }
        else if (g.Initializers.ContainsKey(name) || g.SparseInitializers.Contains(name))
        {
            result = true;
        }
        else if (producers.TryGetValue(name, out var node) && !node.HasSubgraph)
        {
            var inputs = node.Inputs.Where(i => i.Length > 0).ToList();
            result = (node.IsDefaultDomain && node.OpType == "Constant")
                || (inputs.Count > 0 && !node.OpType.StartsWith("Random", StringComparison.Ordinal)
                    && inputs.All(i => IsConstantTensor(i, g, producers, graphInputs, memo)));
        }
        else
        {
            result = false;
        }

        memo[name] = result;
        return result;
    }

    // Dims of an initializer or Constant-node value; null when they cannot be read without evaluating ops.
    private static IReadOnlyList<long>? ConstantDims(string name, OnnxGraph g, Dictionary<string, OnnxNode> producers)
    {
        if (g.Initializers.TryGetValue(name, out var init))
        {
            return init.Dims;
        }

        if (!producers.TryGetValue(name, out var node) || !node.IsDefaultDomain || node.OpType != "Constant")
        {
            return null;
        }

        foreach (var attr in node.Attributes)
        {
            switch (attr.Name)
            {
                case "value" when attr.TensorDims is not null:
                    return attr.TensorDims;
                case "value_float" or "value_int":
                    return [];
                case "value_floats":
                    return [attr.FloatsCount];
                case "value_ints":
                    return [attr.IntsCount];
            }
        }

        return null;
    }

    private static HashSet<string> CollectNames(OnnxGraph g)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in g.Nodes)
        {
            names.UnionWith(node.Inputs);
            names.UnionWith(node.Outputs);
            names.Add(node.Name);
        }

        names.UnionWith(g.Initializers.Keys);
        names.UnionWith(g.SparseInitializers);
        names.UnionWith(g.Inputs.Select(i => i.Name));
        names.UnionWith(g.Outputs.Select(o => o.Name));
        names.UnionWith(g.ValueInfos.Select(v => v.Name));
        names.UnionWith(g.SubgraphReferences);
        return names;
    }

    // A run of the output: either new bytes or a range of the source model.
    private readonly record struct Piece(byte[]? Bytes, int SourceStart, int Length);

    private static byte[] Emit(ReadOnlySpan<byte> source, OnnxGraph g, RewritePlan plan)
    {
        var names = plan.NewNames!;
        var graphPieces = new List<Piece>();
        foreach (var field in g.GraphFields)
        {
            if (field.Number == OnnxFields.GraphNode && field.Start == plan.Head!.Field.Start)
            {
                // Inserting right before the head keeps topological order: the activation's producer precedes the head.
                var inserted = new List<byte>();
                AppendNode(inserted, Int64ConstantNode(names[0], -1));
                AppendNode(inserted, Int64ConstantNode(names[1], long.MaxValue));
                AppendNode(inserted, Int64ConstantNode(names[2], plan.Axis));
                AppendNode(inserted, SliceNode(plan.Activation!, names[0], names[1], names[2], names[3], names[4]));
                AppendNode(inserted, RewireFirstInput(source, field, names[3]));
                graphPieces.Add(new Piece([.. inserted], 0, inserted.Count));
                continue;
            }

            var isShapeToFix =
                (field.Number == OnnxFields.GraphOutput && g.Outputs.Any(o => o.Field.Start == field.Start && o.Name == plan.LogitsName))
                || (field.Number == OnnxFields.GraphValueInfo && g.ValueInfos.Any(v => v.Field.Start == field.Start && plan.ChainTensors!.Contains(v.Name)));
            if (isShapeToFix)
            {
                var rebuilt = new List<byte>();
                ProtoWire.WriteBytesField(rebuilt, field.Number, CollectionsMarshal.AsSpan(SetSequenceDimToOne(source, field)));
                graphPieces.Add(new Piece([.. rebuilt], 0, rebuilt.Count));
                continue;
            }

            AddSource(graphPieces, field.Start, field.End - field.Start);
        }

        return AssembleModel(source, g, graphPieces);
    }

    // The model's fields with the graph field rebuilt from the given pieces.
    private static byte[] AssembleModel(ReadOnlySpan<byte> source, OnnxGraph g, List<Piece> graphPieces)
    {
        long graphLength = graphPieces.Sum(p => (long)p.Length);
        var graphHeader = new List<byte>();
        ProtoWire.WriteTag(graphHeader, OnnxFields.ModelGraph, WireType.LengthDelimited);
        ProtoWire.WriteVarint(graphHeader, (ulong)graphLength);

        var modelPieces = new List<Piece>();
        foreach (var field in g.ModelFields)
        {
            if (field.Start == g.GraphField.Start)
            {
                modelPieces.Add(new Piece([.. graphHeader], 0, graphHeader.Count));
                modelPieces.AddRange(graphPieces);
            }
            else
            {
                AddSource(modelPieces, field.Start, field.End - field.Start);
            }
        }

        long total = modelPieces.Sum(p => (long)p.Length);
        if (total > Array.MaxLength)
        {
            throw new InvalidDataException($"The rewritten model would be {total} bytes, over the 2 GB protobuf limit.");
        }

        var output = new byte[total];
        var at = 0;
        foreach (var piece in modelPieces)
        {
            var bytes = piece.Bytes is null
                ? source.Slice(piece.SourceStart, piece.Length)
                : piece.Bytes.AsSpan(piece.SourceStart, piece.Length);
            bytes.CopyTo(output.AsSpan(at));
            at += piece.Length;
        }

        return output;
    }

    private static void AddSource(List<Piece> pieces, int start, int length)
    {
        // Adjacent untouched fields become one copy.
        if (pieces.Count > 0 && pieces[^1].Bytes is null && pieces[^1].SourceStart + pieces[^1].Length == start)
        {
            var last = pieces[^1];
            pieces[^1] = last with { Length = last.Length + length };
            return;
        }

        pieces.Add(new Piece(null, start, length));
    }

    private static void AppendNode(List<byte> into, List<byte> nodePayload) =>
        ProtoWire.WriteBytesField(into, OnnxFields.GraphNode, CollectionsMarshal.AsSpan(nodePayload));

    private static List<byte> Int64ConstantNode(string output, long value)
    {
        var tensor = new List<byte>();
        ProtoWire.WritePackedInt64Field(tensor, OnnxFields.TensorDims, [1]);
        ProtoWire.WriteVarintField(tensor, OnnxFields.TensorDataType, OnnxFields.TensorDataTypeInt64);
        ProtoWire.WritePackedInt64Field(tensor, OnnxFields.TensorInt64Data, [value]);
        ProtoWire.WriteStringField(tensor, OnnxFields.TensorName, output);

        var attribute = new List<byte>();
        ProtoWire.WriteStringField(attribute, OnnxFields.AttrName, "value");
        ProtoWire.WriteBytesField(attribute, OnnxFields.AttrT, CollectionsMarshal.AsSpan(tensor));
        ProtoWire.WriteVarintField(attribute, OnnxFields.AttrType, OnnxFields.AttrTypeTensor);

        var node = new List<byte>();
        ProtoWire.WriteStringField(node, OnnxFields.NodeOutput, output);
        ProtoWire.WriteStringField(node, OnnxFields.NodeName, output);
        ProtoWire.WriteStringField(node, OnnxFields.NodeOpType, "Constant");
        ProtoWire.WriteBytesField(node, OnnxFields.NodeAttribute, CollectionsMarshal.AsSpan(attribute));
        return node;
    }

    private static List<byte> SliceNode(string data, string starts, string ends, string axes, string output, string name)
    {
        var node = new List<byte>();
        foreach (var input in new[] { data, starts, ends, axes })
        {
            ProtoWire.WriteStringField(node, OnnxFields.NodeInput, input);
        }

        ProtoWire.WriteStringField(node, OnnxFields.NodeOutput, output);
        ProtoWire.WriteStringField(node, OnnxFields.NodeName, name);
        ProtoWire.WriteStringField(node, OnnxFields.NodeOpType, "Slice");
        return node;
    }

    // The head node with its first input renamed; every other field is copied as it was.
    private static List<byte> RewireFirstInput(ReadOnlySpan<byte> source, ProtoField nodeField, string newInput)
    {
        var node = new List<byte>();
        var seenInput = false;
        foreach (var f in ProtoWire.ReadFields(source, nodeField.ValueStart, nodeField.ValueEnd))
        {
            if (f.Number == OnnxFields.NodeInput && !seenInput)
            {
                seenInput = true;
                ProtoWire.WriteStringField(node, OnnxFields.NodeInput, newInput);
            }
            else
            {
                ProtoWire.CopyField(node, source, f);
            }
        }

        return node;
    }

    // ValueInfoProto with dim[-2] of its tensor shape set to the fixed value 1 (a symbolic sequence length would
    // now be a lie); other dims, element type, denotations and unknown fields are kept.
    private static List<byte> SetSequenceDimToOne(ReadOnlySpan<byte> source, ProtoField valueInfo) =>
        RebuildNested(source, valueInfo, [OnnxFields.ValueInfoType, OnnxFields.TypeTensorType, OnnxFields.TensorTypeShape], 0, (src, shape) =>
        {
            var dims = ProtoWire.ReadFields(src, shape.ValueStart, shape.ValueEnd);
            var dimIndices = dims.Select((d, i) => (d, i)).Where(x => x.d.Number == OnnxFields.ShapeDim).Select(x => x.i).ToList();
            var target = dimIndices.Count >= 2 ? dimIndices[^2] : -1;
            var rebuilt = new List<byte>();
            for (var i = 0; i < dims.Count; i++)
            {
                if (i != target)
                {
                    ProtoWire.CopyField(rebuilt, src, dims[i]);
                    continue;
                }

                var dim = new List<byte>();
                ProtoWire.WriteVarintField(dim, OnnxFields.DimValue, 1);
                foreach (var part in ProtoWire.ReadFields(src, dims[i].ValueStart, dims[i].ValueEnd))
                {
                    if (part.Number != OnnxFields.DimValue && part.Number != OnnxFields.DimParam)
                    {
                        ProtoWire.CopyField(dim, src, part);
                    }
                }

                ProtoWire.WriteBytesField(rebuilt, OnnxFields.ShapeDim, CollectionsMarshal.AsSpan(dim));
            }

            return rebuilt;
        });

    private delegate List<byte> LeafRewrite(ReadOnlySpan<byte> source, ProtoField leaf);

    // Re-serializes a message along a path of nested length-delimited fields, applying `leaf` at the end of the path.
    private static List<byte> RebuildNested(ReadOnlySpan<byte> source, ProtoField message, int[] path, int depth, LeafRewrite leaf)
    {
        if (depth == path.Length)
        {
            return leaf(source, message);
        }

        var rebuilt = new List<byte>();
        foreach (var f in ProtoWire.ReadFields(source, message.ValueStart, message.ValueEnd))
        {
            if (f.Number == path[depth] && f.Wire == WireType.LengthDelimited)
            {
                ProtoWire.WriteBytesField(rebuilt, f.Number, CollectionsMarshal.AsSpan(RebuildNested(source, f, path, depth + 1, leaf)));
            }
            else
            {
                ProtoWire.CopyField(rebuilt, source, f);
            }
        }

        return rebuilt;
    }
}
