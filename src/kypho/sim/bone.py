"""The vertebral body as a porous material on a working voxel grid (about 1 mm).

Pipeline: a :class:`BodyGeometry` (masks of the body, its cortical shell, a fracture cleft,
cortical breaks, and the CT in HU, all on one grid in RAS+ mm) is resampled to an axis-aligned
working grid and turned into a :class:`BoneModel`: bone mineral density per voxel (phantomless
calibration, :class:`DensityCalibration`), porosity, a transversely isotropic permeability that
falls with density, walls (cortical shell and endplates, impermeable unless broken), the cleft
(open, highly permeable) and the exits through which cement can leave the body, each with its
clinical class (disc, canal, paravertebral, basivertebral, segmental).

Exits on a real CT are model assumptions: a cortical break there has to be inferred, and the
basivertebral foramen and segmental veins are placed at their usual anatomical sites, not seen.

Material laws (sources in ``docs/references/sim.md``):

* HU -> K2HPO4-equivalent density: two-point internal calibration from air and blood
  (the phantomless idea of Lee DC et al., Bone 2017;103:325-33, and Michalski AS et al., Med Eng
  Phys 2020, as coded in Bonelab/Ogo), with the NIST XCOM/ICRU-44 mass attenuation coefficients
  of :mod:`kypho.core.attenuation` at the CT's effective energy (70 keV, the same the
  fluoroscopy renderer reads the CT at).
* porosity = 1 - BMD / rho_tissue, rho_tissue = 1000 mg/cm^3 K2HPO4-equivalent (model choice).
* permeability: Kozeny-Carman shape phi^3/(1-phi)^2 scaled to Baroud 2004's superior-inferior
  mean 4.45e-8 m^2 at the QCT osteoporosis threshold 80 mg/cm^3; transverse = 0.78 x axial
  (Baroud 2004; Nauman 1999's ratio 2.05 as sensitivity), clipped to >= 2.68e-11 m^2 (Nauman
  1999's lowest measured value).
* compressive yield stress sigma_yc = 37.4 rho^1.39 MPa, rho in g/cm^3 QCT density
  (Kopperdahl 2002 as coded in Bonelab/Ogo ``material_laws.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from kypho.anatomy.morphometry import EndplateProfile
from kypho.core.attenuation import CT_EFFECTIVE_ENERGY_KEV, DENSITY_G_CM3, mass_attenuation_cm2_g
from kypho.core.breaks import CorticalBreak
from kypho.errors import InvalidParameterError, NotMeasurableError

__all__ = [
    "BREAK_LOCATIONS",
    "DEFAULT_CALIBRATION",
    "DISC_PRONE_PRESSURE_PA",
    "EXIT_KINDS",
    "K_OPEN_M2",
    "BodyGeometry",
    "BoneModel",
    "BreakMask",
    "DensityCalibration",
    "ExitKind",
    "Opening",
    "build_bone_model",
    "exit_back_pressure_pa",
    "permeability_m2",
    "porosity_from_bmd",
    "resample_geometry",
    "yeom_type",
    "yield_stress_mpa",
]

Vec3 = tuple[float, float, float]
ExitKind = Literal["disc", "canal", "paravertebral", "basivertebral", "segmental"]

#: Exit classes; the first three are cortical leaks (Yeom type C), then type B and type S
#: (classification as used in J Orthop Surg Res 2019, doi:10.1186/s13018-019-1459-4).
EXIT_KINDS: tuple[str, ...] = ("disc", "canal", "paravertebral", "basivertebral", "segmental")

#: Where a cortical break can lie, and the exit class it opens into.
BREAK_LOCATIONS: dict[str, ExitKind] = {
    "superior_endplate": "disc",
    "inferior_endplate": "disc",
    "posterior_wall": "canal",
    "left_wall": "paravertebral",
    "right_wall": "paravertebral",
    "anterior_wall": "paravertebral",
}


def yeom_type(kind: str) -> str:
    """Yeom leak type of an exit class: ``"C"`` cortical, ``"B"`` basivertebral, ``"S"``."""
    return {"basivertebral": "B", "segmental": "S"}.get(kind, "C")


# --------------------------------------------------------------------------------------------
# HU -> density: phantomless two-point calibration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DensityCalibration:
    """Linear map from CT number to bone mineral density (mg/cm^3 K2HPO4-equivalent).

    ``bmd = slope * HU + intercept``.  Build it with :meth:`phantomless` from the HU of air and
    of one reference tissue measured in the same scan.
    """

    slope_mg_cc_per_hu: float
    intercept_mg_cc: float
    method: str = "linear"

    def bmd_mg_cc(self, hu: ArrayLike) -> NDArray[np.float64]:
        """Density (mg/cm^3) for HU values."""
        return self.slope_mg_cc_per_hu * np.asarray(hu, float) + self.intercept_mg_cc

    def hu_for(self, bmd_mg_cc: ArrayLike) -> NDArray[np.float64]:
        """Inverse map: the HU a density would read."""
        return (np.asarray(bmd_mg_cc, float) - self.intercept_mg_cc) / self.slope_mg_cc_per_hu

    @classmethod
    def phantomless(
        cls,
        *,
        air_hu: float = -1000.0,
        reference_hu: float | None = None,
        reference: Literal["blood", "adipose", "muscle"] = "blood",
        effective_energy_kev: float = CT_EFFECTIVE_ENERGY_KEV,
    ) -> DensityCalibration:
        """Internal (phantomless) calibration from air and one body tissue.

        The measured HU of air and of the reference tissue fix a linear HU -> linear-attenuation
        map (their attenuation = density x NIST mass attenuation at the effective energy).  A
        trabecular voxel is then modelled as water-equivalent soft tissue holding ``c`` g/cm^3
        of K2HPO4, which displaces its own volume of water:
        ``mu = mu_water + c * ((mu/rho)_K2HPO4 - (mu/rho)_water * rho_water / rho_K2HPO4)``.

        Parameters
        ----------
        air_hu, reference_hu : float
            Mean HU of air and of the reference tissue in this scan.  Without
            ``reference_hu`` the tissue is assumed to read its ideal value (a well-calibrated
            scanner).
        reference : {'blood', 'adipose', 'muscle'}
            The reference tissue (Lee 2017 used aortic blood or hip adipose).
        effective_energy_kev : float
            Effective energy of the scan (40-100 keV).

        Notes
        -----
        Fatty marrow reads lower HU than the water-equivalent base assumed here, so density is
        underestimated in fatty vertebrae (the known QCT "fat error").
        """
        if not 40.0 <= effective_energy_kev <= 100.0:
            raise InvalidParameterError(
                f"effective_energy_kev must lie in 40-100 keV, got {effective_energy_kev}"
            )
        if reference not in ("blood", "adipose", "muscle"):
            raise InvalidParameterError(f"unknown reference tissue {reference!r}")
        e = effective_energy_kev
        mu_w = DENSITY_G_CM3["water"] * mass_attenuation_cm2_g("water", e)
        mu_air = DENSITY_G_CM3["air"] * mass_attenuation_cm2_g("air", e)
        mu_ref = DENSITY_G_CM3[reference] * mass_attenuation_cm2_g(reference, e)
        if reference_hu is None:
            reference_hu = 1000.0 * (mu_ref - mu_w) / mu_w
        if reference_hu - air_hu < 500.0:
            raise InvalidParameterError(
                f"phantomless calibration: {reference} ({reference_hu} HU) must read well above "
                f"air ({air_hu} HU)"
            )
        mu_per_hu = (mu_ref - mu_air) / (reference_hu - air_hu)  # cm^-1 per HU
        denom = (mass_attenuation_cm2_g("k2hpo4", e)
                 - mass_attenuation_cm2_g("water", e) * 1.0 / DENSITY_G_CM3["k2hpo4"])
        slope = mu_per_hu / denom * 1000.0  # mg/cm^3 per HU
        # HU at which the voxel attenuates like water -> zero mineral
        hu_water = air_hu + (mu_w - mu_air) / mu_per_hu
        return cls(
            slope_mg_cc_per_hu=float(slope),
            intercept_mg_cc=float(-slope * hu_water),
            method=f"phantomless air+{reference} at {effective_energy_kev:g} keV",
        )


#: Calibration of an ideal scanner (air -1000 HU, blood at its ideal HU, the CT's effective
#: energy :data:`~kypho.core.attenuation.CT_EFFECTIVE_ENERGY_KEV`): about 0.85 mg/cm^3 per HU.
DEFAULT_CALIBRATION = DensityCalibration.phantomless()

# --------------------------------------------------------------------------------------------
# Material laws
# --------------------------------------------------------------------------------------------

#: K2HPO4-equivalent density of fully mineralised bone tissue (mg/cm^3): model choice used to
#: turn BMD into a volume fraction (BV/TV = BMD / this).
TISSUE_DENSITY_MG_CC = 1000.0
#: Baroud G et al. J Biomech 2004;37:189-96: mean permeability of vertebral cores, SI 4.45e-8
#: and AP 3.44e-8 m^2 (AP about 78 % of SI).
BAROUD_K_SI_M2 = 4.45e-8
BAROUD_TRANSVERSE_RATIO = 0.78
#: Nauman EA et al. Ann Biomed Eng 1999;27:517-24: longitudinal/transverse ratio 2.05 in the
#: human vertebral body; lowest permeability measured 2.68e-11 m^2.
NAUMAN_TRANSVERSE_RATIO = 1.0 / 2.05
NAUMAN_K_MIN_M2 = 2.68e-11
#: QCT osteoporosis threshold (mg/cm^3), ACR-based classes (Osteoporos Int 2020;31:1025-48):
#: the density at which the Baroud mean permeability is placed (model choice).
REFERENCE_BMD_MG_CC = 80.0
#: Permeability of open spaces (cleft, balloon cavity, cortical opening), m^2: model choice,
#: w^2/12 of a 3.5 mm gap (arithmetic), much more permeable than any trabecular bone.
K_OPEN_M2 = 1.0e-6
#: Kopperdahl DL et al. 2002 (as coded in Bonelab/Ogo material_laws.py): sigma_yc = 37.4 rho^1.39
#: MPa with rho the QCT density in g/cm^3.
KOPPERDAHL_A_MPA = 37.4
KOPPERDAHL_B = 1.39

_PHI_MIN, _PHI_MAX = 0.30, 0.985


def porosity_from_bmd(bmd_mg_cc: ArrayLike) -> NDArray[np.float64]:
    """Porosity (marrow volume fraction) from K2HPO4-equivalent density."""
    bvtv = np.asarray(bmd_mg_cc, float) / TISSUE_DENSITY_MG_CC
    return np.clip(1.0 - bvtv, _PHI_MIN, _PHI_MAX)


def _kozeny_carman(phi: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return phi**3 / (1.0 - phi) ** 2


def permeability_m2(
    porosity: ArrayLike, *, transverse_ratio: float = BAROUD_TRANSVERSE_RATIO
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Axial (superior-inferior) and transverse permeability (m^2) from porosity.

    Kozeny-Carman shape ``phi^3/(1-phi)^2`` scaled so that bone at the reference density
    (80 mg/cm^3) has Baroud 2004's SI mean 4.45e-8 m^2.
    """
    phi = np.asarray(porosity, float)
    phi_ref = float(porosity_from_bmd(REFERENCE_BMD_MG_CC))
    k_ax = BAROUD_K_SI_M2 * _kozeny_carman(phi) / _kozeny_carman(np.asarray(phi_ref))
    k_ax = np.clip(k_ax, NAUMAN_K_MIN_M2, K_OPEN_M2)
    return k_ax, np.clip(k_ax * transverse_ratio, NAUMAN_K_MIN_M2, K_OPEN_M2)


def yield_stress_mpa(bmd_mg_cc: ArrayLike) -> NDArray[np.float64]:
    """Compressive yield stress of trabecular bone (MPa), Kopperdahl 2002 power law."""
    rho = np.clip(np.asarray(bmd_mg_cc, float), 0.0, None) / 1000.0
    return KOPPERDAHL_A_MPA * rho**KOPPERDAHL_B


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BreakMask:
    """A cortical break given as a voxel mask on the geometry's grid."""

    location: str
    mask: NDArray[np.bool_]

    def __post_init__(self) -> None:
        if self.location not in BREAK_LOCATIONS:
            raise InvalidParameterError(
                f"break location {self.location!r}: expected one of {', '.join(BREAK_LOCATIONS)}"
            )


@dataclass(frozen=True, eq=False)
class BodyGeometry:
    """One vertebral body as masks on a voxel grid, RAS+ mm.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT numbers (HU).
    body : (I, J, K) bool ndarray
        The whole vertebral body, cortical shell included (no posterior elements).
    cortical : (I, J, K) bool ndarray
        Cortical shell and endplates (closed automatically around ``body``).
    cleft : (I, J, K) bool ndarray
        Fracture cleft (open space); all False if none.
    affine : (4, 4) ndarray
        Voxel ``(i, j, k)`` -> RAS+ mm.
    superior_axis_ras, anterior_axis_ras : 3-vectors
        Unit vectors along the body's cranio-caudal axis and from the posterior to the anterior
        wall.
    breaks : sequence of CorticalBreak or BreakMask
        Holes in the shell (fractured endplate, posterior or lateral wall).
    level : str
        Vertebral level (for reports).
    profile : EndplateProfile or None
        Heights and endplate lines now, as :mod:`kypho.anatomy.morphometry` measures them
        (``None``: measured from the body mask by the same six-point morphometry).
    normal_heights_mm : (anterior, middle, posterior) or None
        Body heights before the fracture (``None``: unknown).
    notes : tuple of str
        How the geometry was obtained and which parts are assumptions (real CT); carried into
        the bone model and the simulation's notes.
    """

    hu: NDArray[np.float32]
    body: NDArray[np.bool_]
    cortical: NDArray[np.bool_]
    cleft: NDArray[np.bool_]
    affine: NDArray[np.float64]
    superior_axis_ras: Vec3 = (0.0, 0.0, 1.0)
    anterior_axis_ras: Vec3 = (0.0, 1.0, 0.0)
    breaks: tuple[CorticalBreak | BreakMask, ...] = ()
    level: str = "L1"
    profile: EndplateProfile | None = None
    normal_heights_mm: tuple[float, float, float] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shape = np.asarray(self.body).shape
        if len(shape) != 3:
            raise InvalidParameterError(f"body mask must be 3-D, got shape {shape}")
        for name in ("hu", "cortical", "cleft"):
            a = np.asarray(getattr(self, name))
            if a.shape != shape:
                raise InvalidParameterError(
                    f"BodyGeometry.{name}: shape {a.shape} differs from the body mask's {shape}"
                )
        for b in self.breaks:
            if isinstance(b, BreakMask) and np.asarray(b.mask).shape != shape:
                raise InvalidParameterError(
                    f"break mask ({b.location}) shape {np.asarray(b.mask).shape} differs from "
                    f"the body mask's {shape}"
                )
        object.__setattr__(self, "body", np.asarray(self.body, bool))
        object.__setattr__(self, "cortical", np.asarray(self.cortical, bool) & self.body)
        object.__setattr__(self, "cleft", np.asarray(self.cleft, bool) & self.body)
        object.__setattr__(self, "hu", np.asarray(self.hu, np.float32))
        a = np.asarray(self.affine, float)
        if a.shape != (4, 4) or abs(np.linalg.det(a[:3, :3])) < 1e-9:
            raise InvalidParameterError("BodyGeometry.affine must be an invertible 4x4 matrix")
        object.__setattr__(self, "affine", a)
        for name in ("superior_axis_ras", "anterior_axis_ras"):
            v = np.asarray(getattr(self, name), float)
            n = float(np.linalg.norm(v))
            if v.shape != (3,) or n < 1e-9:
                raise InvalidParameterError(f"BodyGeometry.{name} must be a non-zero 3-vector")
            object.__setattr__(self, name, tuple(float(x) for x in v / n))
        if int(self.body.sum()) < 27:
            raise NotMeasurableError(
                f"vertebral body of {self.level} has only {int(self.body.sum())} voxels"
            )

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        s = np.linalg.norm(self.affine[:3, :3], axis=0)
        return (float(s[0]), float(s[1]), float(s[2]))


def resample_geometry(geom: BodyGeometry, *, spacing_mm: float = 1.0, margin_vox: int = 3) -> (
    BodyGeometry
):
    """Resample a geometry onto an axis-aligned RAS grid of ``spacing_mm`` around the body.

    HU are interpolated trilinearly; masks are interpolated and thresholded at 0.5.  Break masks
    are carried over the same way; spherical :class:`CorticalBreak` s need no resampling.
    """
    if not 0.2 <= spacing_mm <= 3.0:
        raise InvalidParameterError(f"working grid spacing must be 0.2-3 mm, got {spacing_mm}")
    ijk = np.argwhere(geom.body)
    corners = np.array(
        [[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], float
    ) * (ijk.max(0) - ijk.min(0) + 1) + ijk.min(0) - 0.5
    ras = corners @ geom.affine[:3, :3].T + geom.affine[:3, 3]
    lo = ras.min(0) - margin_vox * spacing_mm
    hi = ras.max(0) + margin_vox * spacing_mm
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing_mm).astype(int) + 1)
    new_aff = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    new_aff[:3, 3] = lo
    # map new voxel -> old voxel: old_ijk = inv(A_old) @ A_new @ new_ijk
    m = np.linalg.inv(geom.affine) @ new_aff

    def sample(a: NDArray, order: int, cval: float) -> NDArray:
        return ndimage.affine_transform(
            np.asarray(a, np.float32), m[:3, :3], offset=m[:3, 3], output_shape=shape,
            order=order, mode="constant", cval=cval,
        )

    body = sample(geom.body, 1, 0.0) >= 0.5
    cortical = sample(geom.cortical, 1, 0.0) >= 0.5
    cleft = sample(geom.cleft, 1, 0.0) >= 0.5
    hu = sample(geom.hu, 1, float(np.min(geom.hu)))
    breaks: list[CorticalBreak | BreakMask] = []
    for b in geom.breaks:
        if isinstance(b, BreakMask):
            breaks.append(BreakMask(b.location, sample(b.mask, 1, 0.0) >= 0.5))
        else:
            breaks.append(b)
    return replace(
        geom, hu=hu, body=body, cortical=cortical, cleft=cleft, affine=new_aff,
        breaks=tuple(breaks),
    )


# --------------------------------------------------------------------------------------------
# Exits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Opening:
    """An exit: open wall voxels through which cement can leave the body.

    Parameters
    ----------
    name : str
        Unique name (``"posterior_wall"``, ``"basivertebral_foramen"``...).
    kind : str
        Exit class: disc, canal, paravertebral, basivertebral or segmental.
    mask : bool ndarray
        The open wall voxels on the model grid.
    centre_ras_mm : 3-vector
        Centre of the opening.
    natural : bool
        True for the vascular foramina present in every body, False for fracture breaks.
    back_pressure_pa : float
        Pressure on the far side of the exit (Pa, gauge): cement leaves only while its pressure
        at the exit exceeds it.  Default :func:`exit_back_pressure_pa` of ``kind``.
    """

    name: str
    kind: ExitKind
    mask: NDArray[np.bool_]
    centre_ras_mm: Vec3
    natural: bool = False
    back_pressure_pa: float | None = None

    def __post_init__(self) -> None:
        if self.back_pressure_pa is None:
            object.__setattr__(self, "back_pressure_pa", exit_back_pressure_pa(self.kind))

    @property
    def yeom_type(self) -> str:
        return yeom_type(self.kind)


#: Pressure in the nucleus pulposus of a non-degenerated lumbar disc with the subject lying
#: prone, 0.1 MPa (Wilke HJ et al., Spine 1999;24(8):755-62, in vivo L4-L5): the patient lies
#: prone during vertebroplasty and kyphoplasty, so cement must exceed it to enter the disc
#: through a broken endplate.  A degenerated disc holds less (not modelled).
DISC_PRONE_PRESSURE_PA = 1.0e5
#: Exits into the canal (epidural space), the paravertebral tissue and the veins: gauge pressure
#: 0 (model assumption: venous and tissue pressures of a few kPa are neglected).
_ZERO_BACK_PRESSURE_KINDS = ("canal", "paravertebral", "basivertebral", "segmental")


def exit_back_pressure_pa(kind: str) -> float:
    """Pressure (Pa, gauge) behind an exit of class ``kind``: the disc's prone pressure for a
    broken endplate, 0 elsewhere."""
    return DISC_PRONE_PRESSURE_PA if kind == "disc" else 0.0


#: Natural venous exits (model choices: sizes and sites of vascular foramina were NOT FOUND):
#: the basivertebral foramen at the centre of the posterior wall, radius 2 mm; a segmental
#: (nutrient) vein on each anterolateral wall at mid-height, radius 1 mm.
BASIVERTEBRAL_RADIUS_MM = 2.0
SEGMENTAL_RADIUS_MM = 1.0


# --------------------------------------------------------------------------------------------
# The bone model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoneModel:
    """A vertebral body as a porous medium on an axis-aligned RAS working grid.

    All arrays share ``shape``; ``fluid`` voxels hold marrow (or the cleft/cavity contents) and
    can take cement; ``wall`` voxels are intact cortex.  Permeabilities are in mm^2 so that
    Darcy fluxes come out in mm^3/s with pressures in Pa and viscosities in Pa*s.
    """

    affine: NDArray[np.float64]
    body: NDArray[np.bool_]
    fluid: NDArray[np.bool_]
    wall: NDArray[np.bool_]
    cleft: NDArray[np.bool_]
    cavity: NDArray[np.bool_]
    bmd_mg_cc: NDArray[np.float32]
    porosity: NDArray[np.float32]
    k_axial_mm2: NDArray[np.float64]
    k_transverse_mm2: NDArray[np.float64]
    openings: tuple[Opening, ...]
    endplate_superior: NDArray[np.bool_]
    endplate_inferior: NDArray[np.bool_]
    superior_axis_ras: Vec3
    anterior_axis_ras: Vec3
    centroid_ras_mm: Vec3
    profile: EndplateProfile
    level: str = "L1"
    normal_heights_mm: tuple[float, float, float] | None = None
    depth_mm: float = 0.0
    width_mm: float = 0.0
    calibration: DensityCalibration = field(default_factory=lambda: DEFAULT_CALIBRATION)
    k_factor: NDArray[np.float64] | float = 1.0  # unresolved heterogeneity multiplier
    transverse_ratio: float = BAROUD_TRANSVERSE_RATIO
    extra_capacity_mm3: float = 0.0  # cavity capacity added by endplate lift (balloon)
    notes: tuple[str, ...] = ()  # provenance and assumptions (real CT)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.body.shape)  # type: ignore[return-value]

    @property
    def heights_mm(self) -> tuple[float, float, float]:
        """(Ha, Hm, Hp) now, mm (six-point morphometry, :attr:`profile`)."""
        return self.profile.heights_mm

    @property
    def spacing_mm(self) -> float:
        return float(self.affine[0, 0])

    @property
    def voxel_volume_mm3(self) -> float:
        return self.spacing_mm**3

    def ijk_to_ras(self, ijk: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(ijk, float) @ self.affine[:3, :3].T + self.affine[:3, 3]

    def ras_to_ijk(self, ras_mm: ArrayLike) -> NDArray[np.float64]:
        inv = np.linalg.inv(self.affine)
        return np.asarray(ras_mm, float) @ inv[:3, :3].T + inv[:3, 3]

    @property
    def body_volume_ml(self) -> float:
        """Volume of the whole body (cortex included), mL."""
        return float(self.body.sum()) * self.voxel_volume_mm3 / 1000.0

    def capacity_mm3(self) -> NDArray[np.float64]:
        """Volume each voxel can take (pore volume; cavity and cleft are fully open), mm^3."""
        cap = np.where(self.fluid, self.porosity.astype(float), 0.0) * self.voxel_volume_mm3
        if self.extra_capacity_mm3 > 0 and self.cavity.any():
            cav = self.cavity & self.fluid
            cap[cav] += self.extra_capacity_mm3 / float(cav.sum())
        return cap

    @property
    def pore_volume_ml(self) -> float:
        return float(self.capacity_mm3().sum()) / 1000.0

    def yield_stress_mpa(self) -> NDArray[np.float64]:
        """Compressive yield stress per voxel (0 in cleft and cavity)."""
        s = yield_stress_mpa(self.bmd_mg_cc)
        s[self.cleft | self.cavity] = 0.0
        return s

    def lateral_coordinate_mm(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """Signed distance (mm) to the mid-sagittal plane, positive to the patient's right."""
        ras = self.ijk_to_ras(ijk)
        s = np.asarray(self.superior_axis_ras)
        a = np.asarray(self.anterior_axis_ras)
        r = np.cross(a, s)  # anterior x superior = right in RAS
        r /= np.linalg.norm(r)
        return (ras - np.asarray(self.centroid_ras_mm)) @ r

    def snap_to_fluid(
        self, p_ras_mm: ArrayLike, *, max_mm: float | None = None
    ) -> NDArray[np.float64] | None:
        """``p`` itself when its voxel holds fluid (cancellous bone, cleft or cavity), else the
        centre of the nearest fluid voxel; ``None`` when that lies farther than ``max_mm``.

        kypho's one rule for putting a point (a trocar tip, a planned target, a balloon centre)
        into the cancellous bone of the working grid.
        """
        p = np.asarray(p_ras_mm, float)
        ijk = np.rint(self.ras_to_ijk(p)).astype(int)
        if np.all(ijk >= 0) and np.all(ijk < np.array(self.shape)) and self.fluid[tuple(ijk)]:
            return p
        idx = np.argwhere(self.fluid)
        if len(idx) == 0:
            return None
        ras = self.ijk_to_ras(idx)
        d = np.linalg.norm(ras - p, axis=1)
        k = int(np.argmin(d))
        return ras[k] if max_mm is None or d[k] <= max_mm else None

    def nearest_fluid_voxel(self, p_ras_mm: ArrayLike, *, what: str = "point") -> tuple[int, ...]:
        """Index of the fluid voxel containing ``p_ras_mm`` (or within 1.5 voxels of it).

        Raises
        ------
        InvalidParameterError
            If the point lies outside the body's cancellous space.
        """
        p = np.asarray(p_ras_mm, float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise InvalidParameterError(f"{what}: expected a finite RAS point, got {p_ras_mm!r}")
        q = self.snap_to_fluid(p, max_mm=1.5 * self.spacing_mm)
        if q is None:
            raise InvalidParameterError(
                f"{what} at RAS ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm lies outside the "
                f"cancellous bone of {self.level}"
            )
        return tuple(int(x) for x in np.rint(self.ras_to_ijk(q)))

    def with_cavity(
        self,
        cavity: NDArray[np.bool_],
        bmd_mg_cc: NDArray[np.float32],
        *,
        extra_capacity_mm3: float = 0.0,
        profile: EndplateProfile | None = None,
        plugged: NDArray[np.bool_] | None = None,
    ) -> BoneModel:
        """A copy with a balloon cavity (open space) and a new (densified) bone density map.

        Porosity and permeability are recomputed from the new density with the same laws and
        the same unresolved heterogeneity factor.  ``plugged`` opening voxels (tamped shut by
        the balloon) become wall.
        """
        cavity = cavity & self.fluid
        bmd = np.where(cavity, 0.0, bmd_mg_cc).astype(np.float32)
        phi = porosity_from_bmd(bmd).astype(np.float32)
        k_ax, k_tr = permeability_m2(phi, transverse_ratio=self.transverse_ratio)
        k_ax = k_ax * self.k_factor
        k_tr = k_tr * self.k_factor
        open_ = self.cleft | cavity
        phi[open_] = 1.0
        k_ax[open_] = K_OPEN_M2
        k_tr[open_] = K_OPEN_M2
        openings = self.openings
        wall = self.wall
        if plugged is not None and plugged.any():
            openings = tuple(
                replace(op, mask=op.mask & ~plugged) for op in self.openings
                if (op.mask & ~plugged).any()
            )
            wall = wall | (plugged & self.body & ~self.fluid)
        return replace(
            self,
            openings=openings,
            wall=wall,
            cavity=cavity,
            bmd_mg_cc=bmd,
            porosity=phi,
            k_axial_mm2=k_ax * 1e6,
            k_transverse_mm2=k_tr * 1e6,
            extra_capacity_mm3=float(extra_capacity_mm3),
            profile=profile if profile is not None else self.profile,
        )


def _outward_normals(body: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Unit outward normals (voxel axes == RAS axes) from a smoothed body mask."""
    sm = ndimage.gaussian_filter(body.astype(np.float32), 1.5)
    g = np.stack(np.gradient(sm), axis=-1)
    n = -g
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return n / np.maximum(norm, 1e-9)


def _sphere_mask(model_shape: tuple[int, ...], affine: NDArray, centre: ArrayLike, r_mm: float
                 ) -> NDArray[np.bool_]:
    idx = np.indices(model_shape).reshape(3, -1).T
    ras = idx @ affine[:3, :3].T + affine[:3, 3]
    d = np.linalg.norm(ras - np.asarray(centre, float), axis=1)
    return (d <= r_mm).reshape(model_shape)


def build_bone_model(
    geom: BodyGeometry,
    *,
    calibration: DensityCalibration = DEFAULT_CALIBRATION,
    spacing_mm: float = 1.0,
    heterogeneity_sigma: float = 0.3,
    correlation_length_mm: float = 2.0,
    transverse_ratio: float = BAROUD_TRANSVERSE_RATIO,
    venous_exits: bool = True,
    seed: int = 0,
    resample: bool = True,
) -> BoneModel:
    """Build the porous model of one body on a working grid.

    Parameters
    ----------
    geom : BodyGeometry
        Masks and CT.
    calibration : DensityCalibration
        HU -> density map.
    spacing_mm : float
        Working grid spacing (ignored when ``resample`` is False and the grid is already
        axis-aligned and isotropic).
    heterogeneity_sigma : float
        Standard deviation of ln k of an unresolved, spatially correlated permeability
        variation (model choice; Nauman 1999's r^2 of 0.34-0.80 of k against volume fraction
        leaves such scatter).  0 for verification cases.
    correlation_length_mm : float
        Smoothing length of that variation.
    transverse_ratio : float
        Transverse / axial permeability (Baroud 0.78; Nauman 1/2.05).
    venous_exits : bool
        Add the natural basivertebral and segmental venous exits.
    seed : int
        Seed of the heterogeneity field.

    Raises
    ------
    InvalidParameterError
        For out-of-range options.
    NotMeasurableError
        If the body has no cancellous space at this grid.
    """
    if heterogeneity_sigma < 0 or correlation_length_mm <= 0:
        raise InvalidParameterError("heterogeneity_sigma must be >= 0, correlation length > 0")
    if not 0.05 <= transverse_ratio <= 20:
        raise InvalidParameterError(f"transverse_ratio out of range: {transverse_ratio}")
    source = geom
    aff = geom.affine
    axis_aligned = np.allclose(aff[:3, :3], np.diag(np.diag(aff[:3, :3]))) and np.all(
        np.diag(aff[:3, :3]) > 0
    )
    iso = np.allclose(geom.spacing_mm, geom.spacing_mm[0], rtol=1e-6)
    if resample and not (axis_aligned and iso and abs(geom.spacing_mm[0] - spacing_mm) < 1e-6):
        geom = resample_geometry(geom, spacing_mm=spacing_mm)
    elif not (axis_aligned and iso):
        raise InvalidParameterError("geometry must be on an axis-aligned isotropic RAS grid")
    shape = geom.body.shape
    aff = geom.affine
    vox = float(aff[0, 0])

    body = geom.body
    # a watertight 1-voxel shell: every body voxel with a 6-neighbour outside is wall
    interior = ndimage.binary_erosion(body, structure=ndimage.generate_binary_structure(3, 1))
    cleft = geom.cleft & interior
    fluid_all = interior & (~geom.cortical | cleft)
    if fluid_all.sum() < 8:
        raise NotMeasurableError(
            f"{geom.level}: no cancellous space left at {vox:g} mm voxels"
        )
    wall = body & ~fluid_all

    s = np.asarray(geom.superior_axis_ras)
    a = np.asarray(geom.anterior_axis_ras)
    a = a - (a @ s) * s
    a /= np.linalg.norm(a)
    r_ax = np.cross(a, s)
    centroid = (np.argwhere(body).mean(0)) @ aff[:3, :3].T + aff[:3, 3]

    # wall orientation from outward normals
    normals = _outward_normals(body)
    ns = normals @ s
    na = normals @ a
    nr = normals @ r_ax
    endplate_sup = wall & (ns > 0.6)
    endplate_inf = wall & (ns < -0.6)

    idx_body = np.argwhere(body)
    ras_body = idx_body @ aff[:3, :3].T + aff[:3, 3] - centroid
    depth = float(np.ptp(ras_body @ a)) + vox
    width = float(np.ptp(ras_body @ r_ax)) + vox

    openings: list[Opening] = []
    taken = np.zeros(shape, bool)

    def add_opening(name: str, kind: ExitKind, mask: NDArray[np.bool_], centre: ArrayLike,
                    natural: bool) -> None:
        mask = mask & wall & ~taken
        # keep only wall voxels that touch the cancellous space (true openings)
        touch = ndimage.binary_dilation(fluid_all, ndimage.generate_binary_structure(3, 1))
        mask &= touch
        if not mask.any():
            return
        taken[mask] = True
        c = tuple(float(x) for x in np.asarray(centre, float))
        openings.append(Opening(name, kind, mask, c, natural))

    def orient_mask(location: str) -> NDArray[np.bool_]:
        return {
            "superior_endplate": ns > 0.5,
            "inferior_endplate": ns < -0.5,
            "posterior_wall": na < -0.5,
            "anterior_wall": na > 0.5,
            "right_wall": nr > 0.5,
            "left_wall": nr < -0.5,
        }[location]

    counts: dict[str, int] = {}
    for b in geom.breaks:
        loc = b.location
        counts[loc] = counts.get(loc, 0) + 1
        name = loc if counts[loc] == 1 else f"{loc}_{counts[loc]}"
        if isinstance(b, BreakMask):
            m = b.mask
            cen = (np.argwhere(m).mean(0) @ aff[:3, :3].T + aff[:3, 3]) if m.any() else centroid
        else:
            if loc not in BREAK_LOCATIONS:
                raise InvalidParameterError(f"break location {loc!r} unknown")
            cen = np.asarray(b.centre_ras_mm, float)
            r_mm = max(float(b.radius_mm), 0.75 * vox)
            m = _sphere_mask(shape, aff, cen, r_mm + 0.5 * vox) & orient_mask(loc)
            if not (m & wall).any():
                # the sphere missed the shell: open the nearest wall voxels of that side
                cand = np.argwhere(wall & orient_mask(loc))
                if cand.size:
                    d = np.linalg.norm(cand @ aff[:3, :3].T + aff[:3, 3] - cen, axis=1)
                    near = cand[d <= d.min() + vox]
                    m = np.zeros(shape, bool)
                    m[tuple(near.T)] = True
        add_opening(name, BREAK_LOCATIONS[loc], m, cen, False)

    if venous_exits:
        # basivertebral foramen: posterior wall, mid-sagittal, mid-height
        # the foramina are placed on the wall voxels that touch the cancellous space (the inner
        # face of the cortex), so that a thick cortical rim (real CT) does not seal them
        inner = wall & ndimage.binary_dilation(
            fluid_all, ndimage.generate_binary_structure(3, 1))
        post = inner & (na < -0.5)
        if post.any():
            cc = _closest(post, aff, centroid - a * depth / 2.0)
            add_opening(
                "basivertebral_foramen", "basivertebral",
                _sphere_mask(shape, aff, cc, BASIVERTEBRAL_RADIUS_MM + 0.5 * vox) & post,
                cc, True,
            )
        for side, sign in (("right", 1.0), ("left", -1.0)):
            lat = inner & (sign * nr > 0.5)
            if lat.any():
                c = centroid + sign * r_ax * width / 2.0 + a * depth * 0.15
                cc = _closest(lat, aff, c)
                add_opening(
                    f"segmental_vein_{side}", "segmental",
                    _sphere_mask(shape, aff, cc, SEGMENTAL_RADIUS_MM + 0.5 * vox) & lat,
                    cc, True,
                )
    wall_final = wall & ~taken

    # density, porosity, permeability
    bmd = calibration.bmd_mg_cc(geom.hu).astype(np.float32)
    bmd = np.clip(bmd, 0.0, 2000.0)
    phi = porosity_from_bmd(bmd).astype(np.float32)
    phi[cleft] = 1.0
    k_ax, k_tr = permeability_m2(phi, transverse_ratio=transverse_ratio)
    fac: NDArray[np.float64] | float = 1.0
    if heterogeneity_sigma > 0:
        rng = np.random.default_rng(seed)
        noise = ndimage.gaussian_filter(
            rng.standard_normal(shape), correlation_length_mm / vox, mode="wrap"
        )
        sd = float(noise[fluid_all].std()) or 1.0
        fac = np.exp(heterogeneity_sigma * noise / sd)
        k_ax = k_ax * fac
        k_tr = k_tr * fac
    k_ax = np.where(cleft, K_OPEN_M2, k_ax)
    k_tr = np.where(cleft, K_OPEN_M2, k_tr)

    # heights and endplates: measured on the geometry's own grid when not given
    profile = geom.profile if geom.profile is not None else _measure_profile(source)

    return BoneModel(
        affine=aff,
        body=body,
        fluid=fluid_all,
        wall=wall_final,
        cleft=cleft,
        cavity=np.zeros(shape, bool),
        bmd_mg_cc=bmd,
        porosity=phi,
        k_axial_mm2=k_ax * 1e6,
        k_transverse_mm2=k_tr * 1e6,
        openings=tuple(openings),
        endplate_superior=endplate_sup,
        endplate_inferior=endplate_inf,
        superior_axis_ras=tuple(float(x) for x in s),  # type: ignore[arg-type]
        anterior_axis_ras=tuple(float(x) for x in a),  # type: ignore[arg-type]
        centroid_ras_mm=tuple(float(x) for x in centroid),  # type: ignore[arg-type]
        level=geom.level,
        profile=profile,
        normal_heights_mm=geom.normal_heights_mm,
        depth_mm=depth,
        width_mm=width,
        calibration=calibration,
        k_factor=fac,
        transverse_ratio=transverse_ratio,
        notes=tuple(geom.notes),
    )


def _measure_profile(geom: BodyGeometry) -> EndplateProfile:
    """Six-point morphometry of a body given without heights (a synthetic body)."""
    from kypho.anatomy.body import body_only_geometry
    from kypho.anatomy.morphometry import measure_morphometry

    g = body_only_geometry(geom.body, geom.affine, geom.superior_axis_ras,
                           geom.anterior_axis_ras, level=geom.level)
    return measure_morphometry(g).profile


def _closest(mask: NDArray[np.bool_], aff: NDArray, p: ArrayLike) -> NDArray[np.float64]:
    idx = np.argwhere(mask)
    ras = idx @ aff[:3, :3].T + aff[:3, 3]
    return ras[int(np.argmin(np.linalg.norm(ras - np.asarray(p), axis=1)))]


def face_permeability_mm2(model: BoneModel) -> tuple[NDArray[np.float64], ...]:
    """Directional permeability along the three grid axes (mm^2), one array per axis.

    For a transversely isotropic tensor ``K = k_t I + (k_a - k_t) s s^T`` the component along a
    face normal ``e`` is ``k_t + (k_a - k_t) (e . s)^2``.
    """
    s = np.asarray(model.superior_axis_ras)
    out = []
    for axis in range(3):
        c2 = s[axis] ** 2
        out.append(model.k_transverse_mm2 + (model.k_axial_mm2 - model.k_transverse_mm2) * c2)
    return tuple(out)


def distance_to_walls_mm(model: BoneModel) -> NDArray[np.float64]:
    """Euclidean distance (mm) of every voxel to the nearest non-fluid voxel."""
    return ndimage.distance_transform_edt(model.fluid) * model.spacing_mm


__all__ += ["distance_to_walls_mm", "face_permeability_mm2"]
