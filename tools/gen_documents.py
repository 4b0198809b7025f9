#!/usr/bin/python3
"""Generates the document corpus (PDF and multi-page TIFF) the document reader's tests and benchmark use.

Run with Debian's /usr/bin/python3 and Debian's tools (poppler-utils is what the tests compare against; this script
needs img2pdf, python3-reportlab, python3-pil, qpdf and libtiff-tools, all listed in .ci/services.sh). Nothing is
downloaded and nothing large is committed: the tests run this into a temporary folder.

  /usr/bin/python3 tools/gen_documents.py --out DIR                       # the small corpus, about a second
  /usr/bin/python3 tools/gen_documents.py --out DIR --pdf-pages 1000      # + scanned_1000.pdf
  /usr/bin/python3 tools/gen_documents.py --out DIR --born-digital-pages 100 --g4-pages 100 --only-large

Every pixel and word is seeded or fixed, and every tool is asked for deterministic output (img2pdf --nodate,
reportlab invariant mode, qpdf --static-id), so a second run writes the same bytes. DIR/manifest.json lists what
each file is and what a reader must make of it; the expected outcomes there are worked out by hand from how the
files are built, never from the reader under test.

The small corpus:
  scanned.pdf              4 JPEG pages (img2pdf), 100 dpi letter and one landscape page, no text layer
  scanned_linearized.pdf   the same, linearised by qpdf
  born_digital.pdf         5 reportlab pages with a text layer; pages 2 and 4 carry fewer than 20 letters/digits
  rotated.pdf              2 pages, the first with /Rotate 90: a black square marks the unrotated top-left corner
  giant_page.pdf           one 14,400 x 14,400 pt page (the PDF maximum)
  many_pages.pdf           12 tiny pages, more than the MaxPages of 10 the tests configure
  encrypted.pdf            scanned.pdf encrypted with a user password (AES-128)
  truncated.pdf            born_digital.pdf cut at 60 % (no trailer, no %%EOF)
  zero_pages.pdf           a valid PDF whose page tree is empty (qpdf --empty)
  html.pdf                 an HTML page named .pdf
  g4_multi.tif             3 CCITT G4 bilevel pages of different sizes; page 2 has Orientation 6 (rotate 90 cw)
  lzw_rgb.tif, deflate_gray.tif, jpeg_rgb.tif, packbits_gray.tif   2 pages each, one compression each
  mixed_sizes.tif          3 pages of different sizes, depths and compressions (G4 1-bit, LZW RGB, Deflate 8-bit)
  corrupt_strip.tif        3 Deflate pages; every strip of page 2 is overwritten with 0xFF bytes
"""
import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

# An embedded TrueType font (fonts-dejavu-core): with the base-14 fonts each rasteriser would substitute its own
# Helvetica lookalike, and the tests' comparison with poppler would measure font substitution, not rendering.
pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
pdfmetrics.registerFont(TTFont("DejaVu-Bold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))

LOREM = ("Invoice number 2024-0117 for services rendered in March. The quick brown fox jumps over the lazy dog. "
         "Payment is due within thirty days of the date above. Questions go to accounts at the address below.")


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def scan_page(w, h, seed):
    """A grey 'scanned' page: paper noise, a dark header bar and lines of text-like blocks."""
    rng = np.random.default_rng(seed)
    a = np.full((h, w), 235, np.uint8)
    a = np.clip(a.astype(np.int16) + rng.integers(-12, 12, (h, w)), 0, 255).astype(np.uint8)
    im = Image.fromarray(a, "L")
    d = ImageDraw.Draw(im)
    d.rectangle([w // 12, h // 14, w - w // 12, h // 14 + h // 30], fill=40)
    y = h // 6
    while y < h - h // 10:
        x = w // 12
        while x < w - w // 10:
            ww = int(rng.integers(w // 40, w // 10))
            d.rectangle([x, y, min(x + ww, w - w // 12), y + h // 110], fill=int(rng.integers(10, 80)))
            x += ww + w // 60
        y += h // 40
    return im


def jpeg(im, path, dpi):
    im.save(path, "JPEG", quality=70, dpi=(dpi, dpi), optimize=False)


def scanned_pdf(out, name, pages, work):
    """img2pdf of JPEG pages: the JPEG bytes are embedded as they are, like a scanner's PDF. Pages cycle through
    eight distinct images (the file still holds every page's own copy), which keeps a 1,000-page file fast to make."""
    files = []
    for i in range(min(pages, 8)):
        p = os.path.join(work, f"scan_{i}.jpg")
        if not os.path.exists(p):
            # Page 3 of the cycle is landscape, so aspect handling is exercised.
            w, h = (1100, 850) if i == 2 else (850, 1100)
            jpeg(scan_page(w, h, 100 + i), p, 100)
        files.append(p)
    seq = [files[i % len(files)] for i in range(pages)]
    run("img2pdf", "--nodate", "-o", os.path.join(out, name), *seq)


def born_digital(out, name, pages, sparse=(2, 4)):
    c = canvas.Canvas(os.path.join(out, name), pagesize=letter, invariant=1)
    w, h = letter
    for p in range(1, pages + 1):
        c.setFont("DejaVu-Bold", 20)
        if p in sparse:
            # Fewer than 20 letters or digits: a usable text layer must not be claimed for this page.
            c.drawString(72, h - 100, f"Page {p}")
            c.setFillGray(0.3)
            c.rect(72, 200, w - 144, 300, fill=1, stroke=0)
            c.setFillGray(0)
        else:
            c.drawString(72, h - 100, f"Quarterly report, page {p}")
            c.setFont("DejaVu", 12)
            y = h - 140
            for line in range(30):
                c.drawString(72, y, LOREM[(line * 17) % 60:][:80])
                y -= 18
            c.setStrokeGray(0.2)
            c.line(72, 80, w - 72, 80)
        c.showPage()
    c.save()


def rotated(out, work):
    """Two unrotated letter pages drawn by reportlab; qpdf then sets /Rotate 90 on page 1 only (reportlab's own
    setPageRotation also swaps the MediaBox and sticks to every later page)."""
    plain = os.path.join(work, "rotated_plain.pdf")
    c = canvas.Canvas(plain, pagesize=letter, invariant=1)
    w, h = letter
    for p in range(2):
        # Unrotated page: a 144 pt black square in the top-left corner, a grey bar along the bottom.
        c.setFillGray(0)
        c.rect(36, h - 36 - 144, 144, 144, fill=1, stroke=0)
        c.setFillGray(0.5)
        c.rect(36, 36, w - 72, 60, fill=1, stroke=0)
        c.setFillGray(0)
        c.setFont("DejaVu", 24)
        c.drawString(220, h / 2, f"Rotated page {p + 1}")
        c.showPage()
    c.save()
    run("qpdf", "--static-id", plain, "--rotate=+90:1", os.path.join(out, "rotated.pdf"))


def giant(out):
    size = 14400
    c = canvas.Canvas(os.path.join(out, "giant_page.pdf"), pagesize=(size, size), invariant=1)
    c.setFillGray(0.2)
    c.rect(0, size / 2, size / 2, size / 2, fill=1, stroke=0)
    c.setFont("DejaVu", 800)
    c.drawString(1000, 2000, "Giant page")
    c.showPage()
    c.save()


def many_pages(out, pages=12):
    c = canvas.Canvas(os.path.join(out, "many_pages.pdf"), pagesize=(200, 200), invariant=1)
    for p in range(pages):
        c.setFont("DejaVu", 12)
        c.drawString(20, 100, f"page {p + 1}")
        c.showPage()
    c.save()


def bilevel(w, h, seed):
    """A 1-bit page: black text-like blocks and a frame on white; the stored top-left has a solid black block."""
    rng = np.random.default_rng(seed)
    a = np.ones((h, w), bool)
    a[: h // 10, : w // 5] = False
    a[h // 2: h // 2 + 4, :] = False
    for _ in range(60):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(h // 8, h - 20))
        a[y: y + 8, x: x + int(rng.integers(10, 40))] = False
    return Image.fromarray(a).convert("1")


def rgb_scene(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1).astype(np.uint8)
    a[: h // 6, : w // 4] = (255, 0, 0)
    for _ in range(5):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        a[max(cy - 10, 0): cy + 10, max(cx - 15, 0): cx + 15] = rng.integers(0, 255, 3)
    return Image.fromarray(a, "RGB")


def save_tiff(path, frames, compression):
    frames[0].save(path, "TIFF", compression=compression, save_all=True, append_images=frames[1:], dpi=(200, 200))


def tiffcat(out_path, parts):
    run("tiffcp", *parts, out_path)


def ifd_strips(path):
    """(offsets, byte counts) of each page's strips, walking the IFDs of a little- or big-endian classic TIFF."""
    data = open(path, "rb").read()
    e = "<" if data[:2] == b"II" else ">"
    (off,) = struct.unpack(e + "I", data[4:8])
    pages = []
    sizes = {3: 2, 4: 4}
    while off:
        (n,) = struct.unpack(e + "H", data[off: off + 2])
        tags = {}
        for i in range(n):
            tag, typ, cnt, val = struct.unpack(e + "HHII", data[off + 2 + 12 * i: off + 14 + 12 * i])
            if tag in (273, 279):
                sz = sizes[typ]
                raw = data[off + 10 + 12 * i: off + 14 + 12 * i] if cnt * sz <= 4 else data[val: val + cnt * sz]
                fmt = e + ("H" if sz == 2 else "I") * cnt
                tags[tag] = struct.unpack(fmt, raw[: cnt * sz])
        pages.append((tags[273], tags[279]))
        (off,) = struct.unpack(e + "I", data[off + 2 + 12 * n: off + 6 + 12 * n])
    return pages


def tiffs(out, work):
    manifest = {}
    # G4: letter at 100 dpi, a smaller half-letter page, a landscape page; page 2 gets Orientation 6.
    g4_parts = []
    for i, (w, h) in enumerate([(850, 1100), (550, 850), (1100, 850)]):
        p = os.path.join(work, f"g4_{i}.tif")
        bilevel(w, h, 200 + i).save(p, "TIFF", compression="group4", dpi=(100, 100))
        if i == 1:
            run("tiffset", "-s", "274", "6", p)
        g4_parts.append(p)
    tiffcat(os.path.join(out, "g4_multi.tif"), g4_parts)
    manifest["g4_multi.tif"] = {"pages": 3, "stored_sizes": [[850, 1100], [550, 850], [1100, 850]],
                                "orientation": {"2": 6}, "lossless": True}

    save_tiff(os.path.join(out, "lzw_rgb.tif"), [rgb_scene(400, 300, 1), rgb_scene(300, 400, 2)], "tiff_lzw")
    save_tiff(os.path.join(out, "deflate_gray.tif"),
              [rgb_scene(320, 240, 3).convert("L"), rgb_scene(240, 320, 4).convert("L")], "tiff_adobe_deflate")
    save_tiff(os.path.join(out, "jpeg_rgb.tif"), [rgb_scene(320, 240, 5), rgb_scene(320, 240, 6)], "jpeg")
    save_tiff(os.path.join(out, "packbits_gray.tif"),
              [rgb_scene(200, 150, 7).convert("L"), rgb_scene(150, 200, 8).convert("L")], "packbits")
    for n, lossless in [("lzw_rgb.tif", True), ("deflate_gray.tif", True), ("jpeg_rgb.tif", False),
                        ("packbits_gray.tif", True)]:
        manifest[n] = {"pages": 2, "lossless": lossless}

    mixed = []
    for i, (im, comp) in enumerate([(bilevel(600, 800, 9), "group4"), (rgb_scene(500, 300, 10), "tiff_lzw"),
                                    (rgb_scene(200, 260, 11).convert("L"), "tiff_adobe_deflate")]):
        p = os.path.join(work, f"mixed_{i}.tif")
        im.save(p, "TIFF", compression=comp, dpi=(150, 150))
        mixed.append(p)
    tiffcat(os.path.join(out, "mixed_sizes.tif"), mixed)
    manifest["mixed_sizes.tif"] = {"pages": 3, "stored_sizes": [[600, 800], [500, 300], [200, 260]], "lossless": True}

    bad = os.path.join(out, "corrupt_strip.tif")
    save_tiff(bad, [rgb_scene(300, 200, 12).convert("L"), rgb_scene(300, 200, 13).convert("L"),
                    rgb_scene(300, 200, 14).convert("L")], "tiff_adobe_deflate")
    offsets, counts = ifd_strips(bad)[1]
    with open(bad, "r+b") as f:
        for o, c in zip(offsets, counts):
            f.seek(o)
            f.write(b"\xff" * c)
    manifest["corrupt_strip.tif"] = {"pages": 3, "bad_pages": [2], "page_reason": "corrupt"}
    return manifest


def small_corpus(out, work):
    m = {}
    scanned_pdf(out, "scanned.pdf", 4, work)
    m["scanned.pdf"] = {"pages": 4, "text": "none"}
    run("qpdf", "--static-id", "--linearize", os.path.join(out, "scanned.pdf"),
        os.path.join(out, "scanned_linearized.pdf"))
    m["scanned_linearized.pdf"] = {"pages": 4, "text": "none"}
    born_digital(out, "born_digital.pdf", 5)
    m["born_digital.pdf"] = {"pages": 5, "text": "usable except pages 2 and 4"}
    rotated(out, work)
    m["rotated.pdf"] = {"pages": 2, "rotate": {"1": 90}}
    giant(out)
    m["giant_page.pdf"] = {"pages": 1, "page_points": [14400, 14400]}
    many_pages(out)
    m["many_pages.pdf"] = {"pages": 12, "outcome": "too_many_pages with MaxPages 10"}
    run("qpdf", "--static-id", "--static-aes-iv", "--encrypt", "user-secret", "owner-secret", "128", "--use-aes=y",
        "--", os.path.join(out, "scanned.pdf"), os.path.join(out, "encrypted.pdf"))
    m["encrypted.pdf"] = {"outcome": "encrypted"}
    data = open(os.path.join(out, "born_digital.pdf"), "rb").read()
    open(os.path.join(out, "truncated.pdf"), "wb").write(data[: len(data) * 6 // 10])
    m["truncated.pdf"] = {"outcome": "corrupt"}
    run("qpdf", "--static-id", "--empty", os.path.join(out, "zero_pages.pdf"))
    m["zero_pages.pdf"] = {"outcome": "no_pages"}
    with open(os.path.join(out, "html.pdf"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><head><title>Report</title></head><body><p>Not a PDF.</p></body></html>\n")
    m["html.pdf"] = {"outcome": "corrupt", "sniff": None}
    m.update(tiffs(out, work))
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pdf-pages", type=int, help="also write scanned_N.pdf, N JPEG pages")
    ap.add_argument("--born-digital-pages", type=int, help="also write born_digital_N.pdf, N text pages")
    ap.add_argument("--g4-pages", type=int, help="also write g4_N.tif, N letter pages at 200 dpi")
    ap.add_argument("--only-large", action="store_true", help="skip the small corpus")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    work = os.path.join(a.out, ".work")
    os.makedirs(work, exist_ok=True)
    manifest = {}
    if not a.only_large:
        manifest.update(small_corpus(a.out, work))
    if a.pdf_pages:
        scanned_pdf(a.out, f"scanned_{a.pdf_pages}.pdf", a.pdf_pages, work)
        manifest[f"scanned_{a.pdf_pages}.pdf"] = {"pages": a.pdf_pages}
    if a.born_digital_pages:
        born_digital(a.out, f"born_digital_{a.born_digital_pages}.pdf", a.born_digital_pages, sparse=())
        manifest[f"born_digital_{a.born_digital_pages}.pdf"] = {"pages": a.born_digital_pages}
    if a.g4_pages:
        pages = [bilevel(1700, 2200, 300 + i) for i in range(min(a.g4_pages, 4))]
        frames = [pages[i % len(pages)] for i in range(a.g4_pages)]
        frames[0].save(os.path.join(a.out, f"g4_{a.g4_pages}.tif"), "TIFF", compression="group4", save_all=True,
                       append_images=frames[1:], dpi=(200, 200))
        manifest[f"g4_{a.g4_pages}.tif"] = {"pages": a.g4_pages}
    shutil.rmtree(work)
    path = os.path.join(a.out, "manifest.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    old.update(manifest)
    with open(path, "w") as f:
        json.dump(old, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
