#!/usr/bin/python3
"""Converts big_vision's PaliGemma mask VQ-VAE checkpoint (vae-oid.npz) into vae_decoder.onnx.

    /usr/bin/python3 tools/convert_vae_oid.py vae-oid.npz vae_decoder.onnx

Needs only NumPy and the `onnx` package (Debian: python3-numpy python3-onnx); no torch, no network.

The graph (opset 17):
    seg_indices  int64 [B,16]          sixteen <segNNN> codes per object
    -> Gather(codebook [K,D])          [B,16,D]
    -> Reshape [B,4,4,D] -> NCHW       code i sits at row i // 4, column i % 4 (row-major, as big_vision)
    -> Conv1x1 D->C + ReLU             decoder.0
    -> 2 x residual block              decoder.{2,3}.net.{0,2,4}: 3x3, ReLU, 3x3, ReLU, 1x1, plus the input
    -> 4 x ConvTranspose k4 s2 p1+ReLU decoder.{4,6,8,10}: 4x4 -> 64x64 (C -> C -> C/2 -> C/4 -> C/8 in vae-oid)
    -> Conv1x1 -> 1                    decoder.12
    masks        float [B,64,64]       logits; a pixel is inside the mask when its (resized) value > 0

Weights are in the file's PyTorch layout: Conv [out, in, kh, kw], ConvTranspose [in, out, kh, kw], which is
also ONNX's layout, so they are copied unchanged. Every width (codebook size K, code width D, channel counts)
is read from the file and the shapes are checked against each other; vae-oid.npz has K=128, D=512 and
channels 128 -> 128 -> 64 -> 32 -> 16 -> 1. The codebook size is also written to the model's metadata
(`codebook_size`) so the runtime can refuse codes the Gather would reject.
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
TOKENS = 16
GRID = 4
RES_BLOCKS = ("decoder.2.net", "decoder.3.net")
UPSAMPLE = ("decoder.4", "decoder.6", "decoder.8", "decoder.10")
EXPECTED_KEYS = (
    ["_vq_vae._embedding", "decoder.0.weight", "decoder.0.bias"]
    + [f"{b}.{i}.{p}" for b in RES_BLOCKS for i in (0, 2, 4) for p in ("weight", "bias")]
    + [f"{u}.{p}" for u in UPSAMPLE for p in ("weight", "bias")]
    + ["decoder.12.weight", "decoder.12.bias"]
)


class CheckpointError(Exception):
    """The npz is not the VQ-VAE decoder this script knows."""


def load_checkpoint(path):
    """Reads the npz and checks keys and shapes; returns (params as float32 arrays, K, D, mask size)."""
    try:
        with np.load(path) as npz:
            params = {k: np.asarray(npz[k]) for k in npz.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read as .npz ({e})") from e
    missing = [k for k in EXPECTED_KEYS if k not in params]
    if missing:
        raise CheckpointError(f"{path}: missing keys {missing}; expected the vae-oid.npz keys {EXPECTED_KEYS}")
    params = {k: params[k].astype(np.float32) for k in EXPECTED_KEYS}

    def shape(key, rank):
        s = params[key].shape
        if len(s) != rank:
            raise CheckpointError(f"{path}: {key} has shape {s}, expected rank {rank}")
        return s

    def bias(key, n):
        if params[key].shape != (n,):
            raise CheckpointError(f"{path}: {key} has shape {params[key].shape}, expected ({n},)")

    def conv(prefix, cin, k):
        out, inp, kh, kw = shape(prefix + ".weight", 4)
        if inp != cin or (kh, kw) != (k, k):
            raise CheckpointError(f"{path}: {prefix}.weight is {params[prefix + '.weight'].shape}, expected [out, {cin}, {k}, {k}] (PyTorch Conv layout)")
        bias(prefix + ".bias", out)
        return out

    k_codes, d = shape("_vq_vae._embedding", 2)
    c = conv("decoder.0", d, 1)
    for block in RES_BLOCKS:
        for i, k in ((0, 3), (2, 3), (4, 1)):
            if conv(f"{block}.{i}", c, k) != c:
                raise CheckpointError(f"{path}: {block}.{i} must keep {c} channels for the residual sum")
    size = GRID
    for u in UPSAMPLE:
        cin, out, kh, kw = shape(u + ".weight", 4)
        if cin != c or (kh, kw) != (4, 4):
            raise CheckpointError(f"{path}: {u}.weight is {params[u + '.weight'].shape}, expected [{c}, out, 4, 4] (PyTorch ConvTranspose layout)")
        bias(u + ".bias", out)
        c = out
        size *= 2
    if conv("decoder.12", c, 1) != 1:
        raise CheckpointError(f"{path}: decoder.12 must produce one channel")
    return params, k_codes, d, size


def build_model(params, k_codes, d, size):
    """The decoder as an ONNX model; weights copied in their PyTorch layout."""
    inits = [numpy_helper.from_array(v, name=k) for k, v in params.items()]
    inits.append(numpy_helper.from_array(np.array([-1, GRID, GRID, d], dtype=np.int64), "grid_shape"))
    inits.append(numpy_helper.from_array(np.array([-1, size, size], dtype=np.int64), "mask_shape"))
    nodes = [
        helper.make_node("Gather", ["_vq_vae._embedding", "seg_indices"], ["codes"], axis=0, name="codebook_lookup"),
        helper.make_node("Reshape", ["codes", "grid_shape"], ["grid_nhwc"], name="to_grid"),
        helper.make_node("Transpose", ["grid_nhwc"], ["grid"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["grid", "decoder.0.weight", "decoder.0.bias"], ["c0"], kernel_shape=[1, 1], name="decoder.0"),
        helper.make_node("Relu", ["c0"], ["h0"], name="decoder.1"),
    ]
    x = "h0"
    for n, block in enumerate(RES_BLOCKS):
        p = f"res{n}"
        nodes += [
            helper.make_node("Conv", [x, f"{block}.0.weight", f"{block}.0.bias"], [p + "_a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"{block}.0"),
            helper.make_node("Relu", [p + "_a"], [p + "_ar"], name=f"{block}.1"),
            helper.make_node("Conv", [p + "_ar", f"{block}.2.weight", f"{block}.2.bias"], [p + "_b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"{block}.2"),
            helper.make_node("Relu", [p + "_b"], [p + "_br"], name=f"{block}.3"),
            helper.make_node("Conv", [p + "_br", f"{block}.4.weight", f"{block}.4.bias"], [p + "_c"], kernel_shape=[1, 1], name=f"{block}.4"),
            helper.make_node("Add", [p + "_c", x], [p], name=f"{block}.residual"),
        ]
        x = p
    for n, u in enumerate(UPSAMPLE):
        nodes += [
            helper.make_node("ConvTranspose", [x, u + ".weight", u + ".bias"], [f"up{n}"], kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1], name=u),
            helper.make_node("Relu", [f"up{n}"], [f"up{n}_r"], name=f"{u}.relu"),
        ]
        x = f"up{n}_r"
    nodes += [
        helper.make_node("Conv", [x, "decoder.12.weight", "decoder.12.bias"], ["logits"], kernel_shape=[1, 1], name="decoder.12"),
        helper.make_node("Reshape", ["logits", "mask_shape"], ["masks"], name="squeeze_channel"),
    ]
    graph = helper.make_graph(
        nodes, "vae_oid_decoder",
        [helper.make_tensor_value_info("seg_indices", TensorProto.INT64, ["batch", TOKENS])],
        [helper.make_tensor_value_info("masks", TensorProto.FLOAT, ["batch", size, size])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convert_vae_oid.py")
    model.ir_version = 8  # opset 17's IR; older ONNX Runtime builds reject newer IR versions
    helper.set_model_props(model, {"codebook_size": str(k_codes), "code_width": str(d), "mask_size": str(size)})
    onnx.checker.check_model(model)
    return model


def convert(npz_path, onnx_path):
    params, k_codes, d, size = load_checkpoint(npz_path)
    model = build_model(params, k_codes, d, size)
    onnx.save(model, onnx_path)
    return k_codes, d, size


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npz", help="vae-oid.npz (big_vision's PaliGemma mask VQ-VAE checkpoint)")
    ap.add_argument("onnx", help="output file, e.g. vae_decoder.onnx (keep it outside model folders)")
    args = ap.parse_args(argv)
    try:
        k_codes, d, size = convert(args.npz, args.onnx)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.onnx}: codebook {k_codes} x {d}, masks {size}x{size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
