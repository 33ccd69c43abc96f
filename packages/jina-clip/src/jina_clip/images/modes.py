"""Any decoded image to 8-bit RGB, the way the model needs it.

``Image.convert("RGB")`` (what the official ``encode_image`` does) is right for every 8-bit
mode (palette with transparency, LA, RGBA, CMYK, 1-bit ...), but it *clips* 16-bit grayscale
(``I;16``: a 16-bit PNG) at 255, so a normal 16-bit image, whose samples span 0..65535, turns
almost entirely white. Its samples are scaled to 8 bits first (``v >> 8``, the PNG meaning of
a 16-bit sample), so the picture survives. This deliberately departs from the official code
for 16-bit grayscale only; 16-bit RGB PNGs already open as 8-bit RGB in Pillow. Pillow opens
some 16-bit grayscale files as 32-bit ``I`` with the same 0..65535 samples: PGM always, PNG
before Pillow 10.3; those are scaled the same way.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["SIXTEEN_BIT_AS_I_FORMATS", "SIXTEEN_BIT_MODES", "to_rgb"]

#: Pillow's 16-bit grayscale modes (16-bit PNG, TIFF).
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
#: Decoders whose mode ``I`` images are 16-bit grayscale (samples 0..65535): PGM files, and
#: PNG files before Pillow 10.3 (which opens them as ``I;16``).
SIXTEEN_BIT_AS_I_FORMATS = frozenset({"PNG", "PPM"})


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: 16-bit grayscale scaled to 8 bits, everything else through
    Pillow's ``convert("RGB")``. Raises what ``convert`` raises (OSError, ValueError)."""
    if image.mode == "RGB":
        return image
    if image.mode in SIXTEEN_BIT_MODES or (
        image.mode == "I" and image.format in SIXTEEN_BIT_AS_I_FORMATS
    ):
        samples = np.clip(np.asarray(image), 0, 65535).astype(np.uint16, copy=False)
        image = Image.fromarray((samples >> 8).astype(np.uint8), mode="L")
    return image.convert("RGB")
