"""`infra-assets refresh` starts without the Qdrant client (1.4 s of imports here, with fastembed
under it) unless a Qdrant server is configured: the embedded store does not need it."""

from __future__ import annotations

import subprocess
import sys


def test_refresh_module_does_not_import_the_qdrant_client():
    code = (
        "import sys, infra_assets.cli.refresh, infra_assets.serve.notify; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qdrant_client', 'fastembed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]", out
