"""The sample data every example shares: the pictures in ``images/`` and the texts in ``docs/``.

The pictures are drawn by ``images/make_samples.py`` (made by this project, CC0); the captions
below say what each shows, and are what a trained CLIP model should match them with.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CAPTIONS", "DOCS_DIR", "EXAMPLES_DIR", "IMAGES_DIR", "documents", "image_paths"]

EXAMPLES_DIR = Path(__file__).resolve().parent
IMAGES_DIR = EXAMPLES_DIR / "images"
DOCS_DIR = EXAMPLES_DIR / "docs"

#: Picture file name -> a short caption of what it shows.
CAPTIONS: dict[str, str] = {
    "red-circle.png": "a red circle",
    "blue-square.png": "a blue square",
    "green-tree.png": "a green tree on a meadow",
    "sunset-sea.png": "the sun setting over the sea",
    "night-sky.png": "a crescent moon and stars in the night sky",
    "cat-face.png": "the face of an orange tabby cat",
    "bar-chart.png": "a bar chart",
    "house.png": "a small house with a red roof",
    "mountains.png": "snowy mountain peaks",
    "smiley-face.png": "a yellow smiley face",
    "sailboat.png": "a sailing boat on the sea",
}


def image_paths() -> list[Path]:
    """The sample pictures, in the order of CAPTIONS."""
    return [IMAGES_DIR / name for name in CAPTIONS]


def documents() -> dict[str, str]:
    """The sample texts: file name -> text, sorted by file name."""
    return {p.name: p.read_text(encoding="utf-8").strip() for p in sorted(DOCS_DIR.glob("*.txt"))}
