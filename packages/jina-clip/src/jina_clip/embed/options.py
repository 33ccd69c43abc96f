"""`EmbedOptions`: every option of a corpus run, shared by the CLI, the Python API and the
manifest (which records them, without the API key)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..images.sources import DEFAULT_LIMITS, ImageLimits
from ..settings import JinaCLIPSettings

__all__ = ["EmbedOptions"]


class EmbedOptions(BaseModel):
    """How to embed a corpus. ``encoder`` says which model and backend (the same settings as
    the LangChain and LlamaIndex classes); the rest says how to read, run and write."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(),
                              use_attribute_docstrings=True)

    encoder: JinaCLIPSettings = Field(
        default_factory=lambda: JinaCLIPSettings(backend="local"))
    """Model, backend (local or api), device, dtype, dimensions, normalization, API options."""

    id_column: str | None = None
    """Tables: the id column (default ``id``). Folders use the path relative to INPUT,
    webdataset shards the sample key."""

    text_column: str | None = None
    """Tables: the text column (default ``text`` if present). Shards: the text extension
    (e.g. ``txt``); texts of shards are embedded only when this is given."""

    image_column: str | None = None
    """Tables: the image column (default ``image`` if present): paths (relative to the
    table's folder), URLs, data URIs, base64 or bytes. Shards: the image extension (default:
    the first image extension of each sample)."""

    engine: Literal["local", "ray"] = "local"
    """``local``: this process, pyarrow only. ``ray``: a Ray Data pipeline (``jina-clip[ray]``)."""

    address: str | None = None
    """Ray: an existing cluster (``auto``, ``ray://host:10001``); default: a local Ray."""

    workers: int = Field(default=1, ge=1)
    """Ray: encoder actors (each loads the model once). Local engine: ignored."""

    gpus_per_worker: float = Field(default=0.0, ge=0)
    """Ray: GPUs reserved per encoder actor (1 for one GPU each)."""

    cpus_per_worker: float = Field(default=0.5, gt=0)
    """Ray: CPUs reserved per encoder actor. Below 1 so that actors never starve the read and
    decode tasks on a small machine (a pool of 1-CPU actors on 2 CPUs hangs)."""

    ray_num_cpus: int | None = Field(default=None, ge=1)
    """Ray: CPUs of the local Ray started when ``address`` is not given (default: this
    machine's)."""

    resume: bool = False
    """Skip inputs already in a finished shard of the output folder; without it a folder with
    shards is refused."""

    batch_size: int = Field(default=64, ge=1)
    """Inputs per encoder call (the encoder's own batch size is ``encoder.batch_size``)."""

    decode_workers: int = Field(default=4, ge=1)
    """Threads (local engine) that read and decode images ahead of the model."""

    rows_per_shard: int = Field(default=100_000, ge=1)
    """Rows per output file; a file appears (renamed from its temp name) when full."""

    max_image_bytes: int = Field(default=DEFAULT_LIMITS.max_bytes, ge=1)
    """Larger image files fail with ``ImageTooLargeError`` (in ``errors/``)."""

    max_image_pixels: int = Field(default=DEFAULT_LIMITS.max_pixels, ge=1)
    """Images with more pixels fail with ``ImageTooLargeError`` before they are decoded."""

    show_progress: bool = False
    """A progress bar with items/s."""

    def image_limits(self) -> ImageLimits:
        """The per-image limits applied while decoding."""
        return ImageLimits(max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels)

    def keep(self) -> Literal["pil", "bytes"]:
        """What a decoded image travels as: the picture within one process (local model), its
        encoded bytes to a Ray actor or over HTTP."""
        local = self.encoder.resolved_backend() == "local"
        return "pil" if local and self.engine == "local" else "bytes"
