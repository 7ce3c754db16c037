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


#: Modules outside the phantom generator that may name the phantom's answer key, and why: they
#: carry it, never read it to compute anything.
ANSWER_KEY_PLUMBING = {
    "core/case.py": "the Case field that holds it",
    "core/truth.py": "the types (kept in core so io need not import the generator)",
    "io/load.py": "case folders carry truth.json and tissue.nii.gz through save and load",
    "io/summary.py": "kypho info says whether a case has them",
}
_ANSWER_KEY_ATTRS = {"truth", "tissue"}
_ANSWER_KEY_NAMES = {"PhantomTruth", "VertebraTruth", "PedicleTruth", "Tissue"}


def _answer_key_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _ANSWER_KEY_ATTRS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in _ANSWER_KEY_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "") == "kypho.core.truth":
            found.append(f"line {node.lineno}: import from kypho.core.truth")
        elif isinstance(node, ast.ImportFrom) and any(
            a.name in _ANSWER_KEY_NAMES for a in node.names
        ):
            found.append(f"line {node.lineno}: import of the truth types")
    return found


def test_production_code_never_reads_the_phantoms_answer_key():
    """Measured anatomy only: outside the generator no module touches case.truth, the tissue
    map or the truth types (except the listed plumbing that stores and loads them)."""
    offenders = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("phantom/") or rel in ANSWER_KEY_PLUMBING:
            continue
        uses = _answer_key_uses(path)
        if uses:
            offenders[rel] = uses
    assert not offenders, f"production code reads the phantom's ground truth: {offenders}"


def test_the_answer_key_check_catches_a_reader(tmp_path):
    """The walker above finds each way of reaching the answer key (it could fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from kypho.core.truth import Tissue\n"
        "def f(case):\n"
        "    return case.truth.vertebra('L1'), case.tissue\n",
        encoding="utf-8",
    )
    uses = _answer_key_uses(bad)
    assert any("import from kypho.core.truth" in u for u in uses)
    assert any(".truth" in u for u in uses) and any(".tissue" in u for u in uses)


def test_the_public_api_resolves_lazily_and_is_documented():
    """Every top-level name loads on first use, and its entry points are numpydoc-documented."""
    import importlib
    import inspect
    import sys

    code = "import sys, kypho; print(sorted(m for m in sys.modules if m.startswith('kypho.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "import kypho must load no stage"
    kypho = importlib.import_module("kypho")
    for name in kypho.__all__:
        obj = getattr(kypho, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name
    for name in ("assess_case", "plan_level", "simulate_case", "render_drr", "view_for_level",
                 "make_phantom", "load_case"):
        doc = inspect.getdoc(getattr(kypho, name))
        assert "Parameters" in doc and ("Returns" in doc or "Raises" in doc), name
