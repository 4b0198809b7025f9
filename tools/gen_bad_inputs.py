#!/usr/bin/python3
"""Generates the bad-input corpus: tests/fixtures/bad-inputs/ plus manifest.json.

Run with Debian's /usr/bin/python3 (python3-pil, python3-numpy); seeded, so the bytes are reproducible:

  /usr/bin/python3 tools/gen_bad_inputs.py tests/fixtures/bad-inputs

Every file gets a manifest entry: its key (the object key used in S3 and under a local folder; some keys are
deliberately awkward), its kind, and the EXPECTED outcome, worked out by hand or from PIL, never from our C# code:

  {"outcome": "result", "width": W, "height": H}   the size PIL reports after ImageOps.exif_transpose
                                                   (first frame / page); the pixels are compared with
                                                   tools/pil_reference.py by the tests
  {"outcome": "failure", "reason": "corrupt"}     exactly one failure with this worker reason code

The manifest also states the limits the tests configure (max_object_bytes): one file is a valid PNG just over it.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

# The worker's Catalog:MaxObjectBytes in the tests. The oversize PNG is ~580 KB of noise: a real image, refused only
# because of its size. Every other file is far below it.
MAX_OBJECT_BYTES = 512 * 1024


def scene(w, h, seed):
    """Smooth gradients plus a few hard-edged blocks: photo-like, compresses normally."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / max(w / 3.1, 1) + seed)
    g = 128 + 100 * np.cos(y / max(h / 2.3, 1))
    b = 255 * (x + y) / max(w + h, 1)
    img = np.stack([r, g, b], axis=-1)
    for _ in range(4):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rad = rng.uniform(min(w, h) * 0.1, min(w, h) * 0.3)
        img[(x - cx) ** 2 + (y - cy) ** 2 < rad ** 2] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def quadrants(w, h):
    """Four distinct colours with a white mark in the stored top-left corner: every flip and rotation differs."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    a[: h // 2, w // 2:] = (0, 255, 0)
    a[h // 2:, : w // 2] = (0, 0, 255)
    a[h // 2:, w // 2:] = (255, 255, 0)
    a[1: max(2, h // 8), 1: max(2, w // 4)] = (255, 255, 255)
    return a


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(w, h):
    """A well-formed PNG header declaring w x h RGB with a token IDAT: a decompression bomb refused from the header."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + png_chunk(b"IEND", b"")


def jpeg_bomb(w, h):
    """A real 8x8 baseline JPEG whose SOF0 is rewritten to declare w x h: the header says 2.5 gigapixels."""
    data = bytearray(encode(Image.new("RGB", (8, 8), (128, 64, 32)), "JPEG", quality=90))
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2: i + 4])[0]
        if marker == 0xC0:  # SOF0: length, precision, height, width
            struct.pack_into(">HH", data, i + 5, h, w)
            return bytes(data)
        i += 2 + length
    raise RuntimeError("no SOF0 in the encoded JPEG")


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def pil_size(data):
    """What PIL reports: size after exif_transpose, first frame."""
    im = Image.open(io.BytesIO(data))
    return ImageOps.exif_transpose(im).size


def main(out):
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    entries = []

    def add(file, key, kind, data, expected, note="", local_key=None):
        with open(os.path.join(out, file), "wb") as f:
            f.write(data)
        if expected["outcome"] == "result":
            w, h = pil_size(data)
            expected = {"outcome": "result", "width": w, "height": h}
        entries.append({"file": file, "key": key, "local_key": local_key or key, "kind": kind, "bytes": len(data), "expected": expected, "note": note})

    ok = {"outcome": "result"}

    def fail(reason):
        return {"outcome": "failure", "reason": reason}

    rng = np.random.default_rng(20261128)

    # --- decodable images: a result whose pixels match PIL ---------------------------------------------------------
    add("photo.jpg", "good/photo.jpg", "jpeg_rgb", encode(Image.fromarray(scene(320, 240, 1)), "JPEG", quality=90, subsampling=0), ok)
    add("photo.png", "good/photo.png", "png_rgb", encode(Image.fromarray(scene(200, 150, 2)), "PNG"), ok)
    add("progressive.jpg", "good/progressive.jpg", "jpeg_progressive",
        encode(Image.fromarray(scene(160, 120, 3)), "JPEG", quality=90, progressive=True, subsampling=0), ok)
    add("one-pixel-1x1.png", "sizes/one-pixel-1x1.png", "png_1x1", encode(Image.new("RGB", (1, 1), (200, 30, 90)), "PNG"), ok)
    wide = np.zeros((8, 10000, 3), np.uint8)
    wide[..., 0] = (np.arange(10000) * 255 // 9999).astype(np.uint8)
    wide[4:, :, 2] = 200
    add("wide-10000x8.png", "sizes/wide-10000x8.png", "png_10000x8", encode(Image.fromarray(wide), "PNG"), ok,
        "aspect ratio 1250:1, squeezed straight to the model size")
    add("cmyk.jpg", "colour/cmyk.jpg", "jpeg_cmyk", encode(Image.fromarray(scene(120, 90, 4)).convert("CMYK"), "JPEG", quality=95), ok,
        "naive CMYK->RGB as PIL")
    g16 = np.tile(np.linspace(0, 65535, 96), (64, 1)).astype(np.uint16)
    g16[20:40, 30:60] = 40000
    add("gray16.png", "colour/gray16.png", "png_gray_16bit", encode(Image.fromarray(g16, "I;16"), "PNG"), ok,
        "16-bit grey, scaled by round(v/257) (not clipped as PIL's convert does; see pil_reference.py)")
    pal = Image.fromarray(scene(96, 64, 5)).quantize(colors=16)
    add("palette-transparent.png", "colour/palette-transparent.png", "png_palette_transparency",
        encode(pal, "PNG", transparency=0), ok, "palette index 0 transparent: composited on white")
    rgba = np.dstack([scene(80, 60, 6), np.tile(np.linspace(0, 255, 80), (60, 1)).astype(np.uint8)])
    add("rgba.png", "colour/rgba.png", "png_rgba", encode(Image.fromarray(rgba, "RGBA"), "PNG"), ok, "alpha composited on white")
    add("gray.png", "colour/gray.png", "png_gray", encode(Image.fromarray(scene(100, 70, 7)).convert("L"), "PNG"), ok)
    add("gray.jpg", "colour/gray.jpg", "jpeg_gray", encode(Image.fromarray(scene(100, 70, 8)).convert("L"), "JPEG", quality=95), ok)
    # EXIF orientation 6: stored 96x48 (quadrants), displayed 48x96. The test checks that the tensor matches PIL's
    # exif_transpose and NOT the stored orientation.
    add("exif-rotate-6.jpg", "orientation/exif-rotate-6.jpg", "jpeg_exif_orientation_6",
        encode(Image.fromarray(quadrants(96, 48)), "JPEG", quality=95, subsampling=0, exif=exif_bytes(6)), ok,
        "stored 96x48, EXIF says rotate 90 CW: displayed 48x96")
    add("exif-rotate-3.jpg", "orientation/exif-rotate-3.jpg", "jpeg_exif_orientation_3",
        encode(Image.fromarray(quadrants(80, 60)), "JPEG", quality=95, subsampling=0, exif=exif_bytes(3)), ok,
        "EXIF says rotate 180: same size, quadrants swapped")
    # Animated GIF: frame 1 is quadrants, frame 2 solid blue, frame 3 solid green. Only frame 1 may be used.
    frames = [Image.fromarray(quadrants(64, 48)), Image.new("RGB", (64, 48), (0, 0, 255)), Image.new("RGB", (64, 48), (0, 255, 0))]
    add("animated.gif", "formats/animated.gif", "gif_animated", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0), ok,
        "3 frames; only the first (quadrants) is used")
    pages = [Image.fromarray(quadrants(72, 40)), Image.new("RGB", (72, 40), (0, 0, 255))]
    add("multipage.tiff", "formats/multipage.tiff", "tiff_multipage", encode(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="raw"), ok,
        "2 pages; only the first is used")
    add("lossless.webp", "formats/lossless.webp", "webp_lossless", encode(Image.fromarray(scene(90, 60, 9)), "WEBP", lossless=True), ok)
    add("lossy.webp", "formats/lossy.webp", "webp_lossy", encode(Image.fromarray(scene(90, 60, 10)), "WEBP", quality=90), ok)
    add("photo.bmp", "formats/photo.bmp", "bmp", encode(Image.fromarray(scene(70, 50, 11)), "BMP"), ok)
    # Awkward keys: must round-trip exactly through S3 and the local folder, the result stored under the exact key.
    add("key-space.png", "keys/with space and  two.png", "key_spaces", encode(Image.fromarray(scene(40, 30, 12)), "PNG"), ok)
    add("key-unicode.png", "keys/ünïcødé-日本語-😀.png", "key_unicode", encode(Image.fromarray(scene(40, 30, 13)), "PNG"), ok)
    add("key-plus.png", "keys/a+b=c.png", "key_plus", encode(Image.fromarray(scene(40, 30, 14)), "PNG"), ok)
    add("key-percent.png", "keys/100%25 literal%.png", "key_percent", encode(Image.fromarray(scene(40, 30, 15)), "PNG"), ok,
        "'%25' is three literal characters, never decoded")
    add("key-dotdot.png", "keys/../escape-attempt.png", "key_dotdot", encode(Image.fromarray(scene(40, 30, 16)), "PNG"), ok,
        "an S3 key containing '../' is just a key; on a local folder no file can be named '..', so it is a name with dots",
        local_key="keys/..dots../..escape-attempt.png")

    # --- refused inputs: exactly one failure with this reason --------------------------------------------------------
    add("zero-bytes.jpg", "bad/zero-bytes.jpg", "empty", b"", fail("empty"))
    whole_jpg = encode(Image.fromarray(scene(200, 150, 17)), "JPEG", quality=90)
    add("truncated.jpg", "bad/truncated.jpg", "jpeg_truncated", whole_jpg[: len(whole_jpg) * 6 // 10], fail("corrupt"),
        "first 60% of a baseline JPEG: header whole, scan cut off")
    whole_png = encode(Image.fromarray(scene(200, 150, 18)), "PNG")
    add("truncated.png", "bad/truncated.png", "png_truncated", whole_png[: len(whole_png) // 2], fail("corrupt"), "first half of a PNG")
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert noise[:2] not in (b"\xff\xd8", b"\x89P", b"BM", b"GI", b"II", b"MM", b"RI"), "pick another seed: noise starts like an image"
    add("random-bytes.jpg", "bad/random-bytes.jpg", "random_bytes_named_jpg", noise, fail("not_an_image"))
    html = (b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n<body><h1>503 Service Unavailable</h1>\n"
            b"<p>The server is temporarily unable to service your request.</p></body></html>\n")
    add("html-error.png", "bad/html-error.png", "html_named_png", html, fail("not_an_image"), "an error page saved under an image name")
    add("bomb-50000x50000.png", "bad/bomb-50000x50000.png", "png_bomb_header", png_bomb(50000, 50000), fail("too_large"),
        "valid IHDR declaring 50000x50000 RGB (7.5 GB decoded) in 70 bytes")
    add("bomb-50000x50000.jpg", "bad/bomb-50000x50000.jpg", "jpeg_bomb_header", jpeg_bomb(50000, 50000), fail("too_large"),
        "an 8x8 JPEG whose SOF0 declares 50000x50000")
    svg = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
           b'<rect width="64" height="64" fill="red"/></svg>\n')
    add("vector.svg", "bad/vector.svg", "svg", svg, fail("unsupported_format"), "SVG is refused by name, not rasterised")
    add("vector-no-prolog.svg", "bad/vector-no-prolog.svg", "svg_without_xml_prolog",
        b'\n  <svg viewBox="0 0 10 10" xmlns="http://www.w3.org/2000/svg"><circle r="4" cx="5" cy="5"/></svg>', fail("unsupported_format"))
    pdf_buf = io.BytesIO()
    # Fixed dates: PIL otherwise stamps the current time, and the corpus must regenerate byte for byte.
    import time
    fixed = time.gmtime(1767225600)  # 2026-01-01T00:00:00Z
    Image.fromarray(scene(60, 40, 19)).save(pdf_buf, "PDF", creationDate=fixed, modDate=fixed)
    add("document.pdf", "bad/document.pdf", "pdf", pdf_buf.getvalue(), fail("unsupported_format"), "a real one-page PDF (PIL's writer)")
    add("heic-header.heic", "bad/heic-header.heic", "heic_ftyp_header",
        struct.pack(">I", 24) + b"ftypheic" + struct.pack(">I", 0) + b"mif1heic" + b"\0" * 64, fail("unsupported_format"),
        "an ISO-BMFF 'ftyp heic' header: HEIC/AVIF have no decoder here")
    big = rng.integers(0, 256, (440, 440, 3), dtype=np.uint8)
    big_png = encode(Image.fromarray(big), "PNG", compress_level=1)
    assert len(big_png) > MAX_OBJECT_BYTES, len(big_png)
    add("over-size-limit.png", "bad/over-size-limit.png", "over_max_object_bytes", big_png, fail("too_large"),
        f"a valid noise PNG over max_object_bytes ({MAX_OBJECT_BYTES})")
    damaged = bytearray(whole_png)
    idat = damaged.index(b"IDAT")
    for k in range(idat + 40, idat + 400):
        damaged[k] ^= 0x5A
    add("damaged-idat.png", "bad/damaged-idat.png", "png_damaged_data", bytes(damaged), fail("corrupt"),
        "complete PNG whose compressed data is scrambled")

    for e in entries:
        assert e["bytes"] <= MAX_OBJECT_BYTES or e["expected"].get("reason") == "too_large", e["file"]
    manifest = {
        "_comment": "Generated by tools/gen_bad_inputs.py; expected outcomes are from PIL and hand reasoning.",
        "max_object_bytes": MAX_OBJECT_BYTES,
        "files": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(entries)} files in {out}: "
          f"{sum(e['expected']['outcome'] == 'result' for e in entries)} results, "
          f"{sum(e['expected']['outcome'] == 'failure' for e in entries)} failures")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(sys.argv[1])
