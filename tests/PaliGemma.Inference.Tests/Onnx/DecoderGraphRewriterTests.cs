using Microsoft.ML.OnnxRuntime;
using PaliGemma.Inference.Onnx;
using static PaliGemma.Inference.Tests.Onnx.OnnxTestSupport;

namespace PaliGemma.Inference.Tests.Onnx;

public sealed class DecoderGraphRewriterTests
{
    private const int HiddenSize = 32; // D in tools/gen_rewrite_fixture.py
    private const int Vocab = 50;      // V in tools/gen_rewrite_fixture.py

    public static TheoryData<string, int, int> RewritableCases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var file in new[] { "matmul_softcap.onnx", "tied_transpose.onnx", "matmul_nbits.onnx", "fused_matmul_tied.onnx", "constant_node_cap.onnx" })
        {
            foreach (var (b, s) in new[] { (1, 1), (1, 7), (3, 1), (3, 7) })
            {
                data.Add(file, b, s);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RewritableCases))]
    public void Rewritten_graph_returns_the_original_last_position(string file, int batch, int seq)
    {
        // Given a decoder tail and its rewrite
        var original = File.ReadAllBytes(Fixture(file));
        var result = DecoderGraphRewriter.TrySliceLastPosition(original);
        Assert.True(result.Rewritten, result.Description);
        Assert.NotNull(result.Model);
        Assert.Contains("before", result.Description, StringComparison.Ordinal);

        // When both run on the same random inputs
        var input = RandomNormal(batch * seq * HiddenSize, seed: (batch * 100) + seq);
        long[] shape = [batch, seq, HiddenSize];
        using var originalSession = new InferenceSession(original);
        using var rewrittenSession = new InferenceSession(result.Model);
        var expected = Run(originalSession, "inputs_embeds", input, shape);
        var actual = Run(rewrittenSession, "inputs_embeds", input, shape);

        // Then logits are [B,1,V] and equal the original's last row, and other outputs are untouched
        Assert.Equal([batch, seq, Vocab], expected["logits"].Shape);
        Assert.Equal([batch, 1, Vocab], actual["logits"].Shape);
        Assert.True(MaxAbsDiff(LastPosition(expected["logits"]), actual["logits"].Data) < 1e-5f);
        Assert.Equal(expected["present.0.key"].Shape, actual["present.0.key"].Shape);
        Assert.Equal(expected["present.0.key"].Data, actual["present.0.key"].Data);
    }

    [Theory]
    [InlineData("gemm_head.onnx", "Reshape")]
    [InlineData("hidden_is_output.onnx", "also a graph output")]
    [InlineData("head_branch.onnx", "also used elsewhere")]
    [InlineData("softmax_seq.onnx", "normalises over axis 1")]
    [InlineData("reduce_seq.onnx", "exactly one constant")]
    [InlineData("seq_bias.onnx", "varies along the sequence axis")]
    public void Ambiguous_or_position_mixing_graphs_are_refused(string file, string reasonFragment)
    {
        var result = DecoderGraphRewriter.TrySliceLastPosition(File.ReadAllBytes(Fixture(file)));

        Assert.False(result.Rewritten);
        Assert.Null(result.Model);
        Assert.Contains(reasonFragment, result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_output_name_and_garbage_bytes_are_refused_with_reasons()
    {
        var missing = DecoderGraphRewriter.TrySliceLastPosition(File.ReadAllBytes(Fixture("matmul_softcap.onnx")), "lm_logits");
        Assert.False(missing.Rewritten);
        Assert.Contains("no output named 'lm_logits'", missing.Description, StringComparison.Ordinal);

        var garbage = DecoderGraphRewriter.TrySliceLastPosition([0x0A, 0xFF, 0x01, 0x02]);
        Assert.False(garbage.Rewritten);
        Assert.Contains("Not a ModelProto", garbage.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_names_the_sliced_tensor_the_head_and_the_chain()
    {
        var result = DecoderGraphRewriter.TrySliceLastPosition(File.ReadAllBytes(Fixture("tied_transpose.onnx")));

        Assert.True(result.Rewritten, result.Description);
        Assert.Contains("'hidden'", result.Description, StringComparison.Ordinal);
        Assert.Contains("MatMul 'lm_head'", result.Description, StringComparison.Ordinal);
        Assert.Contains("MatMul -> Add -> Div -> Tanh -> Mul -> LogSoftmax -> Cast", result.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("matmul_softcap.onnx")]
    [InlineData("matmul_nbits.onnx")]
    [InlineData("gemm_head.onnx")]
    [InlineData("matmul_external.onnx")]
    public void Reserializing_an_unmodified_parse_gives_identical_bytes(string file)
    {
        var bytes = File.ReadAllBytes(Fixture(file));
        var graph = OnnxGraph.Parse(bytes);

        // Copy every model field, and inside the graph every graph field, with freshly written headers.
        var graphBody = new List<byte>();
        foreach (var f in graph.GraphFields)
        {
            ProtoWire.CopyField(graphBody, bytes, f);
        }

        var model = new List<byte>();
        foreach (var f in graph.ModelFields)
        {
            if (f.Number == OnnxFields.ModelGraph)
            {
                ProtoWire.WriteBytesField(model, f.Number, graphBody.ToArray());
            }
            else
            {
                ProtoWire.CopyField(model, bytes, f);
            }
        }

        Assert.Equal(bytes, model.ToArray());
    }

    [Fact]
    public void Unknown_fields_in_the_model_graph_and_head_node_survive_the_rewrite()
    {
        // Given matmul_softcap with fields no onnx.proto version defines (900-902) added at three levels
        var bytes = File.ReadAllBytes(Fixture("matmul_softcap.onnx"));
        var graph = OnnxGraph.Parse(bytes);
        var head = graph.Nodes.Single(n => n.Name == "lm_head");
        var graphBody = new List<byte>();
        foreach (var f in graph.GraphFields)
        {
            if (f.Start == head.Field.Start)
            {
                var node = new List<byte>();
                foreach (var nf in ProtoWire.ReadFields(bytes, f.ValueStart, f.ValueEnd))
                {
                    ProtoWire.CopyField(node, bytes, nf);
                }

                ProtoWire.WriteStringField(node, 902, "node-extension");
                ProtoWire.WriteBytesField(graphBody, OnnxFields.GraphNode, node.ToArray());
            }
            else
            {
                ProtoWire.CopyField(graphBody, bytes, f);
            }
        }

        ProtoWire.WriteStringField(graphBody, 901, "graph-extension");
        var model = new List<byte>();
        foreach (var f in graph.ModelFields)
        {
            if (f.Number == OnnxFields.ModelGraph)
            {
                ProtoWire.WriteBytesField(model, f.Number, graphBody.ToArray());
            }
            else
            {
                ProtoWire.CopyField(model, bytes, f);
            }
        }

        ProtoWire.WriteVarintField(model, 900, 12345);
        var extended = model.ToArray();

        // When it is rewritten
        var result = DecoderGraphRewriter.TrySliceLastPosition(extended);
        Assert.True(result.Rewritten, result.Description);

        // Then each unknown field is still there, at its level
        var after = OnnxGraph.Parse(result.Model!);
        Assert.Equal(12345UL, after.ModelFields.Single(f => f.Number == 900).Varint);
        Assert.Equal("graph-extension", after.GraphFields.Single(f => f.Number == 901).String(result.Model));
        var newHead = after.Nodes.Single(n => n.Name == "lm_head");
        Assert.Equal(
            "node-extension",
            ProtoWire.ReadFields(result.Model, newHead.Field.ValueStart, newHead.Field.ValueEnd).Single(f => f.Number == 902).String(result.Model));
        using var session = new InferenceSession(result.Model!);
        Assert.Equal([-1, 1, Vocab], session.OutputMetadata["logits"].Dimensions);
    }

    [Fact]
    public void Rewrite_touches_only_the_head_node_the_logits_shapes_and_adds_four_nodes()
    {
        var bytes = File.ReadAllBytes(Fixture("matmul_softcap.onnx"));
        var rewritten = DecoderGraphRewriter.TrySliceLastPosition(bytes).Model!;
        var before = OnnxGraph.Parse(bytes);
        var after = OnnxGraph.Parse(rewritten);

        // Non-graph model fields (ir_version, producer, opset imports) are byte-identical.
        Assert.Equal(
            before.ModelFields.Where(f => f.Number != OnnxFields.ModelGraph).Select(f => bytes[f.Start..f.End]),
            after.ModelFields.Where(f => f.Number != OnnxFields.ModelGraph).Select(f => rewritten[f.Start..f.End]));

        // Every initializer and graph input is byte-identical.
        byte[][] Raw(OnnxGraph g, byte[] src, int number) =>
            [.. g.GraphFields.Where(f => f.Number == number).Select(f => src[f.Start..f.End])];
        Assert.Equal(Raw(before, bytes, OnnxFields.GraphInitializer), Raw(after, rewritten, OnnxFields.GraphInitializer));
        Assert.Equal(Raw(before, bytes, OnnxFields.GraphInput), Raw(after, rewritten, OnnxFields.GraphInput));

        // Nodes: four new ones right before the head; all others byte-identical and in order.
        var oldNodes = Raw(before, bytes, OnnxFields.GraphNode);
        var newNodes = Raw(after, rewritten, OnnxFields.GraphNode);
        Assert.Equal(oldNodes.Length + 4, newNodes.Length);
        var headIndex = before.Nodes.FindIndex(n => n.Name == "lm_head");
        Assert.Equal(["Constant", "Constant", "Constant", "Slice", "MatMul"], after.Nodes.Skip(headIndex).Take(5).Select(n => n.OpType));
        Assert.Equal(oldNodes.Take(headIndex), newNodes.Take(headIndex));
        Assert.Equal(oldNodes.Skip(headIndex + 1), newNodes.Skip(headIndex + 5));
        var slice = after.Nodes[headIndex + 3];
        Assert.Equal("hidden", slice.Inputs[0]);
        Assert.Equal(slice.Outputs[0], after.Nodes[headIndex + 4].Inputs[0]);
        Assert.Equal("lm_head.weight", after.Nodes[headIndex + 4].Inputs[1]);

        // Shape inference had written [batch, sequence_length, V] value_info along the chain: dim 1 is now 1.
        Assert.Equal(before.ValueInfos.Select(v => v.Name), after.ValueInfos.Select(v => v.Name));
        var summary = OnnxModelInfo.Read(rewritten);
        Assert.Equal(OnnxModelInfo.Read(bytes).OpsetImports, summary.OpsetImports);
        Assert.Equal(before.Nodes.Count + 4, summary.NodeCount);
    }

    [Fact]
    public void Logits_declared_sequence_dim_becomes_fixed_one_everywhere_on_the_chain()
    {
        var rewritten = DecoderGraphRewriter.TrySliceLastPosition(File.ReadAllBytes(Fixture("matmul_softcap.onnx"))).Model!;

        // ORT reports declared output shapes with symbolic dims as -1: before [-1,-1,50], after [-1,1,50].
        using var session = new InferenceSession(rewritten);
        Assert.Equal([-1, 1, Vocab], session.OutputMetadata["logits"].Dimensions);
        Assert.Equal("batch_size", session.OutputMetadata["logits"].SymbolicDimensions[0]);
        Assert.Equal([-1, -1, HiddenSize], session.OutputMetadata["present.0.key"].Dimensions);

        // The intermediate value_info (head, cap_div, cap_tanh) carries the fixed 1 too: find the dim_value
        // bytes (field 1, varint 1) in each rebuilt entry by re-reading its shape.
        var graph = OnnxGraph.Parse(rewritten);
        foreach (var name in new[] { "head", "cap_div", "cap_tanh" })
        {
            var vi = graph.ValueInfos.Single(v => v.Name == name);
            Assert.Equal(3, vi.Rank);
            Assert.Equal([null, 1L, Vocab], DimValues(rewritten, vi.Field));
        }

        Assert.Equal([null, null, HiddenSize], DimValues(rewritten, graph.ValueInfos.Single(v => v.Name == "hidden").Field));
    }

    private static long?[] DimValues(byte[] src, ProtoField valueInfo)
    {
        var type = ProtoWire.ReadFields(src, valueInfo.ValueStart, valueInfo.ValueEnd).Single(f => f.Number == OnnxFields.ValueInfoType);
        var tensor = ProtoWire.ReadFields(src, type.ValueStart, type.ValueEnd).Single(f => f.Number == OnnxFields.TypeTensorType);
        var shape = ProtoWire.ReadFields(src, tensor.ValueStart, tensor.ValueEnd).Single(f => f.Number == OnnxFields.TensorTypeShape);
        return [.. ProtoWire.ReadFields(src, shape.ValueStart, shape.ValueEnd)
            .Where(f => f.Number == OnnxFields.ShapeDim)
            .Select(d => ProtoWire.ReadFields(src, d.ValueStart, d.ValueEnd)
                .Where(p => p.Number == OnnxFields.DimValue).Select(p => (long?)p.Varint).FirstOrDefault())];
    }

    [Fact]
    public void Rewritten_bytes_of_an_external_data_model_load_with_the_external_initializers_folder_key()
    {
        // Given a model whose weights are in matmul_external.onnx_data next to it
        var path = Fixture("matmul_external.onnx");
        var original = File.ReadAllBytes(path);
        Assert.True(OnnxModelInfo.Read(original).HasExternalData);
        var result = DecoderGraphRewriter.TrySliceLastPosition(original);
        Assert.True(result.Rewritten, result.Description);

        // When the rewritten bytes are loaded from memory with the folder config entry
        using var options = new SessionOptions();
        options.AddSessionConfigEntry(OnnxModelInfo.ExternalInitializersFolderConfigKey, FixtureFolder);
        using var rewritten = new InferenceSession(result.Model!, options);
        using var reference = new InferenceSession(path);

        // Then they compute the original's last position
        var input = RandomNormal(2 * 5 * HiddenSize, seed: 7);
        long[] shape = [2, 5, HiddenSize];
        var expected = LastPosition(Run(reference, "inputs_embeds", input, shape)["logits"]);
        var actual = Run(rewritten, "inputs_embeds", input, shape)["logits"];
        Assert.Equal([2, 1, Vocab], actual.Shape);
        Assert.True(MaxAbsDiff(expected, actual.Data) < 1e-5f);
    }

    [Fact]
    public void Rewritten_bytes_of_an_external_data_model_do_not_load_without_a_folder()
    {
        // Documents why the config key is needed: from memory, ORT has no folder to resolve the .onnx_data in
        // (it falls back to the working directory, which does not hold the file).
        var result = DecoderGraphRewriter.TrySliceLastPosition(File.ReadAllBytes(Fixture("matmul_external.onnx")));
        Assert.True(result.Rewritten, result.Description);
        Assert.ThrowsAny<OnnxRuntimeException>(() => new InferenceSession(result.Model!).Dispose());
    }

    [Fact]
    public void RewriteFile_writes_next_to_external_data_and_refuses_where_it_would_not_resolve()
    {
        var temp = Directory.CreateTempSubdirectory("onnx-rewrite-");
        try
        {
            File.Copy(Fixture("matmul_external.onnx"), Path.Combine(temp.FullName, "decoder.onnx"));
            File.Copy(Fixture("matmul_external.onnx_data"), Path.Combine(temp.FullName, "matmul_external.onnx_data"));
            var elsewhere = Directory.CreateDirectory(Path.Combine(temp.FullName, "elsewhere"));

            var refused = DecoderGraphRewriter.RewriteFile(
                Path.Combine(temp.FullName, "decoder.onnx"), Path.Combine(elsewhere.FullName, "decoder_last.onnx"));
            Assert.False(refused.Rewritten);
            Assert.Contains("matmul_external.onnx_data", refused.Description, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(elsewhere.FullName, "decoder_last.onnx")));

            var outPath = Path.Combine(temp.FullName, "decoder_last.onnx");
            var written = DecoderGraphRewriter.RewriteFile(Path.Combine(temp.FullName, "decoder.onnx"), outPath);
            Assert.True(written.Rewritten, written.Description);
            Assert.Equal(written.Model, File.ReadAllBytes(outPath));

            // Loaded by path, ORT resolves the data file next to the rewritten model on its own.
            using var session = new InferenceSession(outPath);
            var logits = Run(session, "inputs_embeds", RandomNormal(3 * 4 * HiddenSize, seed: 3), [3, 4, HiddenSize])["logits"];
            Assert.Equal([3, 1, Vocab], logits.Shape);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    [Fact]
    public void Inspect_lists_opsets_and_nodes()
    {
        var summary = OnnxModelInfo.ReadFile(Fixture("matmul_nbits.onnx"));

        Assert.Contains(new OnnxOpsetImport("", 17), summary.OpsetImports);
        Assert.Contains(new OnnxOpsetImport("com.microsoft", 1), summary.OpsetImports);
        Assert.Equal(11, summary.NodeCount); // 6 norm + 1 present + head + 3 soft-cap
        Assert.Contains("MatMulNBits", summary.NodeOpTypes);
        Assert.Equal(["inputs_embeds"], summary.Inputs);
        Assert.Equal(["logits", "present.0.key"], summary.Outputs);
        Assert.False(summary.HasExternalData);
    }
}
