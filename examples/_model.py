"""Which model the examples use: the real jina-clip-v1 or -v2, or a tiny random one for CI.

One switch for every script and notebook under ``examples/``:

    JINA_CLIP_EXAMPLES_TINY=1   # a tiny random checkpoint written to a temporary folder:
                                # fully offline, fast, and its rankings are meaningless
    JINA_CLIP_EXAMPLES_TINY=v2  # the same, in jina-clip-v2's layout
    (unset, empty or 0)         # jinaai/jina-clip-v1 (downloaded from the Hugging Face hub
                                # once, then cached)

The scripts also take ``--tiny`` (the same switch as a flag), ``--v2`` (jina-clip-v2:
``jinaai/jina-clip-v2``, or the tiny v2 checkpoint with ``--tiny``), ``--model`` (a hub id or
a checkpoint directory) and ``--api`` (Jina's Embeddings API; needs ``JINA_API_KEY``).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jina_clip import JinaCLIP

__all__ = [
    "REAL_MODEL",
    "TINY_API_MODEL",
    "TINY_ENV",
    "V2_MODEL",
    "ModelChoice",
    "add_model_arguments",
    "model_path",
    "served_model_name",
    "tiny_checkpoint",
    "tiny_requested",
    "v2_requested",
]

#: The switch. Any value but "", "0", "false", "no" or "off" turns the tiny model on.
TINY_ENV = "JINA_CLIP_EXAMPLES_TINY"
#: What the examples run when the switch is off.
REAL_MODEL = "jinaai/jina-clip-v1"
#: The name ``jina-clip serve`` gives the tiny model: its vectors are not 768-d, so it must
#: not pose as jina-clip-v1 (the client checks the dimension of the models it knows).
TINY_API_MODEL = "jina-clip-tiny"
REAL_API_MODEL = "jina-clip-v1"
#: What ``--v2`` runs: the multilingual, 512-px, 1,024-d (Matryoshka) jina-clip-v2.
V2_MODEL = "jinaai/jina-clip-v2"
V2_API_MODEL = "jina-clip-v2"


def v2_requested(flag: bool = False) -> bool:
    """True when ``flag`` (a script's ``--v2``) is set or the switch says ``v2``."""
    return flag or os.environ.get(TINY_ENV, "").strip().lower() == "v2"


def tiny_requested(flag: bool = False) -> bool:
    """True when ``flag`` (a script's ``--tiny``) is set or the environment switch is on."""
    value = os.environ.get(TINY_ENV, "").strip().lower()
    return flag or value not in ("", "0", "false", "no", "off")


@functools.cache
def tiny_checkpoint(v2: bool = False) -> Path:
    """A tiny random checkpoint in the official layout (v1's, or v2's), written once per
    process into a temporary folder that is removed at exit. Also sets ``HF_HUB_OFFLINE=1``:
    under the switch nothing may reach the hub."""
    from jina_clip.testing import write_tiny_checkpoint, write_tiny_v2_checkpoint

    os.environ["HF_HUB_OFFLINE"] = "1"
    folder = Path(tempfile.mkdtemp(prefix="jina-clip-examples-tiny-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    write = write_tiny_v2_checkpoint if v2 else write_tiny_checkpoint
    return write(folder / "checkpoint")


def model_path(tiny: bool = False, v2: bool = False) -> str:
    """What to pass as ``model=``: a tiny checkpoint folder under the switch, else the hub id."""
    v2 = v2_requested(v2)
    if tiny_requested(tiny):
        return str(tiny_checkpoint(v2))
    return V2_MODEL if v2 else REAL_MODEL


def served_model_name(tiny: bool = False) -> str:
    """The model name a ``jina-clip serve`` of :func:`model_path` should announce."""
    return TINY_API_MODEL if tiny_requested(tiny) else REAL_API_MODEL


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model flags every example script shares."""
    parser.add_argument("--model", default=None,
                        help=f"hub id or checkpoint directory (default: {REAL_MODEL})")
    parser.add_argument("--tiny", action="store_true",
                        help=f"tiny random checkpoint, offline (same as {TINY_ENV}=1)")
    parser.add_argument("--v2", action="store_true",
                        help=f"jina-clip-v2 ({V2_MODEL}; with --tiny its tiny layout)")
    parser.add_argument("--api", action="store_true",
                        help="Jina's Embeddings API (needs JINA_API_KEY)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (local model)")


@dataclass(frozen=True)
class ModelChoice:
    """The model a script runs, decided once from its flags and the environment switch."""

    backend: Literal["local", "api"]
    model: str | None  # local: hub id or directory; api: API model name (None: the default)
    device: str
    tiny: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ModelChoice:
        """Read the flags of :func:`add_model_arguments`. Contradictions are errors, not
        silent choices: the tiny switch with ``--model`` or ``--api``."""
        tiny = tiny_requested(args.tiny)
        v2 = v2_requested(getattr(args, "v2", False))
        if tiny and (args.model or args.api):
            raise SystemExit(
                f"--tiny / {TINY_ENV} cannot be combined with --model or --api "
                "(the tiny switch always runs a random local checkpoint)"
            )
        if args.api:
            return cls("api", args.model or (V2_API_MODEL if v2 else None), args.device,
                       tiny=False)
        return cls("local", model_path(tiny, v2) if args.model is None else args.model,
                   args.device, tiny)

    def plugin_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``JinaCLIPEmbeddings`` / ``JinaCLIPEmbedding``."""
        if self.backend == "api":
            return {"backend": "api", "model": self.model}
        return {"backend": "local", "model": self.model, "device": self.device}

    def encoder(self) -> JinaCLIP:
        """The core encoder (``JinaCLIP.local`` or ``JinaCLIP.remote``)."""
        from jina_clip import JinaCLIP

        if self.backend == "api":
            return JinaCLIP.remote(self.model or REAL_API_MODEL)
        return JinaCLIP.local(self.model or REAL_MODEL, device=self.device)

    def describe(self) -> str:
        """One line for the user: which model, and a warning when it is the random one."""
        if self.tiny:
            return "model: tiny random checkpoint (offline demo: rankings are meaningless)"
        return f"model: {self.model or REAL_API_MODEL} ({self.backend})"
