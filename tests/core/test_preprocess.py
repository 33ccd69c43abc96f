"""ImagePreprocessor reproduces open_clip's eval transform (Resize shortest → CenterCrop →
convert RGB → ToTensor → Normalize) exactly. torchvision is not installed, so the checks are a
hand-written reference of the same steps (PIL + numpy, written independently of the module)
and hard-coded values for crafted images (odd sizes where crop rounding matters, and modes where
the resize-before-convert order matters)."""

from __future__ import annotations

import functools
import json
import pathlib
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from jina_clip.errors import ModelLoadError
from jina_clip.images.preprocess import ImagePreprocessor, crop_box, resized_shape

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def reference(image: Image.Image, size: int = 224) -> np.ndarray:
    """torchvision's steps, spelled out: float32 [3, size, size]."""
    w, h = image.size
    new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    if new != (w, h):
        image = image.resize(new, Image.BICUBIC)
    w, h = image.size
    top, left = round((h - size) / 2.0), round((w - size) / 2.0)  # Python 3 round(): int
    image = image.crop((left, top, left + size, top + size)).convert("RGB")
    x = np.asarray(image).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    mean = np.asarray(MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(STD, dtype=np.float32)[:, None, None]
    return (x - mean) / std


def pattern(w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    channels = [(x * 7 + y * 3) % 256, (x * y) % 256, (x + 2 * y) % 256]
    return np.stack(channels, -1).astype(np.uint8)


@functools.cache
def crafted() -> dict[str, Image.Image]:
    images = {
        f"RGB {w}x{h}": Image.fromarray(pattern(w, h))
        for w, h in [(500, 375), (375, 500), (255, 300), (300, 255), (261, 224), (100, 50)]
    }
    base = Image.fromarray(pattern(320, 240))
    alpha = (np.arange(320)[None, :].repeat(240, 0) % 256).astype(np.uint8)
    images["P"] = base.quantize(64)
    images["RGBA"] = Image.fromarray(np.dstack([pattern(320, 240), alpha]))
    images["L"] = base.convert("L")
    images["I;16"] = Image.fromarray(pattern(320, 240)[..., 0].astype(np.uint16) + 100)
    cmyk = np.dstack([pattern(320, 240), pattern(320, 240)[..., :1]])
    images["CMYK"] = Image.frombytes("CMYK", (320, 240), cmyk.tobytes())
    return images


#: name -> (mode, sum of the uint8 output, pixel [0,0], pixel [111,37], pixel [223,223]);
#: recorded from this implementation (Pillow 13) after checking it against `reference`.
EXPECTED = {
    "RGB 500x375": ("RGB", 19096651, [182, 22, 63], [150, 117, 241], [81, 161, 160]),
    "RGB 375x500": ("RGB", 19073210, [190, 22, 125], [158, 46, 47], [85, 160, 223]),
    "RGB 255x300": ("RGB", 19092228, [70, 2, 46], [232, 104, 85], [49, 212, 40]),
    "RGB 300x255": ("RGB", 19092211, [160, 2, 23], [67, 173, 62], [143, 212, 17]),
    "RGB 261x224": ("RGB", 19192832, [126, 0, 18], [206, 217, 21], [52, 239, 175]),
    "RGB 100x50": ("RGB", 17174144, [172, 0, 25], [47, 13, 82], [156, 30, 172]),
    "P": ("P", 19102474, [31, 11, 54], [158, 44, 65], [96, 108, 193]),
    "RGBA": ("RGBA", 18971462, [25, 0, 38], [146, 117, 60], [110, 121, 243]),
    "L": ("L", 19014843, [13, 13, 13], [120, 120, 120], [129, 129, 129]),
    "I;16": ("I;16", 31399971, [122, 122, 122], [245, 245, 245], [212, 212, 212]),
    "CMYK": ("CMYK", 10650252, [213, 231, 196], [47, 58, 82], [80, 78, 6]),
}


@pytest.fixture(scope="module")
def pre() -> ImagePreprocessor:
    return ImagePreprocessor()


def test_sanity_value_from_the_reference(pre: ImagePreprocessor):
    for size in [(224, 224), (500, 375), (3, 7)]:
        out = pre(Image.new("RGB", size, (200, 100, 50)))
        assert out.shape == (3, 224, 224)
        assert out.dtype == torch.float32
        expected = torch.tensor([1.1274, -0.2513, -0.7692])
        assert torch.allclose(out[:, 100, 100], expected, atol=1e-4)
        assert torch.allclose(out.amin(dim=(1, 2)), out.amax(dim=(1, 2)))


def test_torchvision_geometry():
    assert resized_shape(500, 375, 224) == (298, 224)
    assert resized_shape(375, 500, 224) == (224, 298)
    assert resized_shape(255, 300, 224) == (224, 263)  # 263.53 truncated
    assert resized_shape(224, 224, 224) == (224, 224)
    assert resized_shape(100, 50, 224) == (448, 224)
    assert crop_box(298, 224, 224) == (37, 0, 261, 224)
    assert crop_box(224, 263, 224) == (0, 20, 224, 244)  # 19.5 rounds to even: 20
    assert crop_box(261, 224, 224) == (18, 0, 242, 224)  # 18.5 rounds to even: 18
    assert crop_box(225, 225, 224) == (0, 0, 224, 224)  # 0.5 rounds to 0


@pytest.mark.parametrize("name", list(EXPECTED))
def test_crafted_images_match_reference_and_recorded_values(pre: ImagePreprocessor, name: str):
    image = crafted()[name]
    mode, total, p00, p_mid, p_last = EXPECTED[name]
    assert image.mode == mode
    out = pre(image).numpy()
    np.testing.assert_array_equal(out, reference(image))  # bit-identical
    pixels = pre.to_uint8(image)
    assert pixels.dtype == np.uint8 and pixels.shape == (224, 224, 3)
    assert int(pixels.astype(np.int64).sum()) == total
    assert pixels[0, 0].tolist() == p00
    assert pixels[111, 37].tolist() == p_mid
    assert pixels[223, 223].tolist() == p_last
    assert image.mode == mode  # the input is not modified


@pytest.mark.parametrize("name", ["P", "RGBA"])
def test_resize_happens_in_the_original_mode(pre: ImagePreprocessor, name: str):
    image = crafted()[name]
    convert_first = pre.to_uint8(image.convert("RGB"))
    assert not np.array_equal(pre.to_uint8(image), convert_first)


def test_normalize_is_bit_identical_to_torchvision_arithmetic(pre: ImagePreprocessor):
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.integers(0, 256, (4, 224, 224, 3), dtype=np.uint8))
    out = pre.normalize(batch)
    assert out.shape == (4, 3, 224, 224) and out.dtype == torch.float32 and out.is_contiguous()
    x = batch.permute(0, 3, 1, 2).float().div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(STD, dtype=torch.float32).view(-1, 1, 1)
    assert torch.equal(out, torch.stack([(img - mean) / std for img in x]))
    assert torch.equal(pre(Image.fromarray(batch[1].numpy())), out[1])


def test_normalize_rejects_wrong_input(pre: ImagePreprocessor):
    with pytest.raises(ValueError, match="uint8"):
        pre.normalize(torch.zeros(1, 224, 224, 3))
    with pytest.raises(ValueError, match="uint8"):
        pre.normalize(torch.zeros(1, 3, 224, 224, dtype=torch.uint8))


def test_to_uint8_does_not_need_torch():
    code = (
        "import sys; from PIL import Image; "
        "from jina_clip.images.preprocess import ImagePreprocessor; "
        "import jina_clip.images.sources, jina_clip.images.fetch; "
        "a = ImagePreprocessor().to_uint8(Image.new('RGB', (300, 200))); "
        "assert a.shape == (224, 224, 3); assert 'torch' not in sys.modules, 'torch imported'"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def test_from_config(tmp_path: pathlib.Path):
    official = {
        "size": 224,
        "mean": list(MEAN),
        "std": list(STD),
        "resize_mode": "shortest",
        "interpolation": "bicubic",
        "fill_color": 0,
        "image_processor_type": "JinaCLIPImageProcessor",
    }
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps(official))
    for source in (official, path, str(path)):
        pre = ImagePreprocessor.from_config(source)
        assert (pre.size, pre.mean, pre.std) == (224, MEAN, STD)
    hf = ImagePreprocessor.from_config(
        {"size": {"shortest_edge": 196}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    )
    assert (hf.size, hf.mean, hf.std) == (196, (0.5,) * 3, (0.5,) * 3)
    assert hf(Image.new("RGB", (10, 20))).shape == (3, 196, 196)


@pytest.mark.parametrize(
    "config",
    [
        {"resize_mode": "squash"},
        {"size": [224, 256]},
        {"interpolation": "lanczos-ish"},
        {"mean": [0.5, 0.5]},
    ],
)
def test_from_config_refuses_what_it_cannot_reproduce(config: dict[str, object]):
    with pytest.raises(ModelLoadError):
        ImagePreprocessor.from_config(config)


def test_from_config_missing_or_bad_file(tmp_path: pathlib.Path):
    with pytest.raises(ModelLoadError, match="cannot read"):
        ImagePreprocessor.from_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="JSON object"):
        ImagePreprocessor.from_config(bad)


def test_interpolation_names_follow_the_official_transform() -> None:
    """Parity audit D7: ``random`` means bicubic at inference; ``nearest`` is refused."""
    random = ImagePreprocessor.from_config({"size": 224, "interpolation": "random"})
    bicubic = ImagePreprocessor.from_config({"size": 224, "interpolation": "bicubic"})
    picture = Image.new("RGB", (300, 250), (10, 200, 90))
    picture.putpixel((150, 125), (255, 0, 0))
    assert (random.to_uint8(picture) == bicubic.to_uint8(picture)).all()
    with pytest.raises(ModelLoadError):
        ImagePreprocessor.from_config({"size": 224, "interpolation": "nearest"})
