"""C-arm geometry: pose from DICOM positioner angles, the 3x4 projection matrix, named views.

Frames and angles
-----------------
World coordinates are the patient's RAS+ mm (x Right, y Anterior, z Superior).  The C-arm pose is
given by the two DICOM positioner angles, stored in the DICOM sense (PS3.3 C.8.7.5, XA
Positioner module):

- **Positioner Primary Angle** ``primary_deg`` in [-180, 180]: rotation of the beam axis in the
  patient's transverse plane; 0 = detector in front of the patient's chest (anterior), +90 = LAO
  (detector at the patient's left), -90 = RAO (detector at the patient's right).
- **Positioner Secondary Angle** ``secondary_deg`` in [-90, 90]: tilt in the patient's sagittal
  plane; +90 = CRAN (detector towards the head), -90 = CAUD.

Both angles are *patient-relative*, so they do not change when the patient lies prone.  kypho
composes them as ``R = Rz(primary) Rx(secondary)`` acting on the reference pose (detector
anterior, image up = superior), which gives the unit vector from the isocentre to the detector

    d = (-sin(a) cos(b), cos(a) cos(b), sin(b))    (RAS; a = primary, b = secondary)

and the image "up" vector ``u = (sin(a) sin(b), -cos(a) sin(b), cos(b))`` (the patient's
superior direction projected on the detector).  The source sits at ``iso - SOD * d`` and the
detector centre at ``source + SID * d``.

**Prone kyphoplasty.** The patient lies prone with the X-ray tube under the table, so the AP view
has the detector above the patient's back: ``d`` = posterior, primary = 180 (equivalently -180),
secondary = 0.  The beam then enters the anterior body (an anteroposterior projection).  Tilting
the detector towards the head is CRAN (secondary > 0); moving it towards the patient's left is
LAO (the primary angle falls from 180 towards 90), towards the right RAO (-180 towards -90).
Lateral views have the detector at the patient's left (primary +90, the default) or right (-90).

Image orientation: frames are shown **as seen from the detector looking towards the source**,
the surgeon's view from behind the detector.  Image up is the patient's superior direction; image
right is ``(-d) x u``.  For the prone AP view this puts the patient's right on the image's right
(as when looking at the patient's back); for a left lateral view the patient's posterior is on the
image's right.

Pixel ``(row, col)`` centres are at integer indices, row 0 at the top.  The 3x4 matrix ``P`` maps
homogeneous world points ``(x, y, z, 1)`` to ``(w col, w row, w)``, ``w`` being the depth (mm)
from the source along ``d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kypho.errors import InvalidParameterError
from kypho.fluoro.detector import Detector

__all__ = [
    "DEFAULT_OBLIQUE_DEG",
    "DEFAULT_SID_MM",
    "DEFAULT_SOD_MM",
    "VIEW_NAMES",
    "CArm",
    "ViewName",
    "angles_from_direction",
    "ap_view",
    "lateral_view",
    "named_view",
    "oblique_view",
    "project_points",
]

#: Source-to-detector distance (mm); model choice of the order of mobile C-arms (not cited).
DEFAULT_SID_MM = 1000.0
#: Source-to-isocentre distance (mm); model choice (not cited).
DEFAULT_SOD_MM = 600.0
#: Default rotation of the oblique (pedicle-access) views from AP towards one side (degrees).
#: Model choice; the en-face pedicle view depends on the level's pedicle angle (see
#: :func:`oblique_view`'s ``angle_deg``).
DEFAULT_OBLIQUE_DEG = 20.0

ViewName = Literal["ap", "pa", "lateral", "lateral-left", "lateral-right", "oblique-left", "oblique-right"]
VIEW_NAMES: tuple[str, ...] = (
    "ap",
    "pa",
    "lateral",
    "lateral-left",
    "lateral-right",
    "oblique-left",
    "oblique-right",
)


def _unit(v: ArrayLike, what: str) -> NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(a))
    if not np.all(np.isfinite(a)) or n < 1e-12:
        raise InvalidParameterError(f"{what} must be a finite non-zero 3-vector, got {v!r}")
    return a / n


def angles_from_direction(direction_ras: ArrayLike) -> tuple[float, float]:
    """DICOM (primary, secondary) angles in degrees whose isocentre-to-detector vector is
    ``direction_ras``."""
    d = _unit(direction_ras, "direction")
    secondary = math.degrees(math.asin(float(np.clip(d[2], -1.0, 1.0))))
    if math.hypot(d[0], d[1]) < 1e-12:
        return 0.0, secondary
    primary = math.degrees(math.atan2(-d[0], d[1]))
    return primary, secondary


@dataclass(frozen=True)
class CArm:
    """A C-arm pose and its imaging geometry.

    Parameters
    ----------
    primary_deg : float
        DICOM Positioner Primary Angle (LAO positive), -180..180; 180 = prone AP.
    secondary_deg : float
        DICOM Positioner Secondary Angle (CRAN positive), -90..90.
    isocentre_ras_mm : (3,) float
        Point the central ray passes through (e.g. a vertebral body centroid).
    source_to_detector_mm : float
        SID (DICOM DistanceSourceToDetector).
    source_to_isocentre_mm : float
        SOD (DICOM DistanceSourceToPatient, "to the isocenter"); must be below SID.
    detector : Detector
        Pixel grid and active area.
    """

    primary_deg: float = 180.0
    secondary_deg: float = 0.0
    isocentre_ras_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source_to_detector_mm: float = DEFAULT_SID_MM
    source_to_isocentre_mm: float = DEFAULT_SOD_MM
    detector: Detector = field(default_factory=Detector)

    def __post_init__(self) -> None:
        p, s = float(self.primary_deg), float(self.secondary_deg)
        if not (np.isfinite(p) and -180.0 <= p <= 180.0):
            raise InvalidParameterError(f"primary angle must be in -180..180 degrees, got {self.primary_deg!r}")
        if not (np.isfinite(s) and -90.0 <= s <= 90.0):
            raise InvalidParameterError(f"secondary angle must be in -90..90 degrees, got {self.secondary_deg!r}")
        iso = np.asarray(self.isocentre_ras_mm, dtype=float).reshape(-1)
        if iso.shape != (3,) or not np.all(np.isfinite(iso)):
            raise InvalidParameterError(f"isocentre must be a finite 3-vector, got {self.isocentre_ras_mm!r}")
        sid, sod = float(self.source_to_detector_mm), float(self.source_to_isocentre_mm)
        if not (np.isfinite(sid) and sid > 0):
            raise InvalidParameterError(f"source-to-detector distance must be positive, got {sid!r} mm")
        if not (np.isfinite(sod) and 0 < sod < sid):
            raise InvalidParameterError(
                f"source-to-isocentre distance must be positive and below the source-to-detector "
                f"distance ({sid:g} mm), got {sod!r} mm"
            )
        if not isinstance(self.detector, Detector):
            raise InvalidParameterError("detector must be a kypho.fluoro.Detector")
        object.__setattr__(self, "primary_deg", p)
        object.__setattr__(self, "secondary_deg", s)
        object.__setattr__(self, "isocentre_ras_mm", tuple(float(x) for x in iso))
        object.__setattr__(self, "source_to_detector_mm", sid)
        object.__setattr__(self, "source_to_isocentre_mm", sod)

    # ------------------------------------------------------------------ geometry
    @property
    def rotation(self) -> NDArray[np.float64]:
        """3x3 rotation ``Rz(primary) Rx(secondary)`` taking the reference pose to this pose."""
        a, b = math.radians(self.primary_deg), math.radians(self.secondary_deg)
        rz = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
        return rz @ rx

    @property
    def direction_ras(self) -> NDArray[np.float64]:
        """Unit vector from the isocentre (and the source) towards the detector."""
        return self.rotation @ np.array([0.0, 1.0, 0.0])

    @property
    def up_ras(self) -> NDArray[np.float64]:
        """Unit vector of image up (towards row 0) on the detector."""
        return self.rotation @ np.array([0.0, 0.0, 1.0])

    @property
    def right_ras(self) -> NDArray[np.float64]:
        """Unit vector of image right (increasing column) on the detector."""
        return np.cross(-self.direction_ras, self.up_ras)

    @property
    def source_ras_mm(self) -> NDArray[np.float64]:
        """Focal spot position."""
        return np.asarray(self.isocentre_ras_mm) - self.source_to_isocentre_mm * self.direction_ras

    @property
    def detector_centre_ras_mm(self) -> NDArray[np.float64]:
        """Centre of the detector's active area."""
        return self.source_ras_mm + self.source_to_detector_mm * self.direction_ras

    @property
    def magnification(self) -> float:
        """Geometric magnification at the isocentre, SID / SOD."""
        return self.source_to_detector_mm / self.source_to_isocentre_mm

    def projection_matrix(self) -> NDArray[np.float64]:
        """The 3x4 matrix mapping ``(x, y, z, 1)`` RAS mm to ``w * (col, row, 1)``."""
        det = self.detector
        pitch_r, pitch_c = det.pixel_pitch_mm
        f = self.source_to_detector_mm
        k = np.array(
            [
                [f / pitch_c, 0.0, (det.cols - 1) / 2.0],
                [0.0, f / pitch_r, (det.rows - 1) / 2.0],
                [0.0, 0.0, 1.0],
            ]
        )
        axes = np.stack([self.right_ras, -self.up_ras, self.direction_ras])  # camera rows
        ext = np.hstack([axes, (-axes @ self.source_ras_mm)[:, None]])
        return k @ ext

    def pixel_centres_ras_mm(self) -> NDArray[np.float64]:
        """World position of every pixel centre, shape ``(rows, cols, 3)``."""
        det = self.detector
        pitch_r, pitch_c = det.pixel_pitch_mm
        c = (np.arange(det.cols) - (det.cols - 1) / 2.0) * pitch_c
        r = ((det.rows - 1) / 2.0 - np.arange(det.rows)) * pitch_r
        return (
            self.detector_centre_ras_mm[None, None, :]
            + c[None, :, None] * self.right_ras[None, None, :]
            + r[:, None, None] * self.up_ras[None, None, :]
        )

    def project(self, points_ras_mm: ArrayLike) -> NDArray[np.float64]:
        """Detector ``(col, row)`` of world points ``(..., 3)``; NaN for points behind the source."""
        return project_points(self, points_ras_mm)

    # ------------------------------------------------------------------ variations
    def rotated(self, *, primary_deg: float = 0.0, secondary_deg: float = 0.0) -> CArm:
        """The same C-arm with angles changed by the given amounts (primary wraps at +-180)."""
        p = (self.primary_deg + primary_deg + 180.0) % 360.0 - 180.0
        if p == -180.0 and self.primary_deg + primary_deg > 0:
            p = 180.0
        return replace(self, primary_deg=p, secondary_deg=self.secondary_deg + secondary_deg)

    def with_size(self, size: int) -> CArm:
        """The same pose with a ``size`` x ``size`` pixel detector over the same area."""
        return replace(self, detector=self.detector.with_size(size))

    def with_isocentre(self, isocentre_ras_mm: ArrayLike) -> CArm:
        """The same pose centred on another point."""
        return replace(self, isocentre_ras_mm=tuple(np.asarray(isocentre_ras_mm, dtype=float).reshape(3)))

    @classmethod
    def from_direction(cls, direction_ras: ArrayLike, **kwargs: object) -> CArm:
        """A C-arm whose isocentre-to-detector vector is ``direction_ras``."""
        p, s = angles_from_direction(direction_ras)
        return cls(primary_deg=p, secondary_deg=s, **kwargs)  # type: ignore[arg-type]

    def describe(self) -> str:
        """Angles in words, e.g. ``"LAO 160.0, CRAN 5.0"``."""
        p, s = self.primary_deg, self.secondary_deg
        side = "LAO" if p >= 0 else "RAO"
        tilt = "CRAN" if s >= 0 else "CAUD"
        return f"{side} {abs(p):.1f}, {tilt} {abs(s):.1f}"


def project_points(carm: CArm, points_ras_mm: ArrayLike) -> NDArray[np.float64]:
    """Detector ``(col, row)`` (pixels, centres at integers) of world points ``(..., 3)``.

    Points at or behind the source plane get NaN.
    """
    p = np.asarray(points_ras_mm, dtype=np.float64)
    if p.shape[-1] != 3:
        raise InvalidParameterError(f"points must have shape (..., 3), got {p.shape}")
    m = carm.projection_matrix()
    h = p @ m[:, :3].T + m[:, 3]
    w = h[..., 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.where(w > 1e-9, h[..., :2] / w, np.nan)
    return uv


# ---------------------------------------------------------------------- named views
def _frame_axes(
    superior_axis_ras: ArrayLike | None, anterior_axis_ras: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Orthonormal (superior, anterior, left) axes of a vertebra (default: the patient's)."""
    sup = _unit((0, 0, 1) if superior_axis_ras is None else superior_axis_ras, "superior axis")
    ant = _unit((0, 1, 0) if anterior_axis_ras is None else anterior_axis_ras, "anterior axis")
    ant = ant - np.dot(ant, sup) * sup
    if np.linalg.norm(ant) < 1e-6:
        raise InvalidParameterError("anterior axis is parallel to the superior axis")
    ant /= np.linalg.norm(ant)
    left = np.cross(sup, ant)  # R = A x S, so S x A = L
    return sup, ant, left


def ap_view(
    isocentre_ras_mm: ArrayLike = (0.0, 0.0, 0.0),
    *,
    superior_axis_ras: ArrayLike | None = None,
    anterior_axis_ras: ArrayLike | None = None,
    **carm_kwargs: object,
) -> CArm:
    """True AP of a vertebra for a prone patient: detector posterior, beam along the vertebra's
    anterior axis (so it runs parallel to the endplates and in the mid-sagittal plane: endplates
    project as lines, the spinous process midway between the pedicles).

    With the default axes this is primary 180, secondary 0.
    """
    _, ant, _ = _frame_axes(superior_axis_ras, anterior_axis_ras)
    return CArm.from_direction(-ant, isocentre_ras_mm=tuple(np.asarray(isocentre_ras_mm, float)), **carm_kwargs)


def lateral_view(
    isocentre_ras_mm: ArrayLike = (0.0, 0.0, 0.0),
    *,
    side: Literal["left", "right"] = "left",
    superior_axis_ras: ArrayLike | None = None,
    anterior_axis_ras: ArrayLike | None = None,
    **carm_kwargs: object,
) -> CArm:
    """True lateral of a vertebra: detector at the patient's ``side`` (left = primary +90),
    beam along the vertebra's transverse axis (posterior walls superimposed)."""
    if side not in ("left", "right"):
        raise InvalidParameterError(f"lateral side must be 'left' or 'right', got {side!r}")
    _, _, left = _frame_axes(superior_axis_ras, anterior_axis_ras)
    d = left if side == "left" else -left
    return CArm.from_direction(d, isocentre_ras_mm=tuple(np.asarray(isocentre_ras_mm, float)), **carm_kwargs)


def oblique_view(
    isocentre_ras_mm: ArrayLike = (0.0, 0.0, 0.0),
    *,
    side: Literal["left", "right"] = "left",
    angle_deg: float = DEFAULT_OBLIQUE_DEG,
    superior_axis_ras: ArrayLike | None = None,
    anterior_axis_ras: ArrayLike | None = None,
    **carm_kwargs: object,
) -> CArm:
    """Ipsilateral oblique for access to the ``side`` pedicle of a prone patient.

    The detector is rotated from the true AP by ``angle_deg`` about the vertebra's superior axis
    towards ``side``, so the beam runs from anteromedial to posterolateral on that side, along a
    pedicle that converges by ``angle_deg``: the pedicle is seen end-on ("en face") when
    ``angle_deg`` equals its transverse angle.
    """
    if side not in ("left", "right"):
        raise InvalidParameterError(f"oblique side must be 'left' or 'right', got {side!r}")
    a = float(angle_deg)
    if not (np.isfinite(a) and 0.0 <= a <= 90.0):
        raise InvalidParameterError(f"oblique angle must be in 0..90 degrees, got {angle_deg!r}")
    _, ant, left = _frame_axes(superior_axis_ras, anterior_axis_ras)
    lat = left if side == "left" else -left
    t = math.radians(a)
    d = -math.cos(t) * ant + math.sin(t) * lat
    return CArm.from_direction(d, isocentre_ras_mm=tuple(np.asarray(isocentre_ras_mm, float)), **carm_kwargs)


def named_view(
    name: str,
    isocentre_ras_mm: ArrayLike = (0.0, 0.0, 0.0),
    *,
    superior_axis_ras: ArrayLike | None = None,
    anterior_axis_ras: ArrayLike | None = None,
    oblique_deg: float = DEFAULT_OBLIQUE_DEG,
    **carm_kwargs: object,
) -> CArm:
    """A C-arm for one of :data:`VIEW_NAMES` ("pa" puts the detector under the prone patient)."""
    key = str(name).strip().lower()
    axes = {"superior_axis_ras": superior_axis_ras, "anterior_axis_ras": anterior_axis_ras}
    if key == "ap":
        return ap_view(isocentre_ras_mm, **axes, **carm_kwargs)
    if key == "pa":
        _, ant, _ = _frame_axes(superior_axis_ras, anterior_axis_ras)
        return CArm.from_direction(ant, isocentre_ras_mm=tuple(np.asarray(isocentre_ras_mm, float)), **carm_kwargs)
    if key in ("lateral", "lateral-left", "lateral-right"):
        side = "right" if key == "lateral-right" else "left"
        return lateral_view(isocentre_ras_mm, side=side, **axes, **carm_kwargs)  # type: ignore[arg-type]
    if key in ("oblique-left", "oblique-right"):
        side = key.split("-")[1]
        return oblique_view(isocentre_ras_mm, side=side, angle_deg=oblique_deg, **axes, **carm_kwargs)  # type: ignore[arg-type]
    raise InvalidParameterError(f"unknown view {name!r}: expected one of {', '.join(VIEW_NAMES)}")
