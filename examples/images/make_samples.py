"""Draw the sample pictures of examples/images/ (made by this project, CC0).

    python examples/images/make_samples.py            # (re)write the PNG files next to this script
    python examples/images/make_samples.py --check    # exit 1 if a stored file's pixels differ

Every picture is drawn with Pillow from fixed shapes and colours, no randomness, so running this
again draws the same pixels (``tests/test_examples.py`` checks it). Each is drawn at twice the
final size and scaled down, which smooths the edges: CLIP recognises the shapes more easily.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

__all__ = ["DRAWINGS", "SIZE", "draw", "main"]

#: Final side length in pixels (CLIP looks at 224x224).
SIZE = 224
_S = 2  # supersampling factor
_W = SIZE * _S

Drawing = Callable[[Image.Image, ImageDraw.ImageDraw], None]


def _p(*xy: float) -> list[float]:
    """Coordinates given on a 0..100 grid, scaled to the drawing canvas."""
    return [v * _W / 100 for v in xy]


def _vertical_gradient(
    image: Image.Image, top: tuple[int, int, int], bottom: tuple[int, int, int], y0: int, y1: int
) -> None:
    """Fill rows y0..y1 (canvas pixels) with a linear blend from ``top`` to ``bottom``."""
    draw = ImageDraw.Draw(image)
    for y in range(y0, y1):
        t = (y - y0) / max(1, y1 - y0 - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (_W, y)], fill=colour)


def red_circle(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    d.ellipse(_p(18, 18, 82, 82), fill=(215, 30, 35))


def blue_square(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    d.rectangle(_p(20, 20, 80, 80), fill=(30, 70, 210))


def green_tree(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (150, 200, 245), (215, 235, 250), 0, int(_W * 0.8))
    d.rectangle(_p(0, 80, 100, 100), fill=(95, 165, 60))
    d.rectangle(_p(44, 52, 56, 84), fill=(110, 70, 35))
    for box in ((22, 22, 62, 58), (38, 10, 78, 48), (40, 30, 82, 66), (18, 36, 56, 68)):
        d.ellipse(_p(*box), fill=(35, 130, 45))


def sunset_sea(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (250, 140, 60), (255, 215, 120), 0, int(_W * 0.6))
    d.ellipse(_p(34, 34, 66, 66), fill=(255, 235, 80))
    _vertical_gradient(image, (30, 90, 150), (15, 45, 95), int(_W * 0.6), _W)
    for i, y in enumerate((65, 72, 80, 89)):
        half = 14 - 3 * i
        d.line(_p(50 - half, y, 50 + half, y), fill=(255, 200, 90), width=_S * 2)


def night_sky(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (5, 10, 35), (25, 35, 80), 0, _W)
    moon = Image.new("L", image.size, 0)  # a crescent: a disc minus a shifted disc
    ImageDraw.Draw(moon).ellipse(_p(55, 12, 85, 42), fill=255)
    ImageDraw.Draw(moon).ellipse(_p(63, 8, 93, 38), fill=0)
    image.paste((245, 240, 200), mask=moon)
    stars = ((10, 15), (25, 40), (40, 10), (15, 70), (35, 60), (50, 45), (70, 65), (85, 80),
             (60, 85), (90, 55), (30, 88), (8, 45), (48, 75), (78, 50))
    for i, (x, y) in enumerate(stars):
        r = 0.6 + 0.5 * (i % 3)
        d.ellipse(_p(x - r, y - r, x + r, y + r), fill=(255, 250, 220))
    # Hills in silhouette
    d.polygon(_p(0, 100, 0, 90, 30, 82, 60, 92, 100, 84, 100, 100), fill=(3, 6, 15))


def cat_face(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    fur, dark = (235, 150, 60), (150, 80, 25)
    d.rectangle(_p(0, 0, 100, 100), fill=(225, 240, 235))
    d.polygon(_p(16, 40, 22, 6, 44, 26), fill=fur)
    d.polygon(_p(84, 40, 78, 6, 56, 26), fill=fur)
    d.polygon(_p(22, 34, 25, 15, 38, 27), fill=(245, 175, 170))
    d.polygon(_p(78, 34, 75, 15, 62, 27), fill=(245, 175, 170))
    d.ellipse(_p(12, 20, 88, 92), fill=fur)
    for x in (42, 50, 58):  # forehead stripes
        d.line(_p(x, 22, x, 36), fill=dark, width=_S * 5)
    for side in (-1, 1):
        for y in (52, 62):  # cheek stripes
            d.line(_p(50 + side * 38, y, 50 + side * 28, y + 2), fill=dark, width=_S * 4)
        ex = 50 + side * 15
        d.ellipse(_p(ex - 8, 42, ex + 8, 56), fill=(120, 190, 60))
        d.ellipse(_p(ex - 2, 43, ex + 2, 55), fill=(20, 20, 20))
        for dy in (-4, 0, 4):  # whiskers
            d.line(_p(50 + side * 10, 70 + dy / 2, 50 + side * 46, 66 + dy * 1.5),
                   fill=(60, 50, 40), width=_S)
    d.polygon(_p(45, 62, 55, 62, 50, 68), fill=(220, 90, 110))
    d.line(_p(50, 68, 50, 73), fill=(60, 40, 30), width=_S * 2)
    d.arc(_p(42, 68, 50, 78), 0, 180, fill=(60, 40, 30), width=_S * 2)
    d.arc(_p(50, 68, 58, 78), 0, 180, fill=(60, 40, 30), width=_S * 2)


def bar_chart(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    d.rectangle(_p(0, 0, 100, 100), fill=(255, 255, 255))
    for y in (25, 45, 65):  # grid lines
        d.line(_p(14, y, 94, y), fill=(215, 215, 215), width=_S)
    colours = ((66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (150, 80, 200))
    for i, (height, colour) in enumerate(zip((35, 60, 45, 72, 25), colours, strict=True)):
        x = 19 + i * 15
        d.rectangle(_p(x, 85 - height, x + 10, 85), fill=colour)
    d.line(_p(14, 10, 14, 85), fill=(40, 40, 40), width=_S * 2)
    d.line(_p(14, 85, 94, 85), fill=(40, 40, 40), width=_S * 2)
    for i in range(5):  # ticks under the bars
        x = 24 + i * 15
        d.line(_p(x, 85, x, 89), fill=(40, 40, 40), width=_S * 2)


def house(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (110, 170, 235), (190, 220, 245), 0, int(_W * 0.82))
    d.rectangle(_p(0, 82, 100, 100), fill=(90, 170, 70))
    d.rectangle(_p(64, 18, 72, 38), fill=(120, 60, 50))  # chimney
    d.rectangle(_p(22, 48, 78, 86), fill=(240, 225, 190))
    d.polygon(_p(14, 50, 50, 20, 86, 50), fill=(190, 45, 40))
    d.rectangle(_p(44, 64, 56, 86), fill=(110, 65, 30))
    for x in (28, 62):
        d.rectangle(_p(x, 56, x + 10, 66), fill=(150, 200, 240), outline=(255, 255, 255),
                    width=_S * 2)
        d.line(_p(x + 5, 56, x + 5, 66), fill=(255, 255, 255), width=_S)
        d.line(_p(x, 61, x + 10, 61), fill=(255, 255, 255), width=_S)


def mountains(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (80, 150, 230), (200, 225, 250), 0, _W)
    d.polygon(_p(-10, 100, 30, 30, 70, 100), fill=(105, 110, 125))
    d.polygon(_p(30, 100, 68, 18, 110, 100), fill=(85, 90, 105))
    d.polygon(_p(30, 30, 22, 44, 27, 41, 31, 46, 35, 40, 38, 44), fill=(250, 250, 252))
    d.polygon(_p(68, 18, 59, 37, 64, 34, 68, 39, 72, 33, 77, 37), fill=(250, 250, 252))
    d.rectangle(_p(0, 88, 100, 100), fill=(60, 120, 60))


def smiley_face(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    d.rectangle(_p(0, 0, 100, 100), fill=(255, 255, 255))
    d.ellipse(_p(12, 12, 88, 88), fill=(255, 210, 40), outline=(200, 140, 0), width=_S * 3)
    d.ellipse(_p(34, 32, 42, 46), fill=(40, 30, 20))
    d.ellipse(_p(58, 32, 66, 46), fill=(40, 30, 20))
    d.arc(_p(28, 36, 72, 72), 20, 160, fill=(40, 30, 20), width=_S * 4)


def sailboat(image: Image.Image, d: ImageDraw.ImageDraw) -> None:
    _vertical_gradient(image, (120, 185, 240), (210, 235, 250), 0, int(_W * 0.7))
    _vertical_gradient(image, (40, 120, 190), (20, 70, 140), int(_W * 0.7), _W)
    d.line(_p(50, 14, 50, 70), fill=(90, 60, 30), width=_S * 3)
    d.polygon(_p(52, 16, 52, 66, 80, 66), fill=(250, 250, 245))
    d.polygon(_p(48, 24, 48, 66, 26, 66), fill=(235, 70, 60))
    d.polygon(_p(24, 70, 76, 70, 68, 80, 32, 80), fill=(120, 60, 35))
    for y, dx in ((86, 0), (93, 12)):
        for x in (10 + dx, 40 + dx, 70 + dx):
            d.arc(_p(x, y - 3, x + 12, y + 3), 200, 340, fill=(230, 240, 250), width=_S * 2)


#: File name -> drawing function. The captions of these pictures live in ``examples/_samples.py``.
DRAWINGS: dict[str, Drawing] = {
    "red-circle.png": red_circle,
    "blue-square.png": blue_square,
    "green-tree.png": green_tree,
    "sunset-sea.png": sunset_sea,
    "night-sky.png": night_sky,
    "cat-face.png": cat_face,
    "bar-chart.png": bar_chart,
    "house.png": house,
    "mountains.png": mountains,
    "smiley-face.png": smiley_face,
    "sailboat.png": sailboat,
}


def draw(name: str) -> Image.Image:
    """The picture ``name`` (a key of DRAWINGS), SIZE x SIZE, RGB."""
    canvas = Image.new("RGB", (_W, _W), "white")
    DRAWINGS[name](canvas, ImageDraw.Draw(canvas))
    return canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    differ = []
    for name in DRAWINGS:
        image, path = draw(name), args.out / name
        if args.check:
            with Image.open(path) as stored:
                same = stored.convert("RGB").size == image.size and not ImageChops.difference(
                    stored.convert("RGB"), image).getbbox()
            if not same:
                differ.append(name)
        else:
            image.save(path, optimize=True)
            print(f"{path.name}: {path.stat().st_size / 1024:.1f} KiB")
    if differ:
        print("pixels differ from the drawing:", ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
