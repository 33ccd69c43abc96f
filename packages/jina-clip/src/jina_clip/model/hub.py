"""Finding a checkpoint: a local directory, or a Hugging Face hub repo (download or cache)."""

from __future__ import annotations

import os
import pathlib

from ..errors import ModelLoadError

__all__ = ["CHECKPOINT_FILES", "resolve_checkpoint"]

#: What we download. Never ``pytorch_model.bin`` (a pickle) nor remote code.
CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "preprocessor_config.json",
)


class _NeverRaised(Exception):
    """Stands in for a huggingface_hub error class an older version does not have."""


def _hf_error(name: str) -> type[BaseException]:
    from huggingface_hub import errors

    return getattr(errors, name, _NeverRaised)


def _check_dir(directory: pathlib.Path, origin: str) -> pathlib.Path:
    for name in ("config.json", "model.safetensors"):
        if not (directory / name).is_file():
            extra = (
                " (only model.safetensors is loaded, never pytorch_model.bin; convert the "
                "checkpoint with safetensors first)"
                if name == "model.safetensors" else ""
            )
            raise ModelLoadError(f"{origin}: {name} not found in {directory}{extra}")
    return directory


def resolve_checkpoint(
    model: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    local_files_only: bool = False,
) -> pathlib.Path:
    """Directory holding the checkpoint files of ``model``.

    A local directory is used as is. Anything else is a hub repo id, fetched with
    ``huggingface_hub.snapshot_download`` (only :data:`CHECKPOINT_FILES`), which reuses the
    cache and honours ``HF_HUB_OFFLINE``. Hub failures become :class:`ModelLoadError` saying
    what to do.
    """
    path = pathlib.Path(os.fspath(model)).expanduser()
    if path.is_dir():
        return _check_dir(path, f"local directory {str(model)!r}")
    repo_id = os.fspath(model)
    if path.exists() or repo_id.count("/") != 1 or repo_id.startswith((".", "/", "~")):
        raise ModelLoadError(
            f"{repo_id!r} is neither a checkpoint directory nor a hub repo id like "
            "'jinaai/jina-clip-v1'"
        )
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - part of the [local] extra
        raise ModelLoadError(
            "huggingface_hub is needed to download models: pip install 'jina-clip[local]'"
        ) from exc
    gated, revision_missing, repo_missing, incomplete, not_cached, offline, http = (
        _hf_error(name) for name in (
            "GatedRepoError", "RevisionNotFoundError", "RepositoryNotFoundError",
            "IncompleteSnapshotError", "LocalEntryNotFoundError", "OfflineModeIsEnabled",
            "HfHubHTTPError",
        )
    )

    try:
        snapshot = huggingface_hub.snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_patterns=list(CHECKPOINT_FILES),
        )
    except gated as exc:
        raise ModelLoadError(
            f"{repo_id} is gated: accept its terms on huggingface.co and log in "
            "(huggingface-cli login or HF_TOKEN)"
        ) from exc
    except revision_missing as exc:
        raise ModelLoadError(f"revision {revision!r} of {repo_id} not found on the hub") from exc
    except repo_missing as exc:
        raise ModelLoadError(
            f"{repo_id} not found on the hub (or private: log in with HF_TOKEN); pass a "
            "local directory instead"
        ) from exc
    except incomplete as exc:
        raise ModelLoadError(
            f"the cached copy of {repo_id} is incomplete and the hub cannot be reached: "
            f"download it again while online ({exc})"
        ) from exc
    except (not_cached, offline) as exc:
        raise ModelLoadError(
            f"{repo_id} is not in the local cache ({cache_dir or 'default hub cache'}) and the "
            "hub cannot be used (offline: HF_HUB_OFFLINE / local_files_only, or no network). "
            "Download it once while online (huggingface-cli download "
            f"{repo_id}), or pass a local checkpoint directory"
        ) from exc
    except (http, OSError, ValueError) as exc:
        raise ModelLoadError(f"could not fetch {repo_id} from the hub: {exc}") from exc
    return _check_dir(pathlib.Path(snapshot), f"hub repo {repo_id!r}")
