"""`python -m infra_assets.cli ...`, as `infra-assets ...`."""

from .main import main

main()
