"""`infra-assets`, the command line (`main`), and what `refresh` and `up` run."""

from .main import main

__all__ = ["main"]
