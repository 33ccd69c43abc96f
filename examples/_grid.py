"""A result grid for the notebooks: thumbnails with a caption under each, as one PIL image.

Jupyter displays a PIL image inline when it is the last value of a cell, so no plotting
library is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["result_grid"]

_LINE = 14  # pixels per caption line (Pillow's built-in bitmap font is about 11 px high)


def result_grid(
    images: Sequence[str | Path | Image.Image],
    captions: Sequence[str],
    *,
    columns: int = 4,
    thumb: int = 160,
    caption_lines: int = 2,
) -> Image.Image:
    """Thumbnails of ``images`` left to right, top to bottom, each over its caption (one
    caption per image; captions are wrapped, at newlines too, then cut to ``caption_lines``
    lines)."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    cell_h = thumb + 6 + _LINE * caption_lines
    grid = Image.new("RGB", (columns * (thumb + 8) + 8, rows * (cell_h + 8) + 8), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        x = 8 + (i % columns) * (thumb + 8)
        y = 8 + (i // columns) * (cell_h + 8)
        picture = image if isinstance(image, Image.Image) else Image.open(image)
        picture = picture.convert("RGB")
        picture.thumbnail((thumb, thumb))
        grid.paste(picture, (x + (thumb - picture.width) // 2, y + (thumb - picture.height) // 2))
        for n, line in enumerate(_wrap(caption, draw, font, thumb)[:caption_lines]):
            draw.text((x, y + thumb + 4 + n * _LINE), line, fill=(20, 20, 20), font=font)
    return grid


def _wrap(
    text: str, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    width: int,
) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a newline in ``text`` always starts a new line
    (a word longer than a line gets its own line)."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        start = len(lines)
        for word in paragraph.split():
            if len(lines) > start and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
    return lines
