"""``jina-clip bench``: measure the local encoder on your machine against the official-style
baseline, in one run, and print one table (see :mod:`jina_clip.bench.suite`).

Needs the ``local`` extra (torch); nothing here is imported by ``import jina_clip``.
"""

from .suite import SECTIONS, BenchOptions, Row, run_bench

__all__ = ["SECTIONS", "BenchOptions", "Row", "run_bench"]
