"""Quickstart: embed a few texts and images with jina-clip and print a similarity table.

    python examples/quickstart.py                      # jinaai/jina-clip-v1 from the hub
    python examples/quickstart.py --model DIR          # a local checkpoint directory
    python examples/quickstart.py --tiny               # a tiny random checkpoint (offline demo)
    python examples/quickstart.py --image photo.jpg --image https://example.com/cat.jpg
    python examples/quickstart.py --api                # Jina's API (needs JINA_API_KEY)

The pictures are drawn on the fly (a red circle, a blue square, a green triangle), so the
example needs no files. With the real model, each caption scores highest on its own picture;
the tiny checkpoint is random, so its scores are meaningless (it only shows the pipeline).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from jina_clip import JinaCLIP

CAPTIONS = ["a red circle", "a blue square", "a green triangle"]


def draw_pictures(folder: Path) -> list[Path]:
    """Three 256x256 pictures matching CAPTIONS, saved as PNG files."""
    paths = []
    for name, draw in (
        ("red-circle", lambda d: d.ellipse((48, 48, 208, 208), fill=(220, 30, 30))),
        ("blue-square", lambda d: d.rectangle((56, 56, 200, 200), fill=(30, 60, 220))),
        ("green-triangle", lambda d: d.polygon([(128, 40), (220, 210), (36, 210)], fill=(30, 170, 60))),  # noqa: E501
    ):
        image = Image.new("RGB", (256, 256), "white")
        draw(ImageDraw.Draw(image))
        path = folder / f"{name}.png"
        image.save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default="jinaai/jina-clip-v1", help="hub id or directory")
    parser.add_argument("--tiny", action="store_true", help="tiny random checkpoint (offline)")
    parser.add_argument("--api", action="store_true", help="use Jina's Embeddings API")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--image", action="append", default=[], help="extra image path or URL")
    parser.add_argument("--text", action="append", default=[], help="extra caption")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.api:
            clip: JinaCLIP = JinaCLIP.remote("jina-clip-v1")
        else:
            model = args.model
            if args.tiny:
                from jina_clip.testing import write_tiny_checkpoint

                model = str(write_tiny_checkpoint(folder / "tiny-jina-clip"))
            clip = JinaCLIP.local(model, device=args.device)
        print(clip)

        texts = CAPTIONS + args.text
        images = [*draw_pictures(folder), *args.image]
        with clip:
            text_vectors = clip.encode_text(texts)
            image_vectors = clip.encode_image(images)

    similarity = text_vectors @ image_vectors.T  # cosine: vectors are L2-normalized
    names = [Path(str(i)).name[:18] for i in images]
    print(f"\n{'':24}" + "".join(f"{n:>20}" for n in names))
    for text, row in zip(texts, similarity, strict=True):
        best = int(np.argmax(row))
        cells = "".join(
            f"{value:>19.3f}{'*' if j == best else ' '}" for j, value in enumerate(row)
        )
        print(f"{text[:24]:24}{cells}")
    print("\n* = best picture for the caption; vectors:", text_vectors.shape, image_vectors.shape)


if __name__ == "__main__":
    from jina_clip import JinaCLIPError

    try:
        main()
    except JinaCLIPError as exc:
        raise SystemExit(f"quickstart: {exc}\n(no network? `--tiny` runs fully offline)") from None
