"""NRRD: hand-written headers in each anatomical space, round trips, rejected headers."""

from __future__ import annotations

import numpy as np
import pytest

from kypho.errors import FormatError, InputFileError, UnsupportedFormatError
from kypho.io import load_volume, read_nrrd, write_nrrd


def _write_raw_nrrd(path, data, space, directions, origin, *, detached=False):
    """An NRRD file written by hand from the format definition (no pynrrd, no kypho)."""
    dirs = " ".join("(" + ",".join(f"{v:g}" for v in d) + ")" for d in directions)
    header = [
        "NRRD0004",
        "type: int16",
        "dimension: 3",
        f"space: {space}",
        "sizes: " + " ".join(str(n) for n in data.shape),
        f"space directions: {dirs}",
        "kinds: domain domain domain",
        "endian: little",
        "encoding: raw",
        "space origin: (" + ",".join(f"{v:g}" for v in origin) + ")",
    ]
    payload = np.asarray(data, dtype="<i2").tobytes(order="F")  # first axis fastest
    if detached:
        raw = path.with_suffix(".raw")
        raw.write_bytes(payload)
        header.append(f"data file: {raw.name}")
        path.write_text("\n".join(header) + "\n")
    else:
        path.write_bytes(("\n".join(header) + "\n\n").encode() + payload)
    return path


@pytest.mark.parametrize(
    ("space", "flip"),
    [
        ("left-posterior-superior", (-1, -1, 1)),
        ("LPS", (-1, -1, 1)),
        ("right-anterior-superior", (1, 1, 1)),
        ("left-anterior-superior", (-1, 1, 1)),
    ],
)
def test_marker_lands_on_the_analytic_ras_point(tmp_path, space, flip):
    data = np.zeros((5, 4, 3), np.int16)
    data[3, 1, 2] = 1000
    directions = [(0.0, 0.8, 0.0), (-0.5, 0.0, 0.0), (0.0, 0.0, 2.0)]  # permuted, one negated
    origin = (12.0, -7.0, 40.0)
    path = _write_raw_nrrd(tmp_path / "m.nrrd", data, space, directions, origin)
    arr, affine = read_nrrd(path)
    assert np.array_equal(arr, data)
    p_space = (
        np.asarray(origin)
        + 3 * np.asarray(directions[0])
        + 1 * np.asarray(directions[1])
        + 2 * np.asarray(directions[2])
    )
    assert np.allclose(affine[:3, :3] @ [3, 1, 2] + affine[:3, 3], p_space * flip)


def test_detached_header(tmp_path):
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    path = _write_raw_nrrd(tmp_path / "d.nhdr", data, "RAS", np.eye(3), (0, 0, 0), detached=True)
    vol = load_volume(path)
    assert np.array_equal(vol.data, data) and np.allclose(vol.affine, np.eye(4))
    (tmp_path / "d.raw").unlink()
    with pytest.raises(InputFileError, match=r"d\.nhdr"):
        load_volume(path)


@pytest.mark.parametrize("axcodes", ["RAS", "LPI", "PIR", "oblique"])
def test_round_trip(tmp_path, h, axcodes):
    affine = h.oblique_affine() if axcodes == "oblique" else h.axis_affine(axcodes)
    vol = h.marked_volume(affine)
    back = load_volume(write_nrrd(vol, tmp_path / "v.nrrd"))
    assert np.array_equal(back.data, vol.data)
    assert np.allclose(back.affine, vol.affine, atol=1e-9)
    assert b"space: left-posterior-superior" in (tmp_path / "v.nrrd").read_bytes()[:400]


def test_non_anatomical_space_is_unsupported(tmp_path):
    path = _write_raw_nrrd(
        tmp_path / "s.nrrd", np.zeros((2, 2, 2)), "scanner-xyz", np.eye(3), (0, 0, 0)
    )
    with pytest.raises(UnsupportedFormatError, match="scanner-xyz"):
        read_nrrd(path)


def test_missing_space_is_a_format_error(tmp_path):
    payload = np.zeros(8, "<i2").tobytes()
    header = "NRRD0004\ntype: int16\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nendian: little\n\n"
    (tmp_path / "n.nrrd").write_bytes(header.encode() + payload)
    with pytest.raises(FormatError, match=r"n\.nrrd.*'space'"):
        read_nrrd(tmp_path / "n.nrrd")


def test_zero_direction_is_a_non_positive_voxel_size(tmp_path):
    dirs = [(1.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    path = _write_raw_nrrd(tmp_path / "z.nrrd", np.zeros((2, 2, 2)), "RAS", dirs, (0, 0, 0))
    with pytest.raises(FormatError, match=r"z\.nrrd: non-positive voxel size"):
        read_nrrd(path)


def test_truncated_and_garbage(tmp_path, h):
    src = write_nrrd(h.marked_volume(np.eye(4), shape=(30, 30, 20)), tmp_path / "ok.nrrd")
    blob = src.read_bytes()
    (tmp_path / "cut.nrrd").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError, match=r"cut\.nrrd"):
        read_nrrd(tmp_path / "cut.nrrd")
    (tmp_path / "junk.nrrd").write_text("hello\n")
    with pytest.raises(FormatError, match=r"junk\.nrrd"):
        read_nrrd(tmp_path / "junk.nrrd")


def test_nhdr_is_not_written(tmp_path, h):
    with pytest.raises(UnsupportedFormatError):
        write_nrrd(h.marked_volume(np.eye(4)), tmp_path / "x.nhdr")
