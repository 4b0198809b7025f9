#!/usr/bin/python3
"""Writes the committed test images under tests/fixtures/images/ (seeded, deterministic).

- model-size images (named {H}x{W}-*.png) for each fixture model: fed unchanged to transformers.js and
  to our runtime, so token conformance does not depend on anyone's resize;
- larger images of other sizes and aspect ratios (PNG, JPEG, alpha, EXIF orientation, grayscale,
  palette) for the resize and decode tests, whose goldens come from PIL.

  /usr/bin/python3 tools/gen_fixture_images.py --out tests/fixtures/images
  /usr/bin/python3 tools/gen_fixture_images.py --out /tmp/bench-images --sizes 224x224 --model-size-only
"""

import argparse
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw


def gradient(h, w, rng):
    y = np.linspace(0, 1, h)[:, None]
    x = np.linspace(0, 1, w)[None, :]
    a, b, c = rng.random(), rng.random(), rng.random()
    r = 255 * (a * x + (1 - a) * y)
    g = 255 * np.abs(np.sin(math.pi * (b * 2 * x + y)))
    bl = 255 * (c * (1 - x) * y + (1 - c) * x * (1 - y))
    return Image.fromarray(np.stack([r, g, bl], -1).clip(0, 255).astype(np.uint8), "RGB")


def shapes(h, w, rng):
    bg = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 8)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 8 + 1, w // 2 + 2), y0 + rng.randint(h // 8 + 1, h // 2 + 2)
        col = tuple(rng.randrange(256) for _ in range(3))
        kind = rng.randrange(3)
        if kind == 0:
            d.rectangle([x0, y0, x1, y1], fill=col)
        elif kind == 1:
            d.ellipse([x0, y0, x1, y1], fill=col)
        else:
            d.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=col)
    return img


def noise(h, w, rng):
    arr = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


def text_like(h, w, rng):
    """Dark strokes on a light background, a stand-in for a document (OCR prompts)."""
    img = Image.new("RGB", (w, h), (245, 242, 235))
    d = ImageDraw.Draw(img)
    y = 2
    while y < h - 4:
        x = 2
        while x < w - 4:
            lw = rng.randint(2, max(3, w // 6))
            d.rectangle([x, y, min(w - 2, x + lw), y + max(1, h // 20)], fill=(20, 20, 30))
            x += lw + rng.randint(2, 5)
        y += max(4, h // 8)
    return img


def checker(h, w, rng):
    cell = rng.randint(3, 9)
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((yy // cell + xx // cell) % 2).astype(np.uint8)
    c1 = np.array([rng.randrange(256) for _ in range(3)], np.uint8)
    c2 = np.array([rng.randrange(256) for _ in range(3)], np.uint8)
    return Image.fromarray(np.where(m[..., None] == 1, c1, c2), "RGB")


KINDS = [("gradient", gradient), ("shapes", shapes), ("noise", noise), ("doc", text_like),
         ("checker", checker), ("shapes2", shapes), ("gradient2", gradient), ("mix", None)]


def mix(h, w, rng):
    a = np.asarray(gradient(h, w, rng), np.float32)
    b = np.asarray(shapes(h, w, rng), np.float32)
    n = np.asarray(noise(h, w, rng), np.float32)
    return Image.fromarray((0.45 * a + 0.45 * b + 0.1 * n).clip(0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--sizes", default="56x56,42x42",
                    help="model input sizes HxW for the model-size set (default: the fixture models')")
    ap.add_argument("--model-size-only", action="store_true",
                    help="write only the model-size set (e.g. 224x224 images for the bench model)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    written = []

    # Model-size images: tiny (56x56) and tiny-masked (42x42).
    for h, w in [tuple(int(v) for v in sz.split("x")) for sz in args.sizes.split(",")]:
        for name, fn in KINDS:
            img = (fn or mix)(h, w, rng)
            path = os.path.join(args.out, "%dx%d-%s.png" % (h, w, name))
            img.save(path, optimize=True)
            written.append(path)

    if args.model_size_only:
        print("wrote %d images" % len(written))
        return

    # Larger images for resize / decode tests (sizes given as width x height in the names).
    big = [
        ("resize-451x300.png", 300, 451, mix, "PNG", {}),
        ("resize-512x384.jpg", 384, 512, shapes, "JPEG", {"quality": 90}),
        ("resize-200x640.png", 640, 200, gradient, "PNG", {}),
        ("resize-640x200.jpg", 200, 640, text_like, "JPEG", {"quality": 85}),
        ("resize-97x61.png", 61, 97, noise, "PNG", {}),
        ("resize-300x300.jpg", 300, 300, checker, "JPEG", {"quality": 92}),
    ]
    for name, h, w, fn, fmt, kw in big:
        img = fn(h, w, rng)
        path = os.path.join(args.out, name)
        img.save(path, fmt, **kw)
        written.append(path)

    # Alpha channel (RGBA PNG, half-transparent disc): tests the documented flatten rule.
    img = gradient(120, 160, rng).convert("RGBA")
    alpha = Image.new("L", (160, 120), 0)
    ImageDraw.Draw(alpha).ellipse([20, 10, 140, 110], fill=255)
    ImageDraw.Draw(alpha).rectangle([0, 0, 40, 30], fill=128)
    img.putalpha(alpha)
    path = os.path.join(args.out, "alpha-160x120.png")
    img.save(path)
    written.append(path)

    # Grayscale and palette images: must convert to RGB like PIL's convert("RGB").
    path = os.path.join(args.out, "gray-150x100.png")
    gradient(100, 150, rng).convert("L").save(path)
    written.append(path)
    path = os.path.join(args.out, "palette-128x96.png")
    shapes(96, 128, rng).convert("P", palette=Image.ADAPTIVE, colors=16).save(path)
    written.append(path)

    # EXIF orientation 6 (rotate 90 CW to display): stored 160 wide x 96 high, displayed 96 x 160.
    img = shapes(96, 160, rng)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = os.path.join(args.out, "exif-rot6-160x96.jpg")
    img.save(path, "JPEG", quality=90, exif=exif.tobytes())
    written.append(path)

    total = sum(os.path.getsize(p) for p in written)
    print("wrote %d images, %.1f KB" % (len(written), total / 1024))


if __name__ == "__main__":
    main()
