"""The envelope every JSON output carries, and the output-folder rule."""

from __future__ import annotations

import json
import math

import pytest

from kypho.core.outputs import (
    DISCLAIMER,
    dumps,
    envelope,
    open_envelope,
    output_folder,
    write_json,
)
from kypho.errors import FormatError, OutputFileError


def test_envelope_round_trip_through_a_real_parser(tmp_path):
    path = write_json(tmp_path / "x.json", "plan", 2, {"a": 1.5, "b": [math.nan, 2]})
    doc = json.loads(path.read_text())
    assert doc["format"] == "kypho.plan/2" and doc["disclaimer"] == DISCLAIMER
    assert doc["kypho_version"] and doc["b"] == [None, 2]  # NaN is not JSON: null
    assert open_envelope(doc, "plan", (2,))["a"] == 1.5
    with pytest.raises(FormatError, match=r"x\.json: not a kypho plan file \(format "
                                          r"'kypho\.plan/2'; expected 'kypho\.plan/3'\)"):
        open_envelope(doc, "plan", (3,), source="x.json")
    with pytest.raises(FormatError, match="no kypho format field"):
        open_envelope([1, 2], "assess", (2,))
    assert dumps(envelope("a", 1, {})).endswith("\n")


def test_output_folder_rule(tmp_path):
    out = output_folder(tmp_path / "new" / "deeper", ["a.json"])
    assert not out.exists()  # checked, not created: the writer creates it
    out.mkdir(parents=True)
    (out / "a.json").write_text("old")
    with pytest.raises(OutputFileError, match=r"already holds a\.json \(use --force"):
        output_folder(out, ["a.json", "b.png"])
    assert (out / "a.json").read_text() == "old"
    assert output_folder(out, ["a.json"], force=True) == out
    f = tmp_path / "file.png"
    f.write_text("x")
    with pytest.raises(OutputFileError, match="is a file, not a folder"):
        output_folder(f, ["a.json"])
    with pytest.raises(OutputFileError, match="is a file, not a folder"):
        output_folder(f / "below", ["a.json"])
