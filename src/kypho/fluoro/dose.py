"""Dose bookkeeping: fluoroscopy time, reference air kerma and dose-area product of a session.

Model
-----
Each rendered frame is one fluoroscopy pulse.  The air kerma per pulse at the interventional
reference point (IRP, 15 cm from the isocentre towards the focal spot, IEC 60601-2-43) is

    K_IRP = Y(kVp) * mAs_pulse * (1000 mm / d_IRP)^2

with ``Y`` the tube output in uGy/mAs at 1 m and ``d_IRP = SOD - 150 mm`` (inverse-square law,
free in air: no table attenuation, no backscatter).  The dose-area product is ``K_IRP`` times the
beam area at the IRP (the detector area scaled by ``(d_IRP / SID)^2``; no collimation unless a
field fraction is given), which is the same at any distance from the source.

Tube output ``Y`` (uGy/mAs at 1 m) for a tungsten anode at 12 degrees with 3.0 mm Al total
filtration, computed with SpekPy 2.5.4 (Poludniowski G, Omar A, Bujila R, Andreo P, "Technical
Note: SpekPy v2.0 - a software toolkit for modeling x-ray tube spectra", Med Phys
2021;48(7):3630-7); anode angle and filtration are model choices.  Tube current and pulse width
are model choices too (no cited technique factors for kyphoplasty were found); the pulse rate of
7.5 pulses/s is the one Ortiz et al. used (AJNR 2006;27(5):989-94).

Published figures compared against (``clinical-anchors.md`` 3d): fluoroscopy time per level in
vertebroplasty 4.9 +- 3.3 min (Kopparapu et al., J Neurosurg Spine 2021); patient DAP in
vertebroplasty, median 3.47 Gy cm^2 (IQR 2.70-5.73) per procedure and 2.90 (1.90-4.37) per
treated vertebra (Int J Spine Surg, VP vs SpineJack, table 2).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from kypho.errors import InvalidParameterError
from kypho.fluoro.carm import CArm

__all__ = [
    "IRP_OFFSET_MM",
    "PUBLISHED",
    "TUBE_OUTPUT_UGY_PER_MAS_1M",
    "DoseSession",
    "DoseSummary",
    "Technique",
    "tube_output_ugy_per_mas",
]

#: Tube output (uGy/mAs at 1 m) by kVp; W anode 12 deg, 3.0 mm Al, computed with SpekPy 2.5.4.
TUBE_OUTPUT_UGY_PER_MAS_1M: dict[float, float] = {
    60.0: 40.31,
    70.0: 54.64,
    80.0: 70.20,
    90.0: 86.93,
    100.0: 104.55,
    110.0: 123.28,
    120.0: 142.26,
}

#: Distance of the interventional reference point from the isocentre towards the source (mm),
#: IEC 60601-2-43.
IRP_OFFSET_MM = 150.0

#: Published figures (see module docstring): (label, value, spread, unit, source).
PUBLISHED: tuple[tuple[str, float, str, str, str], ...] = (
    ("Fluoroscopy time per level, vertebroplasty", 4.9, "+- 3.3 (SD)", "min",
     "Kopparapu et al., J Neurosurg Spine 2021"),
    ("DAP per procedure, vertebroplasty (median)", 3.47, "IQR 2.70-5.73", "Gy cm^2",
     "Int J Spine Surg, VP vs SpineJack, table 2"),
    ("DAP per treated vertebra, vertebroplasty (median)", 2.90, "IQR 1.90-4.37", "Gy cm^2",
     "Int J Spine Surg, VP vs SpineJack, table 2"),
)


def tube_output_ugy_per_mas(kvp: float) -> float:
    """Air kerma per mAs at 1 m (uGy/mAs), linearly interpolated in the SpekPy table."""
    k = float(kvp)
    keys = sorted(TUBE_OUTPUT_UGY_PER_MAS_1M)
    if not (keys[0] <= k <= keys[-1]):
        raise InvalidParameterError(f"tube potential {kvp!r} kV is outside {keys[0]:g}-{keys[-1]:g} kV")
    return float(np.interp(k, keys, [TUBE_OUTPUT_UGY_PER_MAS_1M[x] for x in keys]))


@dataclass(frozen=True)
class Technique:
    """Pulsed-fluoroscopy technique factors.

    Parameters
    ----------
    kvp : float
        Tube potential (kV), 60-120.  Default 80 kV (model choice).
    tube_current_ma : float
        Current during a pulse (mA).  Default 5 mA (model choice).
    pulse_width_ms : float
        Pulse duration (ms).  Default 8 ms (model choice).
    pulse_rate_per_s : float
        Pulses per second.  Default 7.5 (Ortiz et al. 2006).
    field_fraction : float
        Collimated beam area as a fraction of the detector area (default 1).
    """

    kvp: float = 80.0
    tube_current_ma: float = 5.0
    pulse_width_ms: float = 8.0
    pulse_rate_per_s: float = 7.5
    field_fraction: float = 1.0

    def __post_init__(self) -> None:
        tube_output_ugy_per_mas(self.kvp)
        for name in ("tube_current_ma", "pulse_width_ms", "pulse_rate_per_s"):
            v = float(getattr(self, name))
            if not (np.isfinite(v) and v > 0):
                raise InvalidParameterError(f"technique {name} must be positive, got {v!r}")
        if not 0 < float(self.field_fraction) <= 1:
            raise InvalidParameterError(f"field fraction must be in (0, 1], got {self.field_fraction!r}")

    @property
    def mas_per_pulse(self) -> float:
        return self.tube_current_ma * self.pulse_width_ms / 1000.0


@dataclass(frozen=True)
class DoseSummary:
    """Totals of a session."""

    frames: int
    fluoroscopy_time_s: float
    reference_air_kerma_mgy: float
    dap_gy_cm2: float
    technique: Technique

    def as_rows(self) -> list[tuple[str, str, str]]:
        """(quantity, this session, published) rows for tables."""
        pub = {p[0]: p for p in PUBLISHED}
        t = pub["Fluoroscopy time per level, vertebroplasty"]
        d = pub["DAP per procedure, vertebroplasty (median)"]
        return [
            ("Frames (pulses)", f"{self.frames}", "-"),
            ("Fluoroscopy time", f"{self.fluoroscopy_time_s / 60:.2f} min",
             f"{t[1]:g} {t[2]} {t[3]} ({t[4]})"),
            ("Reference air kerma (IRP)", f"{self.reference_air_kerma_mgy:.2f} mGy", "-"),
            ("Dose-area product", f"{self.dap_gy_cm2:.3f} Gy cm^2", f"{d[1]:g} {d[2]} {d[3]} ({d[4]})"),
        ]

    def to_html(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
            for a, b, c in self.as_rows()
        )
        tq = self.technique
        return (
            "<table><tr><th>Quantity</th><th>This session</th><th>Published</th></tr>"
            f"{rows}</table><p>Technique: {tq.kvp:g} kV, {tq.tube_current_ma:g} mA x "
            f"{tq.pulse_width_ms:g} ms pulses at {tq.pulse_rate_per_s:g}/s (model choices; "
            "free-in-air kerma at the interventional reference point, no backscatter).</p>"
        )


@dataclass
class DoseSession:
    """Counts exposures and accumulates fluoroscopy time, reference air kerma and DAP.

    Pass it to :func:`kypho.fluoro.render_drr` (``dose=``) to count each rendered frame, or call
    :meth:`record` / :meth:`fluoroscopy` directly.
    """

    technique: Technique = field(default_factory=Technique)
    frames: int = 0
    reference_air_kerma_mgy: float = 0.0
    dap_gy_cm2: float = 0.0

    def kerma_per_pulse_mgy(self, carm: CArm) -> float:
        """Air kerma at the IRP of one pulse with this geometry (mGy)."""
        d_irp = carm.source_to_isocentre_mm - IRP_OFFSET_MM
        if d_irp <= 0:
            raise InvalidParameterError(
                f"source-to-isocentre distance {carm.source_to_isocentre_mm:g} mm leaves no room for "
                f"the reference point {IRP_OFFSET_MM:g} mm before the isocentre"
            )
        y = tube_output_ugy_per_mas(self.technique.kvp)
        return y * self.technique.mas_per_pulse * (1000.0 / d_irp) ** 2 / 1000.0

    def field_area_at_irp_cm2(self, carm: CArm) -> float:
        """Beam area at the IRP (cm^2)."""
        det = carm.detector
        scale = (carm.source_to_isocentre_mm - IRP_OFFSET_MM) / carm.source_to_detector_mm
        return det.width_mm * det.height_mm * scale**2 / 100.0 * self.technique.field_fraction

    def record(self, carm: CArm, frames: int = 1) -> None:
        """Count ``frames`` pulses taken with ``carm``."""
        if int(frames) != frames or frames < 0:
            raise InvalidParameterError(f"frame count must be a non-negative integer, got {frames!r}")
        k = self.kerma_per_pulse_mgy(carm) * frames
        self.frames += int(frames)
        self.reference_air_kerma_mgy += k
        self.dap_gy_cm2 += k / 1000.0 * self.field_area_at_irp_cm2(carm)

    def fluoroscopy(self, carm: CArm, seconds: float) -> int:
        """Count ``seconds`` of pulsed fluoroscopy; returns the number of pulses."""
        if not seconds >= 0:
            raise InvalidParameterError(f"fluoroscopy time must be >= 0 s, got {seconds!r}")
        n = round(seconds * self.technique.pulse_rate_per_s)
        self.record(carm, n)
        return n

    @property
    def fluoroscopy_time_s(self) -> float:
        return self.frames / self.technique.pulse_rate_per_s

    def summary(self) -> DoseSummary:
        return DoseSummary(
            self.frames, self.fluoroscopy_time_s, self.reference_air_kerma_mgy, self.dap_gy_cm2, self.technique
        )
