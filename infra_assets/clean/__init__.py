"""`raw/NAME` → `clean/NAME`: main-text extraction and the clean table."""

from .extract import Extracted, decode_html, extract_html, html_fragment_to_text
from .table import CLEAN_SCHEMA, Cleaned, clean_table, content_hash

__all__ = [
    "CLEAN_SCHEMA",
    "Cleaned",
    "Extracted",
    "clean_table",
    "content_hash",
    "decode_html",
    "extract_html",
    "html_fragment_to_text",
]
