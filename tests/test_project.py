"""Project habits that CI keeps true: lint, the README's commands, public API hygiene."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "kypho"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b.strip() for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_cmd in ci.splitlines()
    assert any("kypho demo" in b for b in blocks)


def test_every_module_declares_its_public_names():
    missing = []
    for path in SRC.rglob("*.py"):
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(t, ast.Name)
        }
        has_public_defs = any(
            isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")
            for n in tree.body
        )
        if has_public_defs and "__all__" not in names and not path.parent.name == "cli":
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"modules without __all__: {missing}"


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff not installed",
)
def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run(
        [ruff, "check", "src", "tests", "benchmarks", "examples"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_reference_pages_exist_for_linked_stages():
    index = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    for link in re.findall(r"\]\((references/[\w-]+\.md)\)", index):
        assert (ROOT / "docs" / link).is_file(), f"docs/references.md links to missing {link}"
