"""What the client knows about each API model: its native dimension and which request fields
it accepts. Unknown models get the conservative profile (no ``task``, no ``dimensions``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..image_tokens import TILE, TOKENS_PER_TILE

__all__ = ["ModelSpec", "model_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """``dimension`` is None when the client does not know it (learned from the API)."""

    dimension: int | None
    supports_task: bool
    supports_dimensions: bool
    #: Image token rule: side of the square tile and tokens per tile, if published.
    image_tile: tuple[int, int] | None = None

    def check_dimensions(self, dimensions: int | None, model: str) -> None:
        """Refuse a Matryoshka width larger than the model's (when the model is known)."""
        if dimensions is not None and self.dimension is not None and dimensions > self.dimension:
            raise ValueError(f"dimensions={dimensions} is larger than {model}'s {self.dimension}")


_KNOWN = {
    # jina-clip-v1 takes neither ``task`` nor ``dimensions``; Matryoshka is done client-side.
    "jina-clip-v1": ModelSpec(768, supports_task=False, supports_dimensions=False,
                              image_tile=(TILE, TOKENS_PER_TILE)),
    "jina-clip-v2": ModelSpec(1024, supports_task=True, supports_dimensions=True),
}

_UNKNOWN = ModelSpec(None, supports_task=False, supports_dimensions=False)


def model_spec(model: str) -> ModelSpec:
    """Look a model up by its API name; a ``jinaai/`` hub prefix is ignored."""
    name = model.strip().lower().removeprefix("jinaai/")
    return _KNOWN.get(name, _UNKNOWN)
