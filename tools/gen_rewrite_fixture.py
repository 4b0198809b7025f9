#!/usr/bin/python3
"""Writes the small ONNX graphs that test DecoderGraphRewriter (tests/fixtures/onnx-rewrite).

Each graph mimics the tail of a decoder: hidden -> RMSNorm-like -> lm_head -> soft-cap -> logits, with a
dummy `present.0.key` output so the rewrite must leave other outputs alone. Weights come from a fixed
NumPy seed so re-running the script reproduces the committed files byte for byte.

Run with the Debian interpreter (it has onnx + numpy):  /usr/bin/python3 tools/gen_rewrite_fixture.py
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx-rewrite")
D, V = 32, 50
OPSET = 17


def rng(seed):
    return np.random.default_rng(seed)


def io(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def norm_nodes(x="inputs_embeds", out="hidden"):
    """RMSNorm as Gemma writes it: x / sqrt(mean(x^2) + eps) * (1 + w). Position-wise over the last axis."""
    return [
        helper.make_node("Mul", [x, x], ["sq"], name="norm_sq"),
        helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1], keepdims=1, name="norm_mean"),
        helper.make_node("Add", ["ms", "eps"], ["ms_eps"], name="norm_eps"),
        helper.make_node("Sqrt", ["ms_eps"], ["rms"], name="norm_sqrt"),
        helper.make_node("Div", [x, "rms"], ["xn"], name="norm_div"),
        helper.make_node("Mul", ["xn", "norm_scale"], [out], name="norm_scale_mul"),
    ], [init("eps", np.float32(1e-6)), init("norm_scale", (1.0 + rng(1).standard_normal(D) * 0.1).astype(np.float32))]


def present_nodes(x="inputs_embeds"):
    return [helper.make_node("Mul", [x, "two"], ["present.0.key"], name="dummy_present")], [init("two", np.float32(2.0))]


def softcap_nodes(src, out="logits", prefix="cap"):
    return [
        helper.make_node("Div", [src, "cap"], [f"{prefix}_div"], name=f"{prefix}_div"),
        helper.make_node("Tanh", [f"{prefix}_div"], [f"{prefix}_tanh"], name=f"{prefix}_tanh"),
        helper.make_node("Mul", [f"{prefix}_tanh", "cap"], [out], name=f"{prefix}_mul"),
    ], [init("cap", np.float32(30.0))]


def model(nodes, inits, outputs, extra_opsets=(), infer=False):
    graph = helper.make_graph(
        nodes, "decoder_tail",
        [io("inputs_embeds", ["batch_size", "sequence_length", D])],
        outputs, initializer=inits)
    opsets = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="gen_rewrite_fixture")
    m.ir_version = 8
    if infer:
        m = onnx.shape_inference.infer_shapes(m)
    if not extra_opsets:
        onnx.checker.check_model(m)
    return m


def std_outputs(extra=()):
    return [io("logits", ["batch_size", "sequence_length", V]),
            io("present.0.key", ["batch_size", "sequence_length", D])] + list(extra)


def head_weight(seed=2):
    return (rng(seed).standard_normal((D, V)) * 0.5).astype(np.float32)


def matmul_softcap():
    """(1) MatMul head + Div/Tanh/Mul soft-cap; shape inference fills value_info so the rewrite must fix it."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("head")
    nodes = n1 + n2 + [helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head")] + n3
    return model(nodes, i1 + i2 + i3 + [init("lm_head.weight", head_weight())], std_outputs(), infer=True)


def tied_transpose():
    """(2) Tied head: Transpose(embedding) feeds the MatMul; a bias Add, LogSoftmax(-1) and Cast sit on the chain."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("biased", out="capped")
    emb = (rng(3).standard_normal((V, D)) * 0.5).astype(np.float32)
    nodes = n1 + n2 + [
        helper.make_node("Transpose", ["embed_tokens.weight"], ["embed_t"], perm=[1, 0], name="tie_transpose"),
        helper.make_node("MatMul", ["hidden", "embed_t"], ["head"], name="lm_head"),
        helper.make_node("Add", ["head", "head_bias"], ["biased"], name="head_bias_add"),
    ] + n3 + [
        helper.make_node("LogSoftmax", ["capped"], ["logp"], axis=-1, name="logsoftmax_vocab"),
        helper.make_node("Cast", ["logp"], ["logits"], to=TensorProto.FLOAT, name="cast_out"),
    ]
    inits = i1 + i2 + i3 + [init("embed_tokens.weight", emb),
                            init("head_bias", (rng(4).standard_normal((1, 1, V)) * 0.1).astype(np.float32))]
    return model(nodes, inits, std_outputs())


def gemm_head():
    """(3) Gemm head: Gemm is 2-D only, so positions are flattened with the batch and reshaped back. Refused."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("gemm_out", out="capped")
    nodes = n1 + n2 + [
        helper.make_node("Shape", ["hidden"], ["hshape"], name="hidden_shape"),
        helper.make_node("Slice", ["hshape", "zero1", "two1"], ["bs"], name="hidden_bs"),
        helper.make_node("Concat", ["bs", "vocab1"], ["out_shape"], axis=0, name="out_shape"),
        helper.make_node("Reshape", ["hidden", "flat_shape"], ["flat"], name="flatten_rows"),
        helper.make_node("Gemm", ["flat", "lm_head.weight", "lm_head.bias"], ["gemm_out"], transB=1, name="lm_head"),
    ] + n3 + [helper.make_node("Reshape", ["capped", "out_shape"], ["logits"], name="unflatten_rows")]
    inits = i1 + i2 + i3 + [
        init("zero1", np.array([0], np.int64)), init("two1", np.array([2], np.int64)),
        init("vocab1", np.array([V], np.int64)), init("flat_shape", np.array([-1, D], np.int64)),
        init("lm_head.weight", head_weight().T.copy()), init("lm_head.bias", np.zeros(V, np.float32))]
    return model(nodes, inits, std_outputs())


def hidden_is_output():
    """(4) The normed hidden state feeding the head is also a graph output. Refused."""
    m = matmul_softcap()
    m.graph.output.append(io("hidden", ["batch_size", "sequence_length", D]))
    return m


def head_branch():
    """(4b) The head output has a second consumer (a max over the vocab, exported). Refused."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("head")
    nodes = n1 + n2 + [helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head"),
                       helper.make_node("ReduceMax", ["head"], ["head_max"], axes=[-1], keepdims=1, name="head_max")] + n3
    return model(nodes, i1 + i2 + i3 + [init("lm_head.weight", head_weight())],
                 std_outputs([io("head_max", ["batch_size", "sequence_length", 1])]))


def softmax_seq():
    """(5) Softmax over axis 1 (the sequence) on the chain mixes positions. Refused."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    nodes = n1 + n2 + [
        helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head"),
        helper.make_node("Softmax", ["head"], ["logits"], axis=1, name="softmax_over_seq")]
    return model(nodes, i1 + i2 + [init("lm_head.weight", head_weight())], std_outputs())


def reduce_seq():
    """(5b) Logits minus their mean over the sequence: the Sub's second operand is not a constant. Refused."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    nodes = n1 + n2 + [
        helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head"),
        helper.make_node("Tanh", ["head"], ["t"], name="t"),
        helper.make_node("ReduceMean", ["t"], ["tmean"], axes=[1], keepdims=1, name="mean_over_seq"),
        helper.make_node("Sub", ["t", "tmean"], ["logits"], name="centre")]
    return model(nodes, i1 + i2 + [init("lm_head.weight", head_weight())], std_outputs())


def matmul_nbits():
    """(6) 4-bit MatMulNBits head (com.microsoft), as in q4 exports. Weights are random nibbles."""
    block = 16
    n_blocks = D // block
    r = rng(5)
    packed = r.integers(0, 256, size=(V, n_blocks, block // 2), dtype=np.uint8)
    scales = (r.random(V * n_blocks) * 0.05 + 0.01).astype(np.float32)
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("head")
    nodes = n1 + n2 + [helper.make_node("MatMulNBits", ["hidden", "lm_head.qweight", "lm_head.scales"], ["head"],
                                        domain="com.microsoft", K=D, N=V, bits=4, block_size=block,
                                        name="lm_head")] + n3
    return model(nodes, i1 + i2 + i3 + [init("lm_head.qweight", packed), init("lm_head.scales", scales)],
                 std_outputs(), extra_opsets=[("com.microsoft", 1)])


def fused_matmul_tied():
    """(7) FusedMatMul(hidden, embedding, transB=1) as ORT's optimizer writes a tied head (com.microsoft)."""
    emb = (rng(6).standard_normal((V, D)) * 0.5).astype(np.float32)
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    n3, i3 = softcap_nodes("head")
    nodes = n1 + n2 + [helper.make_node("FusedMatMul", ["hidden", "embed_tokens.weight"], ["head"],
                                        domain="com.microsoft", transA=0, transB=1, alpha=1.0,
                                        name="lm_head")] + n3
    return model(nodes, i1 + i2 + i3 + [init("embed_tokens.weight", emb)], std_outputs(),
                 extra_opsets=[("com.microsoft", 1)])


def seq_bias():
    """(5c) A bias constant of shape [1,7,V]: it differs per position, so slicing would pair the wrong rows. Refused."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    nodes = n1 + n2 + [
        helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head"),
        helper.make_node("Add", ["head", "pos_bias"], ["logits"], name="per_position_bias")]
    bias = rng(7).standard_normal((1, 7, V)).astype(np.float32)
    return model(nodes, i1 + i2 + [init("lm_head.weight", head_weight()), init("pos_bias", bias)], std_outputs())


def constant_node_cap():
    """(8) Soft-cap constants as Constant nodes (value_float and a [1,1,V]-shaped value tensor), not initializers."""
    n1, i1 = norm_nodes()
    n2, i2 = present_nodes()
    nodes = n1 + n2 + [
        helper.make_node("Constant", [], ["capc"], value_float=30.0, name="cap_const"),
        helper.make_node("Constant", [], ["vocab_scale"], name="vocab_scale_const",
                         value=numpy_helper.from_array((1.0 + rng(8).random((1, 1, V)) * 0.1).astype(np.float32))),
        helper.make_node("MatMul", ["hidden", "lm_head.weight"], ["head"], name="lm_head"),
        helper.make_node("Mul", ["vocab_scale", "head"], ["scaled"], name="vocab_scale"),
        helper.make_node("Div", ["scaled", "capc"], ["d"], name="cap_div"),
        helper.make_node("Tanh", ["d"], ["t"], name="cap_tanh"),
        helper.make_node("Mul", ["t", "capc"], ["logits"], name="cap_mul")]
    return model(nodes, i1 + i2 + [init("lm_head.weight", head_weight())], std_outputs())


def save(m, name, external=False):
    path = os.path.join(OUT, name)
    if external:
        data = name + "_data"
        if os.path.exists(os.path.join(OUT, data)):
            os.remove(os.path.join(OUT, data))
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=0)
    else:
        onnx.save_model(m, path)
    print("wrote", path, os.path.getsize(path), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    save(matmul_softcap(), "matmul_softcap.onnx")
    save(tied_transpose(), "tied_transpose.onnx")
    save(gemm_head(), "gemm_head.onnx")
    save(hidden_is_output(), "hidden_is_output.onnx")
    save(head_branch(), "head_branch.onnx")
    save(softmax_seq(), "softmax_seq.onnx")
    save(reduce_seq(), "reduce_seq.onnx")
    save(seq_bias(), "seq_bias.onnx")
    save(constant_node_cap(), "constant_node_cap.onnx")
    save(matmul_nbits(), "matmul_nbits.onnx")
    save(fused_matmul_tied(), "fused_matmul_tied.onnx")
    save(matmul_softcap(), "matmul_external.onnx", external=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
