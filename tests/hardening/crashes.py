"""Crash scenarios: a command killed before each of its file-system mutations (see harness).

Each scenario's judge says whether the state left behind is whole: the old data or the new
data, loadable, never a mix and never nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from corpus import RECORD, TODAY

__all__ = ["CRASH_SCENARIOS"]

_PHANTOM = ["--voxel", "2", "--level", "T12-L1", "--no-soft-tissue", "--no-progress"]


def _phantom_force(folder: Path) -> dict:
    from kypho.io import load_case, save_case
    from kypho.phantom import PhantomSpec, make_phantom

    def spec(seed: int) -> PhantomSpec:
        return PhantomSpec(first_level="T12", last_level="L1", voxel_mm=2.0, soft_tissue=False,
                           seed=seed)

    old = folder / "old"
    save_case(make_phantom(spec(0)), old)
    (old / "notes.txt").write_text("the user's own file")
    old_ct = np.asarray(load_case(old).volume.data)
    new_ct = np.asarray(make_phantom(spec(1)).volume.data)

    def prepare(work: Path) -> None:
        shutil.copytree(old, work / "case")

    def judge(work: Path) -> str | None:
        target = work / "case"
        try:
            case = load_case(target)
        except Exception as exc:  # any failure to load is a lost case
            return f"case does not load: {type(exc).__name__}: {exc}"
        ct = np.asarray(case.volume.data)
        seed = case.truth.seed if case.truth is not None else None
        if not ((seed == 0 and np.array_equal(ct, old_ct))
                or (seed == 1 and np.array_equal(ct, new_ct))):
            return f"mixed case: truth seed {seed}, CT neither old nor new"
        if not (target / "notes.txt").is_file():
            return "the user's own file in the case folder was lost"
        return None

    return {"prepare": prepare, "judge": judge,
            "args": ["phantom", "-o", "{w}/case", "--force", "--seed", "1", *_PHANTOM]}


def _log_walk(folder: Path) -> dict:
    def prepare(work: Path) -> None:
        (work / "records").mkdir()
        (work / "records" / "p1.json").write_text(json.dumps(RECORD))

    def judge(work: Path) -> str | None:
        try:
            doc = json.loads((work / "records" / "p1.json").read_text())
        except (OSError, ValueError) as exc:
            return f"record lost: {type(exc).__name__}: {exc}"
        if len(doc.get("walks", [])) not in (1, 2, 3):  # 3 after a rerun
            return f"record holds {len(doc.get('walks', []))} walks (1 before, +1 per run)"
        return None

    return {"prepare": prepare, "judge": judge,
            "args": ["aftercare", "log-walk", "--patient", "p1", "--minutes", "7",
                     "--today", TODAY]}


CRASH_SCENARIOS: dict[str, Callable[[Path], dict]] = {
    "phantom --force": _phantom_force,
    "aftercare log-walk": _log_walk,
}
