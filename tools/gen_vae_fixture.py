#!/usr/bin/python3
"""Random checkpoints with vae-oid.npz's keys and layout, converted by tools/convert_vae_oid.py, with reference masks.

    /usr/bin/python3 tools/gen_vae_fixture.py fixture            # rewrites tests/fixtures/vae (needs torch)
    /usr/bin/python3 tools/gen_vae_fixture.py live OUTDIR [--seed N] [--full]   # NumPy + onnx only

`fixture` writes the committed set: tiny-vae-oid.npz (codebook 128 x 8, channels 16 -> 16 -> 8 -> 4 -> 2 -> 1:
the real layer structure and keys at a fraction of the width), vae_decoder.onnx converted from it, codes.json
(the code rows) and two independent reference outputs of those rows as little-endian float32 [B,64,64]:
reference_numpy.f32 (tools/vae_reference.py's NumPy decoder) and reference_torch.f32 (a PyTorch module whose
state dict keys are the checkpoint keys, loaded strictly). Seeded: re-running reproduces the files.

`live` writes the same set without torch into OUTDIR (the C# tests run it at test time, so the NumPy path is
checked live, not only against committed outputs); --full uses vae-oid.npz's real widths (D 512, channels 128).
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_vae_oid  # noqa: E402
import vae_reference  # noqa: E402

FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "vae")


def random_checkpoint(rng, k_codes, d, c):
    """He-scaled random weights in PyTorch layout, so activations stay O(1) through the 13 layers."""
    def conv(out, cin, k):
        return (rng.standard_normal((out, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32), \
               (rng.standard_normal(out) * 0.1).astype(np.float32)

    p = {"_vq_vae._embedding": rng.standard_normal((k_codes, d)).astype(np.float32)}
    p["decoder.0.weight"], p["decoder.0.bias"] = conv(c, d, 1)
    for blk in ("decoder.2.net", "decoder.3.net"):
        for i, k in ((0, 3), (2, 3), (4, 1)):
            w, b = conv(c, c, k)
            p[f"{blk}.{i}.weight"], p[f"{blk}.{i}.bias"] = w * (0.5 if i == 4 else 1.0), b
    cin = c
    for name, out in zip(("decoder.4", "decoder.6", "decoder.8", "decoder.10"), (c, c // 2, c // 4, c // 8)):
        p[name + ".weight"] = (rng.standard_normal((cin, out, 4, 4)) * np.sqrt(2.0 / (cin * 4))).astype(np.float32)
        p[name + ".bias"] = (rng.standard_normal(out) * 0.1).astype(np.float32)
        cin = out
    p["decoder.12.weight"], p["decoder.12.bias"] = conv(1, cin, 1)
    return p


def code_rows(rng, k_codes, n):
    rows = [np.zeros(16, dtype=np.int64), np.full(16, k_codes - 1, dtype=np.int64), np.arange(16, dtype=np.int64) * (k_codes // 16)]
    rows += [rng.integers(0, k_codes, 16) for _ in range(n - len(rows))]
    return np.stack(rows).astype(np.int64)


def write_set(out, seed, k_codes, d, c, rows, with_torch):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    params = random_checkpoint(rng, k_codes, d, c)
    npz_path = os.path.join(out, "tiny-vae-oid.npz")
    np.savez(npz_path, **params)
    convert_vae_oid.convert(npz_path, os.path.join(out, "vae_decoder.onnx"))
    codes = code_rows(rng, k_codes, rows)
    with open(os.path.join(out, "codes.json"), "w") as f:
        json.dump({"seed": seed, "codebook_size": k_codes, "code_width": d, "channels": c, "mask_size": 64,
                   "codes": codes.tolist()}, f, indent=1)
        f.write("\n")
    ref = vae_reference.decode_numpy(params, codes)
    ref.astype("<f4").tofile(os.path.join(out, "reference_numpy.f32"))
    if with_torch:
        ref_torch = vae_reference.decode_torch(npz_path, codes)
        diff = float(np.abs(ref_torch - ref).max())
        if diff >= 1e-4:
            raise SystemExit(f"NumPy and PyTorch references disagree by {diff}; one of them is wrong")
        ref_torch.astype("<f4").tofile(os.path.join(out, "reference_torch.f32"))
        print(f"numpy vs torch max abs diff {diff:.2e}")
    inside = float((ref > 0).mean())
    print(f"wrote {out}: {rows} rows, logits in [{ref.min():.3f}, {ref.max():.3f}], {inside:.1%} of pixels > 0")


def main(argv):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fixture")
    live = sub.add_parser("live")
    live.add_argument("out")
    live.add_argument("--seed", type=int, default=7)
    live.add_argument("--full", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "fixture":
        write_set(os.path.normpath(FIXTURE), seed=20261128, k_codes=128, d=8, c=16, rows=8, with_torch=True)
    else:
        d, c = (512, 128) if args.full else (8, 16)
        write_set(args.out, seed=args.seed, k_codes=128, d=d, c=c, rows=6, with_torch=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
