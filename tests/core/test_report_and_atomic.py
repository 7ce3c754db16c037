import base64
import os

import pytest

from kypho.core.atomic import atomic_path, write_text_atomic
from kypho.report import DISCLAIMER, Figure, Section, render_html, write_report


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_report_orders_sections_and_embeds_figures(tmp_path):
    png = b"\x89PNG\r\n\x1a\nfake"
    sections = [
        Section("aftercare", "After-care", "<p>walk</p>"),
        Section("case", "Case", "<p>ct</p>", figures=(Figure(png, "a slice"),)),
        Section("assess", "Assessment", "<p>grade</p>"),
    ]
    page = render_html("demo", sections)
    assert page.index("Case") < page.index("Assessment") < page.index("After-care")
    assert base64.b64encode(png).decode() in page
    assert "not a medical device" in page.lower() and DISCLAIMER[:20] in page
    out = write_report(tmp_path / "report.html", "demo", sections)
    text = out.read_text(encoding="utf-8")
    assert all(f"<h2>{t}</h2>" in text for t in ("Case", "Assessment", "After-care"))


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    from kypho.core.atomic import write_text_atomic

    mask = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_unwritable_target_is_a_clear_error(tmp_path):
    import pytest

    from kypho.core.atomic import write_text_atomic
    from kypho.errors import OutputFileError

    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    with pytest.raises(OutputFileError, match="cannot write"):
        write_text_atomic(blocker / "sub" / "out.txt", "x")
    assert blocker.read_text() == "I am a file, not a folder"
