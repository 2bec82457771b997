"""JSON-lines logging (`INFRA_ASSETS_LOG_FORMAT=json`): one parseable object per record."""

from __future__ import annotations

import json
import logging

import pytest

from infra_assets.logs import JsonLines
from infra_assets.settings import Settings, SettingsError


def test_each_record_is_one_json_object_with_extras_and_the_traceback():
    formatter = JsonLines()
    record = logging.LogRecord("infra_assets.api", logging.WARNING, __file__, 1, "served %s", ("v1",), None)
    record.source = "docs"
    line = json.loads(formatter.format(record))
    assert line["level"] == "warning" and line["logger"] == "infra_assets.api" and line["message"] == "served v1"
    assert line["source"] == "docs" and line["ts"].endswith("+00:00")
    try:
        raise ValueError("bad\nnews")
    except ValueError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = formatter.format(failed)
    assert "\n" not in text and "ValueError: bad\\nnews" in json.loads(text)["exc"].replace("\n", "\\n")


def test_the_format_is_read_from_the_environment_and_checked(tmp_path):
    assert Settings.from_env({}, root=tmp_path).log_format == "text"
    assert Settings.from_env({"INFRA_ASSETS_LOG_FORMAT": "JSON"}, root=tmp_path).log_format == "json"
    with pytest.raises(SettingsError, match="INFRA_ASSETS_LOG_FORMAT"):
        Settings.from_env({"INFRA_ASSETS_LOG_FORMAT": "xml"}, root=tmp_path)
