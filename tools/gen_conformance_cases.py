#!/usr/bin/python3
"""Writes tests/fixtures/conformance-cases.json: token-conformance cases chosen so that greedy decoding never
hangs on float noise.

Our runtime and transformers.js run the same ONNX files through two ONNX Runtime builds; their logits differ
by ~1e-5. A step whose top-1/top-2 logit gap is that small may pick a different token in either one, so a
case that agrees today could flip with a new build. This tool rebuilds the committed tiny models in torch
(gen_tiny_model.build_model: same seeds, same weights as the export), greedy-decodes candidate rows and keeps
a case only where EVERY step each row actually runs has a top-1 margin (after the final softcap) of at least
--min-margin. A case's max_new_tokens may be shortened to stop before a low-margin step, and each template
may fall back to other images (rotations of its image list) or other prompts of the same task.

  /usr/bin/python3 tools/gen_conformance_cases.py --out tests/fixtures/conformance-cases.json

The chosen per-row minimum margins are written as the informational field "torch_min_margins".
"""

import argparse
import json
import os
import re
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_tiny_model as G  # noqa: E402

TASK_PREFIXES = ("caption", "cap", "describe", "ocr", "answer", "question", "detect", "segment")

# Case templates: (id, prompts, preferred images, desired max_new_tokens, alternative prompt lists).
# Unmasked (tiny) batches must keep equal prompt token lengths; masked batches may mix them.
TINY = [
    ("caption-en", ["caption en"], ["gradient"], 20, [["caption fr"], ["caption de"]]),
    ("cap-en", ["cap en"], ["shapes"], 16, [["cap es"]]),
    ("describe-en", ["describe en"], ["noise"], 24, [["describe fr"]]),
    ("caption-fr", ["caption fr"], ["mix"], 12, []),
    ("caption-de", ["caption de"], ["checker"], 8, []),
    ("describe-es", ["describe es"], ["gradient2"], 30, []),
    ("ocr", ["ocr"], ["doc"], 40, []),
    ("answer-en", ["answer en what color is the car ?"], ["shapes"], 20, [["answer en how many birds are there ?"]]),
    ("answer-fr-bytes", ["answer fr où est le chat ?"], ["mix"], 20, []),
    ("question-en", ["question en the sky is blue"], ["gradient"], 16, [["question en the cat is red"]]),
    ("question-es", ["question es el cielo es azul"], ["shapes2"], 30, []),
    ("detect-one", ["detect cat"], ["shapes2"], 24, [["detect table"]]),
    ("detect-three", ["detect cat ; dog ; car"], ["mix"], 32, []),
    ("segment-person", ["segment person"], ["checker"], 36, []),
    ("segment-phrase", ["segment the red circle"], ["shapes"], 40, []),
    ("raw-text", ["hello world"], ["noise"], 10, []),
    ("raw-added-tokens", ["<loc0012><loc0500> box <seg007>"], ["doc"], 12, []),
    ("raw-unicode", ["Ünïcödé 日本語 emoji 🙂"], ["gradient2"], 15, []),
    ("raw-whitespace", ["two  spaces\nand newline"], ["checker"], 10, []),
    ("raw-empty", [""], ["shapes2"], 8, []),
    ("batch2-caption", ["caption en"] * 2, ["gradient", "shapes"], 20, [["caption fr"] * 2, ["cap en"] * 2]),
    ("batch3-ocr", ["ocr"] * 3, ["doc", "noise", "checker"], 24, []),
    ("batch4-detect", ["detect cat"] * 4, ["shapes", "shapes2", "mix", "gradient"], 16, [["detect table"] * 4]),
    ("batch2-same-image", ["describe en"] * 2, ["mix", "mix"], 12, [["describe fr"] * 2]),
    ("batch8-describe", ["describe en"] * 8,
     ["gradient", "shapes", "noise", "doc", "checker", "shapes2", "gradient2", "mix"], 10,
     [["describe fr"] * 8, ["describe es"] * 8, ["caption en"] * 8, ["cap en"] * 8, ["ocr"] * 8]),
    ("batch3-caption-langs", ["caption en", "caption fr", "caption de"], ["gradient2", "doc", "noise"], 20,
     [["cap en", "cap es", "caption de"]]),
    ("batch2-answer-question", ["answer en what is this ?", "question en the cat is red"], ["shapes", "gradient"], 18,
     [["answer en what is red ?", "question en the sky is red"]]),
]

MASKED = [
    ("masked-caption-en", ["caption en"], ["gradient"], 20, [["caption fr"]]),
    ("masked-ocr", ["ocr"], ["doc"], 40, []),
    ("masked-batch2-unequal", ["caption en", "answer en what color is the car ?"], ["gradient", "shapes"], 20, []),
    ("masked-batch3-detect-segment-ocr", ["detect cat ; dog", "segment person", "ocr"], ["mix", "checker", "doc"], 24, []),
    ("masked-batch4-mixed", ["describe fr", "question en the sky is blue", "cap es", "detect table"],
     ["noise", "gradient2", "shapes2", "mix"], 16, []),
    ("masked-answer-de-bytes", ["answer de wie viele Vögel sind da ?"], ["shapes"], 12, []),
    ("masked-batch2-equal", ["caption en", "caption en"], ["gradient", "noise"], 10, [["caption fr", "caption fr"]]),
    ("masked-batch5-with-empty", ["", "ocr", "segment the red circle", "caption en", "answer en how many birds are there ?"],
     ["gradient", "shapes", "noise", "doc", "checker"], 40, []),
    ("masked-question-es", ["question es el cielo es azul"], ["gradient2"], 8, []),
    ("masked-raw-text", ["hello world"], ["noise"], 12, [["two  spaces\nand newline"]]),
    # Every row stops on an eos id before max_new_tokens, at different steps, in one padded batch.
    ("masked-batch3-eos-unequal", ["segment the red circle", "caption de", "hello world"], ["checker", "doc", "gradient"],
     32, []),
]

ADDED = re.compile(r"(<loc\d{4}>|<seg\d{3}>|<image>|<pad>|<eos>|<bos>|<unk>)")


def encode(prompt, tok):
    """Prompt ids as the Gemma tokenizer gives them: added tokens split out first, the rest by BPE."""
    vocab = tok["model"]["vocab"]
    added = {t["content"]: t["id"] for t in tok["added_tokens"]}
    ids = []
    for part in ADDED.split(prompt):
        if part in added:
            ids.append(added[part])
        elif part:
            ids += G.simple_encode(part, tok)
    assert all(0 <= i < len(vocab) + len(added) for i in ids)
    return ids


class Evaluator:
    """Greedy-decodes single rows with the KV cache and caches (tokens, margins) per (image, prompt)."""

    def __init__(self, preset, model_dir, images_dir, steps):
        self.cfg, self.vision, self.embed, self.decoder, self.info, self.tok = G.build_model(preset)
        gen = json.load(open(os.path.join(model_dir, "generation_config.json"), encoding="utf-8"))
        self.eos = set(gen["eos_token_id"])
        # The committed model must be the one built here: its second eos comes from the calibration.
        if self.eos != {1, self.info["second_eos"]}:
            raise SystemExit("%s: eos ids %s differ from the rebuilt model's [1, %d]; regenerate the model first"
                             % (model_dir, sorted(self.eos), self.info["second_eos"]))
        h, w = self.cfg["image_size"]
        self.prefix = "%dx%d-" % (w, h)
        self.images_dir = images_dir
        self.images = sorted(f[len(self.prefix):-4] for f in os.listdir(images_dir)
                             if f.startswith(self.prefix) and f.endswith(".png"))
        self.steps = steps
        self.cache = {}

    def file(self, image):
        return self.prefix + image + ".png"

    def prompt_length(self, prompt):
        return len(encode(prompt, self.tok))

    @torch.no_grad()
    def row(self, image, prompt):
        key = (image, prompt)
        if key not in self.cache:
            cfg, info = self.cfg, self.info
            img = Image.open(os.path.join(self.images_dir, self.file(image))).convert("RGB")
            px = torch.from_numpy(np.asarray(img, np.float32).transpose(2, 0, 1).copy())[None] / 255.0
            feats = self.vision((px - 0.5) / 0.5)
            n = feats.shape[1]
            ids = [info["image_token_id"]] * n + [2] + encode(prompt, self.tok) + [info["newline_id"]]
            emb = self.embed(torch.tensor([ids]))
            emb[:, :n] = feats
            L = len(ids)
            logits, past = G.run_decoder(self.decoder, cfg, emb, torch.arange(1, L + 1).view(1, -1), G.empty_past(cfg, 1))
            tokens, margins = [], []
            for step in range(self.steps):
                last = logits[0, -1]
                top2 = torch.topk(last, 2).values
                margins.append((top2[0] - top2[1]).item())
                nxt = int(last.argmax())
                tokens.append(nxt)
                if nxt in self.eos:
                    break
                logits, past = G.run_decoder(self.decoder, cfg, self.embed(torch.tensor([[nxt]])),
                                             torch.tensor([[L + 1 + step]]), past)
            self.cache[key] = (tokens, margins)
        return self.cache[key]

    def allowance(self, image, prompt, threshold):
        """The largest max_new_tokens this row tolerates (None: any, it stops on eos before a weak step)."""
        tokens, margins = self.row(image, prompt)
        safe = next((i for i, m in enumerate(margins) if m < threshold), len(margins))
        if safe == len(margins) and tokens[-1] in self.eos:
            return None
        return safe


def choose(ev, template, threshold, masked, min_new):
    cid, prompts, images, desired, alt_prompts = template
    if desired > ev.steps:
        raise SystemExit("%s: max_new_tokens %d exceeds --steps %d" % (cid, desired, ev.steps))
    best = None
    for plist in [prompts] + alt_prompts:
        if len(plist) != len(images):
            raise SystemExit("%s: %d prompts for %d images" % (cid, len(plist), len(images)))
        if not masked and len({ev.prompt_length(p) for p in plist}) != 1:
            raise SystemExit("%s: the unmasked model needs equal prompt token lengths, got %s"
                             % (cid, [ev.prompt_length(p) for p in plist]))
        for k in range(len(ev.images)):
            imgs = [ev.images[(ev.images.index(i) + k) % len(ev.images)] for i in images]
            allow = [ev.allowance(i, p, threshold) for i, p in zip(imgs, plist)]
            limit = min([desired] + [a for a in allow if a is not None])
            if best is None or limit > best[0]:
                best = (limit, plist, imgs)
            if limit == desired:
                break
        if best[0] == desired:
            break
    limit, plist, imgs = best
    if limit < min_new:
        raise SystemExit("%s: no image/prompt option keeps a margin >= %g for %d steps (best %d)"
                         % (cid, threshold, min_new, limit))
    rows = []
    for i, p in zip(imgs, plist):
        tokens, margins = ev.row(i, p)
        run = min(limit, len(tokens))
        rows.append(dict(image=i, prompt=p, tokens=tokens[:run], margin=min(margins[:run]),
                         eos=run == len(tokens) and tokens[-1] in ev.eos))
    return dict(id=cid, limit=limit, rows=rows, shortened=limit < desired,
                changed=(plist != prompts or imgs != images))


def kind(prompt):
    first = prompt.split(" ", 1)[0]
    return first if first in TASK_PREFIXES else "raw"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/conformance-cases.json")
    ap.add_argument("--fixtures", default="tests/fixtures", help="folder holding models/ and images/")
    ap.add_argument("--min-margin", type=float, default=0.02, help="smallest top-1 margin any run step may have")
    ap.add_argument("--min-new", type=int, default=6, help="shortest max_new_tokens a case may be cut to")
    ap.add_argument("--steps", type=int, default=40, help="greedy steps evaluated per candidate row")
    args = ap.parse_args()
    images_dir = os.path.join(args.fixtures, "images")
    out_cases, summary = [], []
    for preset, folder, templates in (("tiny", "models/tiny", TINY), ("masked", "models/tiny-masked", MASKED)):
        ev = Evaluator(preset, os.path.join(args.fixtures, folder), images_dir, args.steps)
        masked = ev.cfg["variant"] == "masked"
        chosen = [choose(ev, t, args.min_margin, masked, args.min_new) for t in templates]
        loc0 = ev.info["loc_start"]
        rows = [r for c in chosen for r in c["rows"]]
        stats = dict(model=folder, cases=len(chosen), rows=len(rows),
                     single=sum(len(c["rows"]) == 1 for c in chosen), batched=sum(len(c["rows"]) > 1 for c in chosen),
                     eos_rows=sum(r["eos"] for r in rows),
                     loc_rows=sum(any(loc0 <= t < loc0 + G.NUM_LOC for t in r["tokens"]) for r in rows),
                     kinds=sorted({kind(r["prompt"]) for r in rows}), images=len({r["image"] for r in rows}),
                     min_margin=min(r["margin"] for r in rows))
        summary.append(stats)
        for c in chosen:
            print("%-34s max_new %2d%s%s  rows %d  min margin %.4f  eos rows %d"
                  % (c["id"], c["limit"], " (shortened)" if c["shortened"] else "",
                     " (other images/prompts)" if c["changed"] else "", len(c["rows"]),
                     min(r["margin"] for r in c["rows"]), sum(r["eos"] for r in c["rows"])))
            case = {"id": c["id"], "images": [ev.file(r["image"]) for r in c["rows"]],
                    "prompts": [r["prompt"] for r in c["rows"]], "max_new_tokens": c["limit"]}
            if masked:
                case["model"] = folder
            case["torch_min_margins"] = [round(r["margin"], 4) for r in c["rows"]]
            out_cases.append(case)
    for s in summary:
        print("%(model)s: %(cases)d cases (%(single)d single-row, %(batched)d batched), %(rows)d rows, "
              "%(eos_rows)d stop on eos, %(loc_rows)d emit loc tokens, %(images)d images, min margin %(min_margin).4f, "
              "kinds %(kinds)s" % s)
    tiny, msk = summary
    need_kinds = set(TASK_PREFIXES) | {"raw"}
    problems = []
    if tiny["cases"] < 24 or msk["cases"] < 8:
        problems.append("too few cases")
    if not need_kinds <= set(tiny["kinds"]):
        problems.append("tiny misses task kinds %s" % sorted(need_kinds - set(tiny["kinds"])))
    if min(tiny["eos_rows"], msk["eos_rows"]) < 1 or tiny["eos_rows"] + msk["eos_rows"] < 2:
        problems.append("need >= 2 eos-stopped rows, on both models")
    if min(tiny["loc_rows"], msk["loc_rows"]) < 1:
        problems.append("need rows that emit loc tokens on both models")
    if min(tiny["single"], tiny["batched"], msk["single"], msk["batched"]) < 1:
        problems.append("need single-row and batched cases on both models")
    if problems:
        raise SystemExit("coverage: " + "; ".join(problems))
    doc = {
        "_comment": "Token-conformance cases: each case is ONE batched greedy generate call (images[i] with "
                    "prompts[i]). Generated by tools/gen_conformance_cases.py: every step each row runs has a "
                    "torch top-1 margin >= %g (torch_min_margins, informational), so agreement never hangs on "
                    "float noise. Run the reference with: node tools/node/reference-generate.mjs "
                    "tests/fixtures/conformance-cases.json. The unmasked tiny model needs equal prompt token "
                    "lengths within a case." % args.min_margin,
        "model": "models/tiny",
        "images_dir": "images",
        "cases": out_cases,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %s: overall min margin %.4f" % (args.out, min(s["min_margin"] for s in summary)))


if __name__ == "__main__":
    sys.exit(main())
