#!/usr/bin/env python3
"""Helpers of the GPU check kit (tools/gpu/gpu_kit.sh); standard library only, except `hf` (torch + transformers).

  kit.py image --model DIR --out img.png        a deterministic RGB PNG at the model's input size (no PIL needed)
  kit.py cuda-libs                              the host's CUDA library folders (pip nvidia-* wheels, torch/lib), ':'-joined
  kit.py hf --model DIR --dtype bf16|fp32 --batches 1 8 32 --new-tokens 32 --out FILE.jsonl
                                                step (d): transformers' PaliGemmaForConditionalGeneration with the same config
  kit.py table --results DIR                    results/table.md from whatever the steps wrote so far
  kit.py check --results DIR --batches 1 2      the dry run's assertions on the bench JSON
"""
import argparse
import glob
import json
import os
import struct
import sys
import time
import zlib


def cmd_image(args):
    with open(os.path.join(args.model, "preprocessor_config.json"), encoding="utf-8") as f:
        size = json.load(f)["size"]
    h, w = size["height"], size["width"]
    rows = []
    for y in range(h):
        row = bytearray([0])  # filter type None
        for x in range(w):
            row += bytes(((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x ^ y) * 7) & 255))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    with open(args.out, "wb") as f:
        f.write(png)


def cmd_cuda_libs(_args):
    folders = []
    try:
        import torch  # noqa: F401  (only to find its site-packages)
        site = os.path.dirname(os.path.dirname(torch.__file__))
        folders.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
    except ImportError:
        site = None
    if site:
        for pattern in ("nvidia/*/lib", "nvidia/*/lib64", "nvidia/cu*/lib", "nvidia/cu*/lib64"):
            folders += sorted(glob.glob(os.path.join(site, pattern)))
    folders = [f for i, f in enumerate(folders) if os.path.isdir(f) and f not in folders[:i]]
    print(":".join(folders))


def cmd_hf(args):
    import torch
    from transformers import AutoConfig, PaliGemmaForConditionalGeneration

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    config = AutoConfig.from_pretrained(args.model)
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        raw = json.load(f)
    image_id = raw["image_token_index"]
    for name in ("image_token_index", "image_token_id"):
        setattr(config, name, image_id)
    n = raw["vision_config"]["num_image_tokens"]
    size = raw["vision_config"]["image_size"]
    h, w = (size, size) if isinstance(size, int) else size
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = PaliGemmaForConditionalGeneration(config).to(dtype).eval()
    prompt = [2, 300, 301, 302, 260]  # <bos>, three ordinary pieces, "\n" (ids of the generated tokenizer)
    out = open(args.out, "a", encoding="utf-8")
    for b in args.batches:
        record = {"implementation": f"transformers PaliGemmaForConditionalGeneration {args.dtype}", "batch_size": b,
                  "new_tokens": args.new_tokens, "device": torch.cuda.get_device_name(0)}
        try:
            ids = torch.tensor([[image_id] * n + prompt] * b, device="cuda")
            inputs = dict(input_ids=ids, attention_mask=torch.ones_like(ids),
                          pixel_values=torch.randn(b, 3, h, w, device="cuda", dtype=dtype))
            gen = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False, pad_token_id=0)
            torch.cuda.reset_peak_memory_stats()
            with torch.inference_mode():
                model.generate(**inputs, **gen)  # warm-up
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                result = model.generate(**inputs, **gen)
                torch.cuda.synchronize()
                seconds = time.perf_counter() - t0
            record.update(images_per_s=round(b / seconds, 3), seconds=round(seconds, 4),
                          generated_tokens_per_row=int(result.shape[1] - ids.shape[1]),
                          peak_gpu_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1))
        except Exception as e:  # one batch size failing (e.g. out of memory) must not lose the others
            record["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            torch.cuda.empty_cache()
        out.write(json.dumps(record) + "\n")
        out.flush()
        print(json.dumps(record), flush=True)


def _read_json_lines(path):
    if not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def _peak_mb(path):
    try:
        with open(path, encoding="utf-8") as f:
            values = [int(v) for v in f.read().split() if v.isdigit()]
        return max(values) if values else None
    except OSError:
        return None


def cmd_table(args):
    r = args.results
    lines = ["# GPU check kit results", ""]
    for name in ("gpu.txt",):
        p = os.path.join(r, name)
        if os.path.exists(p):
            lines.append("GPU: " + open(p, encoding="utf-8").read().strip())
    info_path = os.path.join(r, "model_info.json")
    if os.path.exists(info_path):
        info = json.load(open(info_path, encoding="utf-8"))
        lines.append("Model: " + json.dumps(info.get("preset_widths")) + f", vocab {info.get('vocab')}, {info.get('image_tokens')} image tokens")
        lines.append("Per-layer figures: " + json.dumps(info.get("params")) + f"; KV bytes/position/layer {info.get('kv_bytes_per_position_per_layer_fp32')}")
    lines += ["", "| implementation | batch | images/s | generated tokens/row | decode bytes/row/step | prefill bytes/row | peak GPU MB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for p in sorted(glob.glob(os.path.join(r, "ours-b*.json")), key=lambda s: int(s.split("-b")[-1].split(".")[0])):
        for o in _read_json_lines(p):
            tokens = o["generated_tokens"] / max(1, o["batch_size"])
            lines.append(f"| pgpipe ({o['device']}, greedy on device {o['greedy_on_device']}) | {o['batch_size']} | {o['images_per_s']} | {tokens:g} | "
                         f"{o['decode_host_device_bytes_per_row_step']} | {o['prefill_host_device_bytes_per_row']} | {_peak_mb(p[:-5] + '.mem') or '-'} |")
    for dtype in ("bf16", "fp32"):
        for o in _read_json_lines(os.path.join(r, f"hf-{dtype}.jsonl")):
            if "error" in o:
                lines.append(f"| {o['implementation']} | {o['batch_size']} | error: {o['error']} | | | | |")
            else:
                lines.append(f"| {o['implementation']} | {o['batch_size']} | {o['images_per_s']} | {o['generated_tokens_per_row']} | - | - | {o['peak_gpu_mb']} |")
    lines += ["", "Steps:"] + ["- " + json.dumps(s) for s in _read_json_lines(os.path.join(r, "steps.jsonl"))]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(r, "table.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


def cmd_check(args):
    for b in args.batches:
        rows = _read_json_lines(os.path.join(args.results, f"ours-b{b}.json"))
        assert len(rows) == 1, f"batch {b}: expected one JSON object, got {len(rows)}"
        o = rows[0]
        for key in ("device", "batch_size", "images_per_s", "reference_images_per_s",
                    "decode_host_device_bytes_per_row_step", "prefill_host_device_bytes_per_row"):
            assert key in o, f"batch {b}: JSON lacks '{key}'"
        assert o["batch_size"] == b and o["reference_images_per_s"] is None and o["images_per_s"] > 0, o
        assert 0 < o["decode_host_device_bytes_per_row_step"] <= 64, o
        assert o["state_on_device"] and o["greedy_on_device"], o
    steps = _read_json_lines(os.path.join(args.results, "steps.jsonl"))
    bad = [s for s in steps if s["status"] not in ("ok", "skipped")]
    assert not bad, f"steps not ok: {bad}"
    print(f"kit check: bench JSON at batch {args.batches} and {len(steps)} steps ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("image"); p.add_argument("--model", required=True); p.add_argument("--out", required=True)
    sub.add_parser("cuda-libs")
    p = sub.add_parser("hf"); p.add_argument("--model", required=True); p.add_argument("--dtype", choices=["bf16", "fp32"], required=True)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32]); p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--out", required=True)
    p = sub.add_parser("table"); p.add_argument("--results", required=True)
    p = sub.add_parser("check"); p.add_argument("--results", required=True); p.add_argument("--batches", type=int, nargs="+", required=True)
    args = ap.parse_args()
    {"image": cmd_image, "cuda-libs": cmd_cuda_libs, "hf": cmd_hf, "table": cmd_table, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
