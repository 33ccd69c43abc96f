"""The example notebooks run top to bottom in a Jupyter kernel, as a user runs them, on a
tiny checkpoint (``JINA_CLIP_EXAMPLES_TINY=1``), talking to nothing but 127.0.0.1, and
show pictures inline; and they are stored without outputs.

``JINA_CLIP_EXAMPLES_REAL=1`` runs them on the real jina-clip-v1 (from the local Hugging Face
cache) instead; see tests/test_examples.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_examples import EXAMPLES, REAL, example_env, network_attempts

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = EXAMPLES / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
#: Seconds per cell: the tiny model answers in well under a second; the real one is loaded
#: (and notebook 03 starts a server with it) inside a cell.
CELL_TIMEOUT = 900 if REAL else 180


def test_the_four_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_langchain_multimodal_rag.ipynb",
        "02_llamaindex_multimodal_index.ipynb",
        "03_self_hosted_server.ipynb",
        "04_migrating.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    """Outputs of the tiny random model would be meaningless, and they make noisy diffs."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has outputs"
            assert cell.execution_count is None, f"cell {index} has an execution count"
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_offline(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},  # the kernel's cwd, as in Jupyter
    )
    client.execute(env=example_env(tmp_path))  # raises CellExecutionError on any failing cell

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    pictures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert pictures, "the notebook shows no picture"
    assert not network_attempts(tmp_path)
