"""One simulated frame of a case and the files ``kypho fluoro`` writes for it.

:func:`render_view` renders a :class:`~kypho.fluoro.spec.FluoroSpec` view of a case (centred on
a level and aligned with its measured axes when one is given) and counts its dose;
:func:`write_outputs` writes the monitor picture (with the vertebrae outlined), the optional
``.npy`` line integrals and DICOM XA file, and ``<stem>.json`` (geometry and dose, in kypho's
envelope ``"format": "kypho.fluoro/1"``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kypho.anatomy.spine import SpineAnatomy
from kypho.core.atomic import write_files_atomic
from kypho.core.case import Case
from kypho.core.levels import LEVELS, parse_level
from kypho.core.outputs import DISCLAIMER, dumps, envelope, figure_png
from kypho.fluoro.carm import CArm, named_view
from kypho.fluoro.dose import DoseSession, DoseSummary
from kypho.fluoro.render import Frame, render_drr
from kypho.fluoro.spec import FluoroSpec

__all__ = [
    "FLUORO_FORMAT_VERSION",
    "FluoroView",
    "fluoro_to_dict",
    "output_names",
    "render_view",
    "write_outputs",
]

#: Layout version of ``fluoro.json`` (``"format": "kypho.fluoro/1"``).
FLUORO_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class FluoroView:
    """A rendered frame with what it shows and what it cost."""

    frame: Frame
    spec: FluoroSpec
    level: str | None
    dose: DoseSummary

    def __repr__(self) -> str:
        where = f" of {self.level}" if self.level else ""
        return (f"FluoroView({self.spec.view}{where}, {self.frame.carm.describe()}, "
                f"{self.spec.size} px)")

    @property
    def stem(self) -> str:
        """File-name stem: ``fluoro_<view>[_<level>]``."""
        return _stem(self.spec.view, self.level)


def _stem(view: str, level: str | None) -> str:
    return f"fluoro_{view}" + (f"_{level}" if level else "")


def output_names(view: str, levels: Sequence[str | None]) -> tuple[str, ...]:
    """Every file name :func:`write_outputs` may write for ``view`` at ``levels``."""
    return tuple(f"{_stem(view, lv)}{ext}" for lv in levels
                 for ext in (".png", ".json", ".npy", ".dcm"))


def _carm(case: Case, spec: FluoroSpec, level: str | None, anatomy: SpineAnatomy | None) -> CArm:
    from dataclasses import replace

    from kypho.fluoro.outlines import view_for_level

    if level is not None:
        carm = view_for_level(case, level, spec.view, anatomy=anatomy)
    else:
        centre = case.volume.ijk_to_ras((np.asarray(case.volume.shape) - 1) / 2.0)
        carm = named_view(spec.view, centre)
    if spec.primary_deg is not None:
        carm = replace(carm, primary_deg=spec.primary_deg)
    if spec.secondary_deg is not None:
        carm = replace(carm, secondary_deg=spec.secondary_deg)
    return carm.with_size(spec.size)


def render_view(
    case: Case,
    spec: FluoroSpec | None = None,
    *,
    level: str | None = None,
    anatomy: SpineAnatomy | None = None,
    **changes: Any,
) -> FluoroView:
    """Render one frame of ``case``: centred on ``level`` and aligned with its measured axes
    (true AP / true lateral of that vertebra) when given, else on the CT's centre."""
    spec = (spec or FluoroSpec()).with_(**changes)
    lvl = parse_level(level) if level is not None else None
    carm = _carm(case, spec, lvl, anatomy)
    dose = DoseSession()
    frame = render_drr(case.volume, carm, energy_kev=spec.energy_kev, dose=dose)
    return FluoroView(frame, spec, lvl, dose.summary())


def fluoro_to_dict(view: FluoroView) -> dict[str, Any]:
    """JSON-able description of a frame: geometry, energy, renderer and dose."""
    c = view.frame.carm
    d = view.dose
    return {
        "view": view.spec.view,
        "level": view.level,
        "positioner": {"primary_deg": c.primary_deg, "secondary_deg": c.secondary_deg,
                       "describe": c.describe()},
        "isocentre_ras_mm": [float(x) for x in c.isocentre_ras_mm],
        "source_to_detector_mm": c.source_to_detector_mm,
        "source_to_isocentre_mm": c.source_to_isocentre_mm,
        "detector": {"rows": c.detector.rows, "cols": c.detector.cols,
                     "height_mm": c.detector.height_mm, "width_mm": c.detector.width_mm},
        "energy_kev": view.frame.energy_kev,
        "renderer": view.frame.method,
        "bone": view.spec.bone,
        "dose": {"frames": d.frames, "reference_air_kerma_mgy": d.reference_air_kerma_mgy,
                 "dap_gy_cm2": d.dap_gy_cm2},
    }


def _picture_png(case: Case, view: FluoroView) -> bytes:
    """The monitor picture with the level and its labelled neighbours outlined."""
    if not (view.spec.outlines and case.labels is not None and case.levels):
        from PIL import Image

        from kypho.fluoro.display import to_display

        buf = io.BytesIO()
        Image.fromarray(to_display(view.frame, bone=view.spec.bone), mode="L").save(buf, "PNG")
        return buf.getvalue()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kypho.fluoro.report import plot_frame

    shown = case.levels
    if view.level is not None:
        i = LEVELS.index(view.level)
        shown = tuple(x for x in LEVELS[max(i - 1, 0): i + 2] if x in case.levels)
    n = view.spec.size
    fig = plt.figure(figsize=(n / 100, n / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    plot_frame(ax, view.frame, labels=case.labels, levels=shown, highlight=view.level,
               bone=view.spec.bone)
    return figure_png(fig, dpi=100)


def write_outputs(
    case: Case,
    view: FluoroView,
    out_dir: str | Path,
    *,
    npy: bool = False,
    dicom: bool = False,
) -> dict[str, Path]:
    """Write ``<stem>.png`` (outlined), optionally ``<stem>.npy`` and ``<stem>.dcm``, and
    ``<stem>.json`` into ``out_dir`` (``<stem>`` = :attr:`FluoroView.stem`): made in memory,
    then written all or none.  Returns the paths by kind."""
    from kypho.fluoro.io import dicom_bytes, npy_bytes

    files = {f"{view.stem}.png": _picture_png(case, view)}
    if npy:
        files[f"{view.stem}.npy"] = npy_bytes(view.frame)
    if dicom:
        files[f"{view.stem}.dcm"] = dicom_bytes(view.frame, bone=view.spec.bone,
                                                series_description=DISCLAIMER[:64])
    kinds = {".png": "png", ".npy": "npy", ".dcm": "dicom"}
    doc = envelope("fluoro", FLUORO_FORMAT_VERSION,
                   {"case": case.name, **fluoro_to_dict(view),
                    "files": {kinds[Path(n).suffix]: n for n in files}})
    files[f"{view.stem}.json"] = dumps(doc).encode("utf-8")
    out = Path(out_dir)
    write_files_atomic(out, files)
    return {kinds.get(Path(n).suffix, "json"): out / n for n in files}
