#!/usr/bin/python3
"""Independent TIFF page decode for the document reader's tests: PIL (libtiff underneath), not LibTiff.NET.

  tiff_reference.py FILE PAGE OUTPUT      # 1-based PAGE; writes raw interleaved RGB (H*W*3), prints "W H"

The page is shown as a viewer shows it, with its own TIFF Orientation tag (274) applied. Pillow applies it itself
when libtiff decodes the page (every compressed page: TiffImageFile._tile_orientation); an uncompressed page is
transposed here with the table ImageOps.exif_transpose uses.
"""
import sys

from PIL import Image

path, page, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
im = Image.open(path)
im.seek(page - 1)
im.load()
orientation = im.tag_v2.get(274, 1)
method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}.get(orientation)
if method is not None and not getattr(im, "_tile_orientation", None):
    im = im.transpose(method)
im = im.convert("RGB")
open(out, "wb").write(im.tobytes())
print(im.width, im.height)
