#!/usr/bin/python3
"""PIL reference for PaliGemma image preprocessing (what Hugging Face's Python processor computes).

Run with Debian's /usr/bin/python3 (python3-pil, python3-numpy).

  pil_reference.py resize INPUT WIDTH HEIGHT OUTPUT     # RGB-convert, then PIL BICUBIC to WIDTHxHEIGHT
  pil_reference.py convert INPUT OUTPUT                 # RGB-convert only (original size after EXIF orientation)
  pil_reference.py fixtures DIR                         # write the deterministic test inputs into DIR

OUTPUT ending in .npy gets a NumPy uint8 array [H, W, 3]; anything else gets raw interleaved RGB bytes
(H*W*3, row-major). The first line of stdout is "WIDTH HEIGHT" of the written pixels.

RGB conversion, the same rule as PaliGemma.Inference.Imaging.ImagePreprocessor:
  * EXIF orientation applied (ImageOps.exif_transpose, as transformers' load_image does);
  * 16-bit / 32-bit integer grey ("I;16", "I") scaled to 8 bits by round(v / 257), not clipped;
  * anything with alpha (RGBA, LA, PA, P or L with a transparency key) composited over opaque WHITE with
    Image.alpha_composite, then convert("RGB") -- transformers' image_transforms.convert_to_rgb;
  * everything else convert("RGB") (grey replicated, palette looked up, CMYK naive (255-C)(255-K)/255).
"""
import sys

import numpy as np
from PIL import Image, ImageOps


def to_rgb(im):
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im).astype(np.float64)
        a = np.clip(np.floor(a / 257.0 + 0.5), 0, 255).astype(np.uint8)
        im = Image.fromarray(a, "L")
    has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def write(arr, path):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if path.endswith(".npy"):
        np.save(path, arr)
    else:
        with open(path, "wb") as f:
            f.write(arr.tobytes())
    print(f"{arr.shape[1]} {arr.shape[0]}")


def scene(w, h, seed):
    """A photo-like RGB test picture: smooth gradients, hard-edged shapes and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / (w / 3.1) + seed)
    g = 128 + 100 * np.cos(y / (h / 2.3))
    b = 255 * (x + y) / (w + h)
    img = np.stack([r, g, b], axis=-1)
    for _ in range(6):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rad = rng.uniform(min(w, h) * 0.05, min(w, h) * 0.25)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < rad ** 2
        img[mask] = rng.uniform(0, 255, 3)
    x0, y0 = int(w * 0.1), int(h * 0.6)
    img[y0:y0 + max(1, h // 10), x0:x0 + max(1, w // 3)] = (250, 250, 20)
    img[:, (np.arange(w) % 17) == 0] = (10, 10, 10)  # thin lines: where resamplers differ most
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def fixtures(d):
    import os
    os.makedirs(d, exist_ok=True)
    # 4:4:4 so that the resize comparison is not dominated by how libjpeg and ImageSharp upsample chroma
    # (with 4:2:0 the two decoders alone differ by ~2 levels on this scene's one-pixel lines).
    Image.fromarray(scene(512, 384, 1)).save(f"{d}/photo_512x384.jpg", quality=90, subsampling=0)
    # 4:2:0, what cameras write: decode differences included.
    Image.fromarray(scene(451, 300, 2)).save(f"{d}/graphic_451x300.png")
    Image.fromarray(scene(200, 517, 3)).save(f"{d}/tall_200x517.png")
    Image.fromarray(scene(37, 29, 4)).save(f"{d}/tiny_37x29.png")
    Image.fromarray(scene(1000, 750, 5)).save(f"{d}/big_1000x750.jpg", quality=85)
    # Progressive JPEG: many scans, each followed by more markers (the truncation walk must cross them all).
    Image.fromarray(scene(320, 240, 12)).save(f"{d}/progressive_320x240.jpg", quality=90, progressive=True, subsampling=0)
    # Animated GIF: frame 1 red, frame 2 blue. Only the first frame is used (as PIL's open + convert does).
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(f"{d}/animated_40x30.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    # Exactly the model size used by the fast-path test.
    Image.fromarray(scene(224, 224, 6)).save(f"{d}/exact_224x224.png")

    Image.fromarray(scene(300, 200, 7)).convert("L").save(f"{d}/gray_300x200.png")
    base = scene(120, 90, 8)
    alpha = np.tile(np.linspace(0, 255, 120), (90, 1)).astype(np.uint8)
    Image.fromarray(np.dstack([base[..., 0], alpha]), "LA").save(f"{d}/gray_alpha_120x90.png")
    rgba = np.dstack([base, alpha])
    rgba[:10, :10, 3] = 0  # fully transparent corner over non-white colour: must come out white
    Image.fromarray(rgba, "RGBA").save(f"{d}/rgba_120x90.png")
    Image.fromarray(scene(160, 120, 9)).quantize(colors=64).save(f"{d}/palette_160x120.png")
    pal = Image.fromarray(scene(160, 120, 10)).quantize(colors=32)
    pal.save(f"{d}/palette_transparent_160x120.png", transparency=0)
    Image.fromarray(scene(240, 160, 11)).convert("CMYK").save(f"{d}/cmyk_240x160.jpg", quality=95)
    g16 = (np.tile(np.linspace(0, 65535, 200), (150, 1))).astype(np.uint16)
    g16[50:100, 50:150] = 40000
    Image.fromarray(g16, "I;16").save(f"{d}/gray16_200x150.png")

    # Decompression bomb: a valid PNG header declaring 50000x50000 RGB (7.5 GB of pixels) with a token IDAT.
    # A decoder that checks the header first refuses it in microseconds.
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
    with open(f"{d}/bomb_50000x50000.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))

    # EXIF orientation 6 ("rotate 90 CW to display"): stored 64x32, left half red, right half blue.
    # Displayed 32x64 with red on top, blue at the bottom.
    stored = np.zeros((32, 64, 3), np.uint8)
    stored[:, :32] = (255, 0, 0)
    stored[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(f"{d}/exif_rot90_64x32.jpg", quality=95, exif=exif.tobytes())
    # Every EXIF orientation 1..8 on a picture with four differently coloured quadrants (lossless PNG + eXIf chunk).
    quad = np.zeros((30, 48, 3), np.uint8)
    quad[:15, :24] = (255, 0, 0)
    quad[:15, 24:] = (0, 255, 0)
    quad[15:, :24] = (0, 0, 255)
    quad[15:, 24:] = (255, 255, 0)
    quad[2:5, 2:10] = (255, 255, 255)  # a mark in the stored top-left corner
    for o in range(1, 9):
        e = Image.Exif()
        e[0x0112] = o
        Image.fromarray(quad).save(f"{d}/orient{o}_48x30.png", exif=e.tobytes())
    print(d)


def main(argv):
    if len(argv) >= 2 and argv[1] == "fixtures" and len(argv) == 3:
        fixtures(argv[2])
    elif len(argv) == 6 and argv[1] == "resize":
        im = to_rgb(Image.open(argv[2]))
        w, h = int(argv[3]), int(argv[4])
        if im.size != (w, h):
            im = im.resize((w, h), Image.BICUBIC)
        write(np.asarray(im), argv[5])
    elif len(argv) == 4 and argv[1] == "convert":
        write(np.asarray(to_rgb(Image.open(argv[2]))), argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
