"""The official jina-clip-v1 image preprocessing, reproduced step by step without torchvision.

Jina's ``JinaCLIPImageProcessor`` builds open_clip's eval ``image_transform`` (resize_mode
``shortest``), which is, in this order:

1. ``torchvision.transforms.Resize(size, BICUBIC)`` on the PIL image: the shorter side becomes
   ``size``, the longer ``int(size * long / short)``; nothing happens if that is the current
   size. torchvision calls ``PIL.Image.resize(..., BICUBIC)``, which antialiases.
2. ``CenterCrop(size)``: ``top = int(round((H - size) / 2.0))``, ``left`` likewise (Python's
   round: halves go to even).
3. ``_convert_to_rgb``: ``image.convert("RGB")``.
4. ``ToTensor`` (uint8 to float32, divided by 255) and ``Normalize`` (``(x - mean) / std`` in
   float32).

The order matters because the resize runs in the image's *original* mode: Pillow resizes a
palette (``P``) or bilevel (``1``) image with NEAREST whatever filter is asked for, resizes
``RGBA``/``LA`` premultiplied by alpha (then ``convert("RGB")`` drops alpha without compositing),
and resizes ``L``, ``I;16`` and ``CMYK`` in their own channel space. Converting to RGB first
would change the pixels for all of these, so this module (a mirror of the processor) does not.
The official ``encode_image``, however, converts every image to RGB *before* calling the
processor, and so does :class:`~jina_clip.local.LocalJinaCLIP`. No EXIF orientation is
applied, because the official code applies none.

:meth:`ImagePreprocessor.to_uint8` (steps 1-3) needs only Pillow and numpy, so it can run in
data-loader workers or the server's decode threads; :meth:`ImagePreprocessor.normalize`
(step 4) imports torch lazily and runs on whatever device the batch is on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import ModelLoadError

if TYPE_CHECKING:
    import torch

__all__ = ["OPENAI_MEAN", "OPENAI_STD", "ImagePreprocessor"]

OPENAI_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

#: What the official ``image_transform`` accepts: ``random`` (a training-time choice between
#: bilinear and bicubic) means bicubic at inference; anything else is refused, as there.
_INTERPOLATIONS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "random": Image.Resampling.BICUBIC,
}


def resized_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after torchvision's ``Resize(size)``: shorter side to ``size``, longer
    side ``int(size * long / short)`` (float division, then truncation, as torchvision does)."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of torchvision's ``CenterCrop(size)``."""
    top = round((height - size) / 2.0)  # torchvision: int(round(...)); round() of a float is int
    left = round((width - size) / 2.0)
    return left, top, left + size, top + size


class ImagePreprocessor:
    """Official jina-clip image preprocessing (see the module docstring for the exact steps)."""

    def __init__(
        self,
        size: int = 224,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        *,
        interpolation: str = "bicubic",
    ) -> None:
        if int(size) != size or size <= 0:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std need one value per RGB channel")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation {interpolation!r} not supported; "
                f"use one of {sorted(_INTERPOLATIONS)}"
            )
        self.size: int = int(size)
        self.mean: tuple[float, float, float] = (float(mean[0]), float(mean[1]), float(mean[2]))
        self.std: tuple[float, float, float] = (float(std[0]), float(std[1]), float(std[2]))
        self.interpolation = interpolation
        self._resample = _INTERPOLATIONS[interpolation]
        self._stats: dict[Any, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | os.PathLike[str] | str) -> ImagePreprocessor:
        """Build from a checkpoint's ``preprocessor_config.json`` (its path, or the parsed dict).
        Accepts Jina's keys (``size``, ``mean``, ``std``, ``resize_mode``, ``interpolation``)
        and the transformers spellings (``image_mean``, ``image_std``, ``shortest_edge``)."""
        if not isinstance(config, Mapping):
            path = os.fspath(config)
            try:
                with open(path, encoding="utf-8") as f:
                    config = json.load(f)
            except (OSError, ValueError) as err:
                raise ModelLoadError(f"cannot read preprocessor config {path!r}: {err}") from err
            if not isinstance(config, Mapping):
                raise ModelLoadError(f"preprocessor config {path!r} is not a JSON object")
        try:
            return cls._from_mapping(config)
        except (TypeError, ValueError, KeyError) as err:
            raise ModelLoadError(f"unsupported preprocessor config: {err}") from err

    @classmethod
    def _from_mapping(cls, config: Mapping[str, Any]) -> ImagePreprocessor:
        size: Any = config.get("size", 224)
        if isinstance(size, Mapping):
            if "shortest_edge" in size:
                size = size["shortest_edge"]
            elif size.get("height") == size.get("width"):
                size = size["height"]
            else:
                raise ValueError(f"non-square size {dict(size)} is not supported")
        elif isinstance(size, (list, tuple)):
            if len(set(size)) != 1:
                raise ValueError(f"non-square size {list(size)} is not supported")
            size = size[0]
        resize_mode = config.get("resize_mode", "shortest")
        if resize_mode != "shortest":
            raise ValueError(f"resize_mode {resize_mode!r} is not supported (only 'shortest')")
        # fill_color only matters for padding, which 'shortest' never needs.
        return cls(
            size=int(size),
            mean=config.get("mean", config.get("image_mean", OPENAI_MEAN)),
            std=config.get("std", config.get("image_std", OPENAI_STD)),
            interpolation=str(config.get("interpolation", "bicubic")).lower(),
        )

    def __repr__(self) -> str:
        return (
            f"ImagePreprocessor(size={self.size}, mean={self.mean}, std={self.std}, "
            f"interpolation={self.interpolation!r})"
        )

    # --- geometry: PIL + numpy only --------------------------------------------------------------

    def resize(self, image: Image.Image) -> Image.Image:
        """Step 1: shorter side to ``size`` in the image's own mode."""
        width, height = image.size
        target = resized_shape(width, height, self.size)
        if target == (width, height):
            return image
        return image.resize(target, self._resample)

    def center_crop(self, image: Image.Image) -> Image.Image:
        """Step 2: the central ``size`` × ``size`` square."""
        width, height = image.size
        if (width, height) == (self.size, self.size):
            return image
        if width < self.size or height < self.size:  # cannot happen after resize()
            raise ValueError(f"image {width}x{height} is smaller than the crop {self.size}")
        return image.crop(crop_box(width, height, self.size))

    def to_uint8(self, image: Image.Image) -> np.ndarray:
        """Steps 1-3: a ``[size, size, 3]`` uint8 RGB array, ready for :meth:`normalize`."""
        cropped = self.center_crop(self.resize(image))
        rgb = cropped if cropped.mode == "RGB" else cropped.convert("RGB")
        array = np.array(rgb, dtype=np.uint8)
        if array.shape != (self.size, self.size, 3):  # pragma: no cover - defensive
            raise ValueError(f"preprocessing produced shape {array.shape}")
        return array

    # --- normalization: torch ------------------------------------------------------------------

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """Step 4 on a uint8 ``[B, size, size, 3]`` batch (any device): float32
        ``[B, 3, size, size]``, bit-identical to torchvision's ``ToTensor`` + ``Normalize``
        (divide by 255, then subtract the float32 mean and divide by the float32 std)."""
        import torch

        if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[-1] != 3:
            raise ValueError(
                f"expected a uint8 [B, H, W, 3] tensor, got {batch.dtype} {tuple(batch.shape)}"
            )
        mean, std = self._stats_on(batch.device)
        x = batch.permute(0, 3, 1, 2).to(torch.float32).div(255)
        return x.sub_(mean).div_(std).contiguous()

    def _stats_on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        stats = self._stats.get(device)
        if stats is None:
            mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
            stats = self._stats[device] = (mean, std)
        return stats

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """One image to a float32 ``[3, size, size]`` tensor: ``normalize(to_uint8(image))``."""
        import torch

        return self.normalize(torch.from_numpy(self.to_uint8(image))[None])[0]
