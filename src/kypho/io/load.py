"""Load CTs, label maps and whole cases from any format kypho reads; save case folders.

Formats are chosen by name: ``.nii`` / ``.nii.gz`` (NIfTI), ``.nrrd`` / ``.nhdr`` (NRRD), a
folder of DICOM files (or one ``.dcm`` file, meaning its series), and a kypho case folder (a
folder holding ``case.json``).

A case folder holds::

    case.json       {"format": "kypho.case/2", "name", "metadata", "files": {...}, "levels"}
    ct.nii.gz       the CT in HU
    labels.nii.gz   vertebra labels, kypho ids, with a label table of level names (optional)
    tissue.nii.gz   a phantom's tissue classes (optional)
    truth.json      a phantom's ground truth (optional)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kypho.core.atomic import write_text_atomic
from kypho.core.case import Case
from kypho.core.levels import LEVEL_IDS, TOTALSEGMENTATOR_V2_IDS, VERSE_IDS, parse_level
from kypho.core.outputs import envelope, open_envelope
from kypho.core.reading import read_json, validate_json
from kypho.core.volume import LabelMap, Volume, check_same_grid
from kypho.errors import (
    EmptyLabelMapError,
    FormatError,
    InputFileError,
    InvalidParameterError,
    UnsupportedFormatError,
)
from kypho.io._common import (
    Progress,
    integer_label_ids,
    present_ids,
    relabel,
    require_file,
    strip_suffixes,
)
from kypho.io._folders import atomic_folder, is_empty_folder
from kypho.io.dicom import read_dicom_series
from kypho.io.nifti import is_nifti_path, read_labels_nifti, read_volume_nifti, write_nifti
from kypho.io.nrrd import is_nrrd_path, read_nrrd, write_nrrd

__all__ = [
    "CASE_FILES",
    "CASE_FORMAT_VERSION",
    "CASE_JSON_SCHEMA",
    "LabelScheme",
    "labelled_levels",
    "level_from_name",
    "load_case",
    "load_labels",
    "load_volume",
    "save_case",
    "save_image",
]

LabelScheme = Literal["auto", "kypho", "totalsegmentator", "verse"]

#: Layout version of ``case.json`` (``"format": "kypho.case/2"``, kypho's envelope; version 1
#: wrote ``"kypho_case": 1`` and is still read).
CASE_FORMAT_VERSION = 2

#: File name of each part of a case folder.
CASE_FILES: dict[str, str] = {
    "ct": "ct.nii.gz",
    "labels": "labels.nii.gz",
    "tissue": "tissue.nii.gz",
    "truth": "truth.json",
}
_CASE_JSON = "case.json"

#: JSON schema of ``case.json`` (format version 2; a version 1 file is read as version 2).
#: ``metadata`` is free-form but must be an object; every ``files`` entry a file name (or null
#: for "none").
CASE_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "files"],
    "properties": {
        "format": {"const": f"kypho.case/{CASE_FORMAT_VERSION}"},
        "kypho_version": {"type": "string"},
        "disclaimer": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "metadata": {"type": ["object", "null"]},
        "files": {
            "type": "object",
            "required": ["ct"],
            "properties": {"ct": {"type": "string", "minLength": 1}},
            "additionalProperties": {"type": ["string", "null"], "minLength": 1},
        },
        "levels": {"type": "array", "items": {"type": "string"}},
        "coordinates": {"type": "string"},
    },
}

_SUPPORTED = (
    "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), DICOM series folders and kypho case folders"
)

_SCHEME_IDS: dict[str, Mapping[str, int]] = {
    "kypho": LEVEL_IDS,
    "totalsegmentator": TOTALSEGMENTATOR_V2_IDS,
    "verse": VERSE_IDS,
}


# --------------------------------------------------------------------------------------------
# Dispatch


def _kind(path: Path) -> str:
    if path.is_dir():
        return "case" if (path / _CASE_JSON).is_file() else "dicom"
    if is_nifti_path(path):
        return "nifti"
    if is_nrrd_path(path):
        return "nrrd"
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return "dicom"
    if path.name == _CASE_JSON:
        return "case"
    suffix = "".join(path.suffixes[-2:]) or "(no suffix)"
    raise UnsupportedFormatError(f"{path}: unsupported format {suffix}; kypho reads {_SUPPORTED}")


def _volume_and_meta(
    path: str | os.PathLike[str], progress: Progress | None
) -> tuple[Volume, dict[str, Any]]:
    p = require_file(path)
    kind = _kind(p)
    if kind == "case":
        case = load_case(p.parent if p.name == _CASE_JSON else p, progress=progress)
        return case.volume, dict(case.metadata)
    if kind == "nifti":
        return read_volume_nifti(p), {"format": "nifti"}
    if kind == "nrrd":
        data, affine = read_nrrd(p)
        if data.dtype.kind in "iu" and data.dtype.itemsize <= 2 and data.dtype != np.uint16:
            data = data.astype(np.int16, copy=False)
        elif data.dtype != np.float32:
            data = data.astype(np.float32)
        if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
            raise FormatError(f"{p}: voxel data hold NaN or infinite values")
        return Volume(data, affine), {"format": "nrrd"}
    series = read_dicom_series(p, progress=progress)
    return series.volume, dict(series.metadata)


def load_volume(path: str | os.PathLike[str], *, progress: Progress | None = None) -> Volume:
    """Read a CT from a NIfTI or NRRD file, a DICOM series folder or a case folder.

    Raises
    ------
    InputFileError
        ``path`` does not exist (or a DICOM folder is ambiguous).
    UnsupportedFormatError
        Not a format kypho reads.
    FormatError
        Corrupt, truncated or geometrically unusable data (see the per-format readers).
    """
    return _volume_and_meta(path, progress)[0]


# --------------------------------------------------------------------------------------------
# Label maps


def labelled_levels(labels: LabelMap | None) -> tuple[str, ...]:
    """Levels present in ``labels``, cranial to caudal (``LabelMap.levels`` without a sort)."""
    if labels is None:
        return ()
    ids = {int(i) for i in present_ids(labels.data)}
    return tuple(lv for lv, i in LEVEL_IDS.items() if i in ids)


def level_from_name(name: str) -> str | None:
    """kypho level of a structure name, or ``None`` when it is not a vertebra.

    Accepts kypho names (``"L1"``), TotalSegmentator names (``"vertebrae_L1"``) and a few
    variants (``"vertebra-l1"``, ``"Vertebra L1"``).

    >>> level_from_name("vertebrae_T12"), level_from_name("liver")
    ('T12', None)
    """
    text = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    for prefix in ("vertebrae_", "vertebra_", "vert_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    try:
        return parse_level(text)
    except InvalidParameterError:
        return None


def _raw_labels(p: Path) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    kind = _kind(p)
    if kind == "nifti":
        return read_labels_nifti(p)
    if kind == "nrrd":
        data, affine = read_nrrd(p)
        data = integer_label_ids(data, p)
        return data, affine, {}
    if kind == "case":
        raise UnsupportedFormatError(f"{p}: is a case folder, not a label map file")
    raise UnsupportedFormatError(
        f"{p}: DICOM label maps (SEG) are not supported; convert them to NIfTI"
    )


def _id_to_level(
    ids: set[int], table: Mapping[int, str], scheme: str, p: Path
) -> tuple[dict[int, str], str]:
    if scheme not in ("auto", *_SCHEME_IDS):
        raise InvalidParameterError(
            f"unknown label scheme {scheme!r}: expected auto, kypho, totalsegmentator or verse"
        )
    if scheme == "auto" and table:
        mapping = {i: lv for i, name in table.items() if (lv := level_from_name(name))}
        return mapping, "label table"
    if scheme == "auto":
        if not ids:
            raise EmptyLabelMapError(f"{p}: label map is empty (all voxels are 0)")
        if max(ids) >= 29:
            scheme = "totalsegmentator"
        elif ids & {25, 27, 28}:
            raise InvalidParameterError(
                f"{p}: label ids {sorted(ids)} could be TotalSegmentator (25 sacrum, 26 S1, 27 "
                "L5, 28 L4) or VerSe (25 L6, 26 S1, 27 coccyx, 28 T13); choose the scheme "
                "(scheme= / --labels-scheme)"
            )
        elif ids == {1}:
            raise InvalidParameterError(
                f"{p}: label map holds only id 1 (a binary mask?); kypho would read it as C1. "
                "Choose the scheme explicitly (scheme='kypho' / --labels-scheme kypho)"
            )
        else:
            scheme = "kypho"
    table_ids = _SCHEME_IDS[scheme]
    return {i: lv for lv, i in table_ids.items()}, scheme


def _load_labels(
    path: str | os.PathLike[str], like: Volume | None, scheme: str
) -> tuple[LabelMap, str]:
    p = require_file(path)
    data, affine, table = _raw_labels(p)
    ids = {int(i) for i in present_ids(data) if i != 0}
    mapping, used = _id_to_level(ids, table, scheme, p)
    mapping = {i: lv for i, lv in mapping.items() if i in ids}
    if not mapping:
        what = f"label table ({len(table)} names)" if used == "label table" else f"{used} ids"
        raise EmptyLabelMapError(
            f"{p}: holds no vertebra label (C1-L5, S1) under its {what}; ids present: "
            f"{sorted(ids)[:12]}{'...' if len(ids) > 12 else ''}"
        )
    lut = np.zeros(max(ids) + 1, dtype=np.int16)
    for foreign, level in mapping.items():
        lut[foreign] = LEVEL_IDS[level]
    labels = LabelMap(relabel(data, lut), affine)
    if like is not None:
        check_same_grid(like, labels, source=str(p))
    return labels, used  # holds a vertebra: a mapped id is present (checked above)


def load_labels(
    path: str | os.PathLike[str],
    *,
    like: Volume | None = None,
    scheme: LabelScheme = "auto",
) -> LabelMap:
    """Read a vertebra label map and convert its ids to kypho's.

    Parameters
    ----------
    path : path
        NIfTI or NRRD label map.
    like : Volume, optional
        The CT the labels belong to; shape and affine must match it.
    scheme : {'auto', 'kypho', 'totalsegmentator', 'verse'}
        Id scheme of the file.  ``'auto'`` uses a TotalSegmentator-style label table when the
        file has one (names such as ``vertebrae_L1`` or ``L1``); otherwise ids of 29 or more
        mean TotalSegmentator v2, ids up to 26 mean kypho/VerSe (identical for C1-L5 and S1),
        and ids that fit both (25, 27, 28 without any id above 28) are an error asking for
        the scheme.  Non-vertebra ids (organs, ribs, sacrum) become background.

    Raises
    ------
    GeometryMismatchError
        Shape or affine differs from ``like``.
    EmptyLabelMapError
        No vertebra label.
    InvalidParameterError
        Unknown or ambiguous scheme.
    """
    return _load_labels(path, like, scheme)[0]


# --------------------------------------------------------------------------------------------
# Cases


def _read_case_folder(
    folder: Path, labels: str | os.PathLike[str] | None, scheme: str, name: str | None
) -> Case:
    from kypho.core.truth import PhantomTruth

    index = folder / _CASE_JSON
    doc = read_json(index, what="case file")
    if isinstance(doc, dict) and "kypho_case" in doc and "format" not in doc:
        version = doc["kypho_case"]
        if version != 1 or isinstance(version, bool):
            raise UnsupportedFormatError(
                f"{index}: case format version {version!r}; this kypho reads version 1 "
                f"(\"kypho_case\") and \"kypho.case/{CASE_FORMAT_VERSION}\""
            )
        doc = {k: v for k, v in doc.items() if k != "kypho_case"}
        doc["format"] = f"kypho.case/{CASE_FORMAT_VERSION}"
    doc = open_envelope(doc, "case", (CASE_FORMAT_VERSION,), source=str(index))
    validate_json(doc, CASE_JSON_SCHEMA, index)
    files = doc["files"]

    def part(key: str) -> Path | None:
        rel = files.get(key)
        if rel is None:
            return None
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise FormatError(f"{index}: files.{key} must be a name inside the case folder")
        return require_file(folder / rel_path)

    ct_path = part("ct")
    if ct_path is None:  # the schema requires it; kept for type checkers
        raise FormatError(f"{index}: files.ct is missing")
    volume = read_volume_nifti(ct_path)
    metadata = dict(doc.get("metadata") or {})
    label_map: LabelMap | None = None
    if labels is not None:
        label_map, used = _load_labels(labels, volume, scheme)
        metadata.update(labels_source=str(labels), labels_scheme=used)
    elif (lp := part("labels")) is not None:
        label_map, _ = _load_labels(lp, volume, "kypho" if scheme == "auto" else scheme)
    tissue: LabelMap | None = None
    if (tp := part("tissue")) is not None:
        tdata, taffine, _ = read_labels_nifti(tp)
        tissue = LabelMap(tdata, taffine)
        check_same_grid(volume, tissue, source=str(tp))
    truth = None
    if (jp := part("truth")) is not None:
        try:
            truth = PhantomTruth.read(jp)  # bounded, schema-checked JSON
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{jp}: not a valid phantom truth file ({exc})") from None
    return Case(
        volume=volume,
        labels=label_map,
        name=name or str(doc.get("name") or folder.name),
        metadata=metadata,
        truth=truth,
        source=folder,
        tissue=tissue,
    )


def load_case(
    path: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | None = None,
    name: str | None = None,
    labels_scheme: LabelScheme = "auto",
    progress: Progress | None = None,
) -> Case:
    """Read a case: a case folder, a CT file (NIfTI/NRRD) or a DICOM series folder.

    Parameters
    ----------
    path : path
        Case folder (with ``case.json``), ``.nii``/``.nii.gz``/``.nrrd``/``.nhdr`` CT, or DICOM
        folder.
    labels : path, optional
        Vertebra label map on the CT's grid; replaces a case folder's own labels.
    name : str, optional
        Case name; defaults to the case folder's name, the file name without suffixes or the
        DICOM folder's name.
    labels_scheme : {'auto', 'kypho', 'totalsegmentator', 'verse'}
        See :func:`load_labels`.
    progress : callable, optional
        ``progress(fraction_done, message)`` while a DICOM series is read.

    Raises
    ------
    KyphoError
        Any of the errors of :func:`load_volume` and :func:`load_labels`.
    """
    p = require_file(path)
    if p.name == _CASE_JSON and p.is_file():
        p = p.parent
    kind = _kind(p)
    if kind == "case":
        return _read_case_folder(p, labels, labels_scheme, name)
    volume, meta = _volume_and_meta(p, progress)
    meta["source"] = str(p)
    label_map = None
    if labels is not None:
        label_map, used = _load_labels(labels, volume, labels_scheme)
        meta.update(labels_source=str(labels), labels_scheme=used)
    default_name = p.name if p.is_dir() else strip_suffixes(p)
    if kind == "dicom" and p.is_file():
        default_name = p.parent.name
    return Case(volume=volume, labels=label_map, name=name or default_name, metadata=meta, source=p)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _case_documents(case: Case, compress: bool = True) -> tuple[str, dict[str, str]]:
    def name(key: str) -> str:
        fname = CASE_FILES[key]
        return fname if compress or not fname.endswith(".gz") else fname[: -len(".gz")]

    files = {"ct": name("ct")}
    if case.labels is not None:
        files["labels"] = name("labels")
    if case.tissue is not None:
        files["tissue"] = name("tissue")
    if case.truth is not None:
        files["truth"] = name("truth")
    doc = envelope("case", CASE_FORMAT_VERSION, {
        "name": case.name,
        "metadata": dict(case.metadata),
        "files": files,
        "levels": list(labelled_levels(case.labels)),
        "coordinates": "RAS+ mm; images are NIfTI with sform = qform (see "
        "docs/coordinate-systems.md)",
    })
    try:
        text = json.dumps(doc, indent=2, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"case metadata cannot be written as JSON ({exc})") from None
    return text + "\n", files


def _write_parts(case: Case, folder: Path, files: dict[str, str]) -> None:
    write_nifti(case.volume, folder / files["ct"])
    if case.labels is not None:
        write_nifti(case.labels, folder / files["labels"])
    if case.tissue is not None:
        from kypho.core.truth import Tissue

        names = {int(t): t.name.lower() for t in Tissue}
        present = {int(i) for i in present_ids(case.tissue.data)}
        write_nifti(
            case.tissue,
            folder / files["tissue"],
            label_names={i: names.get(i, f"tissue_{i}") for i in sorted(present) if i != 0},
        )
    if case.truth is not None:
        write_text_atomic(folder / files["truth"], case.truth.to_json())


def _all_case_file_names() -> list[str]:
    names = list(CASE_FILES.values())
    return names + [n[: -len(".gz")] for n in names if n.endswith(".gz")]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _carry_foreign_files(old: Path, new: Path, own: set[str]) -> None:
    """Hard-link (or copy) every entry of ``old`` that is not one of kypho's into ``new``."""
    for entry in old.iterdir():
        if entry.name in own:
            continue
        dst = new / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), dst)
        elif entry.is_dir():
            shutil.copytree(entry, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(dst))


def save_case(
    case: Case, folder: str | os.PathLike[str], *, overwrite: bool = False, compress: bool = True
) -> Path:
    """Write ``case`` as a case folder (see the module docstring) and return the folder.

    The new case is built complete in a hidden folder beside the target and then swapped into
    place (:func:`kypho.io._folders.atomic_folder`), so the folder holds the whole old case or
    the whole new one at every instant, even if the process is killed.  A non-empty folder is
    refused unless ``overwrite``; then the files that are not kypho's (notes, outputs of other
    tools) are carried over into the new folder (hard links where possible) and kypho's own
    files of the old case (``case.json``, ``ct.nii.gz``...) are dropped.

    Parameters
    ----------
    case : Case
    folder : path
    overwrite : bool
        Replace the case in a non-empty folder.
    compress : bool
        gzip the NIfTI files (``ct.nii.gz``...).  ``False`` writes ``ct.nii`` etc.: several
        times faster for a 10^8-voxel phantom, at about twice the disk space for noisy CT.

    Raises
    ------
    InputFileError
        ``folder`` is a file, or a non-empty folder and ``overwrite`` is false.
    InvalidParameterError
        The case's metadata is not JSON-serialisable.
    """
    target = Path(folder)
    text, files = _case_documents(case, compress)
    if target.exists() and not target.is_dir():
        raise InputFileError(f"{target}: exists and is not a folder")
    if target.is_dir() and not is_empty_folder(target) and not overwrite:
        raise InputFileError(
            f"{target}: folder exists and is not empty (use overwrite=True / --force)"
        )
    own = {_CASE_JSON, *_all_case_file_names()}
    with atomic_folder(target, replace=overwrite) as tmp:
        _write_parts(case, tmp, files)
        if target.is_dir():
            _carry_foreign_files(target, tmp, own)
        write_text_atomic(tmp / _CASE_JSON, text)
    return target


def save_image(image: Volume | LabelMap, path: str | os.PathLike[str]) -> Path:
    """Write a CT or label map as NIfTI or NRRD, chosen by the file name (atomic)."""
    p = Path(path)
    if is_nifti_path(p):
        return write_nifti(image, p)
    if p.name.lower().endswith(".nrrd"):
        return write_nrrd(image, p)
    raise UnsupportedFormatError(f"{p}: kypho writes .nii, .nii.gz and .nrrd files")
