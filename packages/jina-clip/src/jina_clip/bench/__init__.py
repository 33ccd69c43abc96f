"""``jina-clip bench``: measure the local encoder on your machine against the official-style
baseline, in one run, and print one table (see :mod:`jina_clip.bench.suite`).

Needs the ``local`` extra (torch). The section names are here, torch-free, for the CLI's
``--help``; the suite itself is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .suite import BenchOptions, Row, run_bench

__all__ = ["DEFAULT_SECTIONS", "OPT_IN_SECTIONS", "SECTIONS", "BenchOptions", "Row", "run_bench"]

#: Benchmark sections, in run order.
SECTIONS = ("texts", "images", "model", "query", "long", "precision", "int8", "peers")
#: Opt-in sections: the int8 row, and the peer comparison (needs the ``bench`` extra).
OPT_IN_SECTIONS = ("int8", "peers")
#: What runs unless asked otherwise: everything but the opt-in sections.
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s not in OPT_IN_SECTIONS)


def __getattr__(name: str) -> Any:
    if name in ("BenchOptions", "Row", "run_bench"):
        from . import suite

        return getattr(suite, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
