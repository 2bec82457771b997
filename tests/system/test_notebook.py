"""`docs/notebook.ipynb`, executed end to end in a real Jupyter kernel (nbclient) against the demo
index built by the real pipeline and served by the API, so the notebook never rots."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.support.project import index_demo_site
from tests.support.servers import project_api

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def test_the_notebook_runs_against_the_demo_index(project, site, monkeypatch, tmp_path):
    pages = index_demo_site(project, site)
    api = project_api(project)
    try:
        monkeypatch.setenv("INFRA_ASSETS_API", api.url)
        monkeypatch.setenv("INFRA_ASSETS_SOURCE", "demo")
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        api.stop()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "\n".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert f"{len(pages)} documents" in text
    assert f"{len(pages)} events" in text  # each page's `added` event
    assert "passages in" in text
    assert any("image/png" in out.get("data", {}) for out in outputs)  # the freshness chart was drawn
