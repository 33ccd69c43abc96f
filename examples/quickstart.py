"""Quickstart: embed a few texts and images with jina-clip and print a similarity table.

    python examples/quickstart.py                      # jinaai/jina-clip-v1 from the hub
    python examples/quickstart.py --model DIR          # a local checkpoint directory
    python examples/quickstart.py --tiny               # a tiny random checkpoint (offline demo)
    JINA_CLIP_EXAMPLES_TINY=1 python examples/quickstart.py    # the same switch, for CI
    python examples/quickstart.py --image photo.jpg --image https://example.com/cat.jpg
    python examples/quickstart.py --api                # Jina's API (needs JINA_API_KEY)

The pictures are the project's samples (examples/images/) and the captions say what they
show. With the real model, each caption scores highest on its own picture; the tiny
checkpoint is random, so its scores are meaningless (it only shows the pipeline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _model.py, also when imported by path

import numpy as np
from _model import ModelChoice, add_model_arguments
from _samples import CAPTIONS, image_paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--image", action="append", default=[], help="extra image path or URL")
    parser.add_argument("--text", action="append", default=[], help="extra caption")
    args = parser.parse_args()
    choice = ModelChoice.from_args(args)
    print(choice.describe())

    texts = [*CAPTIONS.values(), *args.text]
    images = [*map(str, image_paths()), *args.image]
    with choice.encoder() as clip:
        text_vectors = clip.encode_text(texts)
        image_vectors = clip.encode_image(images)

    similarity = text_vectors @ image_vectors.T  # cosine: vectors are L2-normalized
    names = [Path(i).name for i in images]
    print(f"\n{'text':44} {'best picture':18} {'cosine':>7}  own picture's rank")
    found = 0
    for i, (text, row) in enumerate(zip(texts, similarity, strict=True)):
        order = [int(j) for j in np.argsort(-row)]
        rank = f"{order.index(i) + 1} of {len(images)}" if i < len(CAPTIONS) else "-"
        found += rank.startswith("1 ")
        print(f"{text[:44]:44} {names[order[0]][:18]:18} {row[order[0]]:7.3f}  {rank}")
    print(f"\n{found} of {len(CAPTIONS)} captions score highest on their own picture; "
          f"vectors: {text_vectors.shape}, {image_vectors.shape}")

if __name__ == "__main__":
    from jina_clip import JinaCLIPError

    try:
        main()
    except JinaCLIPError as exc:
        raise SystemExit(f"quickstart: {exc}\n(no network? `--tiny` runs fully offline)") from None
