"""What to build: :class:`PhantomSpec` and its fractures (:class:`FractureSpec`), checked on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from kypho.core.breaks import BREAK_LOCATIONS
from kypho.core.levels import level_range, parse_level
from kypho.errors import InvalidParameterError
from kypho.phantom.anatomy import level_anatomy

__all__ = [
    "BREAK_LOCATIONS",
    "GENANT_BANDS_PCT",
    "FractureSpec",
    "PhantomSpec",
    "genant_grade",
    "parse_fracture",
]

FractureKind = Literal["wedge", "biconcave", "crush"]
Density = Literal["normal", "osteopenic", "osteoporotic"]


#: Genant semi-quantitative grades as height-loss bands (percent, lower inclusive): grade 1
#: 20-25 %, grade 2 25-40 %, grade 3 > 40 % (Genant 1993 as described by Wang YXJ, QIMS 2019).
#: The upper end of grade 3 is the phantom's largest allowed loss (a model limit).
GENANT_BANDS_PCT: dict[int, tuple[float, float]] = {
    1: (20.0, 25.0),
    2: (25.0, 40.0),
    3: (40.0, 80.0),
}
#: Height loss used when only a grade is given: the middle of the band (grade 3: 50 %, the
#: middle of 40-60 %, a model choice since the band has no published upper end).
_GRADE_DEFAULT_PCT = {1: 22.5, 2: 32.5, 3: 50.0}
#: Largest height loss the phantom builds (percent).  **Model limit**: beyond it the body is a
#: wafer thinner than a few voxels.
MAX_HEIGHT_LOSS_PCT = 80.0


def genant_grade(height_loss_pct: float) -> int:
    """Genant grade (0-3) of a height loss in percent (< 20 % is grade 0)."""
    if height_loss_pct < 20.0:
        return 0
    if height_loss_pct < 25.0:
        return 1
    if height_loss_pct <= 40.0:
        return 2
    return 3


@dataclass(frozen=True)
class FractureSpec:
    """One osteoporotic compression fracture to build into the phantom.

    Parameters
    ----------
    level : str
        Vertebral level, e.g. ``"L1"`` (case-insensitive).
    type : {'wedge', 'biconcave', 'crush'}
        Wedge: anterior height lost; biconcave: middle height lost most; crush: all heights.
    grade : int, optional
        Genant grade 1-3; the height loss is then the middle of the grade's band
        (22.5, 32.5 or 50 %) unless ``height_loss_pct`` is given too (it must lie in the band).
    height_loss_pct : float, optional
        Loss of the most affected height (Ha, Hm or Hp), percent, 0 < loss <= 80.
    retropulsion_mm : float
        How far a posterior-wall fragment protrudes into the canal (0 = none).
    cortical_breaks : tuple of str
        Extra cortical breaks (values of :data:`BREAK_LOCATIONS`).  The fractured endplate(s)
        and, with retropulsion, the posterior wall are broken in any case.
    cleft : bool, optional
        Draw a gas cleft in the body; ``None`` draws one for height losses above 40 %.
    """

    level: str
    type: FractureKind = "wedge"
    grade: int | None = None
    height_loss_pct: float | None = None
    retropulsion_mm: float = 0.0
    cortical_breaks: tuple[str, ...] = ()
    cleft: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", parse_level(self.level))
        if self.type not in get_args(FractureKind):
            raise InvalidParameterError(
                f"fracture at {self.level}: type must be wedge, biconcave or crush, got {self.type!r}"
            )
        if self.grade is None and self.height_loss_pct is None:
            raise InvalidParameterError(
                f"fracture at {self.level}: give a Genant grade (1-3) or a height loss in percent"
            )
        if self.grade is not None and (
            isinstance(self.grade, bool)
            or int(self.grade) != self.grade
            or self.grade not in (1, 2, 3)
        ):
            raise InvalidParameterError(
                f"fracture at {self.level}: Genant grade must be 1, 2 or 3, got {self.grade!r}"
            )
        if self.height_loss_pct is not None:
            pct = float(self.height_loss_pct)
            if not (0.0 < pct <= MAX_HEIGHT_LOSS_PCT):
                raise InvalidParameterError(
                    f"fracture at {self.level}: height loss must be above 0 and at most "
                    f"{MAX_HEIGHT_LOSS_PCT:.0f} %, got {self.height_loss_pct!r} %"
                )
            if self.grade is not None:
                lo, hi = GENANT_BANDS_PCT[self.grade]
                if genant_grade(pct) != self.grade:
                    raise InvalidParameterError(
                        f"fracture at {self.level}: a height loss of {pct:g} % is not Genant grade "
                        f"{self.grade} ({lo:g}-{hi:g} %)"
                    )
        if not (float(self.retropulsion_mm) >= 0.0):
            raise InvalidParameterError(
                f"fracture at {self.level}: retropulsion must be >= 0 mm, got {self.retropulsion_mm!r}"
            )
        breaks = tuple(self.cortical_breaks)
        bad = [b for b in breaks if b not in BREAK_LOCATIONS]
        if bad:
            raise InvalidParameterError(
                f"fracture at {self.level}: unknown cortical break {bad[0]!r}; choose from "
                + ", ".join(BREAK_LOCATIONS)
            )
        object.__setattr__(self, "cortical_breaks", tuple(dict.fromkeys(breaks)))

    @property
    def loss_pct(self) -> float:
        """The height loss that will be built, percent."""
        if self.height_loss_pct is not None:
            return float(self.height_loss_pct)
        return _GRADE_DEFAULT_PCT[int(self.grade)]  # type: ignore[arg-type]

    @property
    def has_cleft(self) -> bool:
        """Whether a cleft is drawn (explicit, or automatic above 40 % loss)."""
        return self.loss_pct > 40.0 if self.cleft is None else bool(self.cleft)

    @property
    def breaks(self) -> tuple[str, ...]:
        """All cortical breaks: the fractured endplates, the posterior wall with retropulsion,
        and the requested ones."""
        implied = ["superior_endplate"]
        if self.type in ("biconcave", "crush"):
            implied.append("inferior_endplate")
        if self.retropulsion_mm > 0:
            implied.append("posterior_wall")
        return tuple(dict.fromkeys([*implied, *self.cortical_breaks]))


@dataclass(frozen=True)
class PhantomSpec:
    """Everything that decides a phantom (same spec and seed give identical arrays).

    Parameters
    ----------
    first_level, last_level : str
        Cranial and caudal levels built (the phantom holds tables for T10-L5).
    voxel_mm : float
        Isotropic voxel size, 0.25-5 mm.
    bone_density : {'normal', 'osteopenic', 'osteoporotic'}
        Sets the trabecular HU (178, 143, 118 HU).
    fractures : tuple of FractureSpec
        At most one per level, inside the built levels.
    seed : int
        Seed of the trabecular texture and image noise.
    noise_hu : float
        Standard deviation of the Gaussian image noise (HU).  **Model choice** default 20 HU,
        a typical soft-tissue noise level of clinical CT.
    soft_tissue : bool
        Draw the trunk (skin, fat, muscle, viscera) around the spine; without it the spine lies
        in air in a tight field of view (fast, for tests).
    """

    first_level: str = "T10"
    last_level: str = "L3"
    voxel_mm: float = 0.5
    bone_density: Density = "normal"
    fractures: tuple[FractureSpec, ...] = ()
    seed: int = 0
    noise_hu: float = 20.0
    soft_tissue: bool = True
    margin_mm: float = field(default=12.0)

    def __post_init__(self) -> None:
        first, last = parse_level(self.first_level), parse_level(self.last_level)
        object.__setattr__(self, "first_level", first)
        object.__setattr__(self, "last_level", last)
        for lv in (first, last):
            level_anatomy(lv)
        levels = level_range(first, last)
        try:
            voxel = float(self.voxel_mm)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"voxel size must be a number, got {self.voxel_mm!r}"
            ) from None
        if not (voxel > 0):
            raise InvalidParameterError(f"voxel size must be positive, got {self.voxel_mm!r} mm")
        if not (0.25 <= voxel <= 5.0):
            raise InvalidParameterError(f"voxel size must be 0.25-5 mm, got {voxel:g} mm")
        if self.bone_density not in get_args(Density):
            raise InvalidParameterError(
                f"bone density must be normal, osteopenic or osteoporotic, got {self.bone_density!r}"
            )
        if not (float(self.noise_hu) >= 0):
            raise InvalidParameterError(f"noise must be >= 0 HU, got {self.noise_hu!r}")
        if not (0.0 <= float(self.margin_mm) <= 100.0):
            raise InvalidParameterError(f"margin must be 0-100 mm, got {self.margin_mm!r}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative integer, got {self.seed!r}")
        fx = tuple(self.fractures)
        for f in fx:
            if not isinstance(f, FractureSpec):
                raise InvalidParameterError(f"fractures must be FractureSpec objects, got {f!r}")
            if f.level not in levels:
                raise InvalidParameterError(
                    f"fracture at {f.level} lies outside the built levels {first}-{last}"
                )
            depth = level_anatomy(f.level).canal_depth_mm
            if f.retropulsion_mm > 0.6 * depth:
                raise InvalidParameterError(
                    f"fracture at {f.level}: retropulsion {f.retropulsion_mm:g} mm exceeds 60 % of "
                    f"the canal depth ({depth:g} mm)"
                )
        seen = [f.level for f in fx]
        dup = {lv for lv in seen if seen.count(lv) > 1}
        if dup:
            raise InvalidParameterError(f"more than one fracture at {sorted(dup)[0]}")
        object.__setattr__(self, "fractures", fx)
        object.__setattr__(self, "voxel_mm", voxel)
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def levels(self) -> tuple[str, ...]:
        """Levels built, cranial to caudal."""
        return level_range(self.first_level, self.last_level)

    def fracture_at(self, level: str) -> FractureSpec | None:
        """The fracture at ``level``, if any."""
        return next((f for f in self.fractures if f.level == level), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists)."""
        d = asdict(self)
        d["fractures"] = [
            {**asdict(f), "cortical_breaks": list(f.cortical_breaks)} for f in self.fractures
        ]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhantomSpec:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["fractures"] = tuple(
            FractureSpec(**{**f, "cortical_breaks": tuple(f.get("cortical_breaks", ()))})
            for f in d.get("fractures", ())
        )
        return cls(**d)

    def with_(self, **changes: Any) -> PhantomSpec:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)


def parse_fracture(text: str) -> FractureSpec:
    """Parse ``LEVEL[:TYPE[:GRADE|PCT%]][:key=value...]`` into a :class:`FractureSpec`.

    ``GRADE`` is a Genant grade (``2``); ``PCT%`` a height loss (``35%``).  Options:
    ``retro=MM`` (retropulsion), ``breaks=a+b`` (cortical breaks), ``cleft=yes|no``.

    >>> parse_fracture("L1:wedge:2").grade
    2
    >>> parse_fracture("T12:biconcave:35%").height_loss_pct
    35.0
    """
    parts = [p.strip() for p in str(text).split(":") if p.strip()]
    if not parts:
        raise InvalidParameterError("empty fracture description; expected e.g. L1:wedge:2")
    kwargs: dict[str, Any] = {"level": parts[0]}
    positional = [p for p in parts[1:] if "=" not in p]
    options = [p for p in parts[1:] if "=" in p]
    if len(positional) > 2:
        raise InvalidParameterError(
            f"fracture {text!r}: expected LEVEL:TYPE:GRADE or LEVEL:TYPE:PCT%"
        )
    if positional:
        kwargs["type"] = positional[0].lower()
    if len(positional) == 2:
        sev = positional[1]
        try:
            if sev.endswith("%"):
                kwargs["height_loss_pct"] = float(sev[:-1])
            else:
                kwargs["grade"] = int(sev)
        except ValueError:
            raise InvalidParameterError(
                f"fracture {text!r}: severity must be a Genant grade (1-3) or a percentage like 35%"
            ) from None
    else:
        kwargs["grade"] = 2
    for opt in options:
        key, _, value = opt.partition("=")
        key = key.strip().lower()
        try:
            if key in ("retro", "retropulsion", "retropulsion_mm"):
                kwargs["retropulsion_mm"] = float(value)
            elif key in ("breaks", "cortical_breaks"):
                kwargs["cortical_breaks"] = tuple(b for b in value.split("+") if b)
            elif key == "cleft":
                kwargs["cleft"] = value.strip().lower() in ("1", "yes", "true", "y")
            else:
                raise InvalidParameterError(
                    f"fracture {text!r}: unknown option {key!r} (retro, breaks, cleft)"
                )
        except ValueError:
            raise InvalidParameterError(f"fracture {text!r}: bad value in {opt!r}") from None
    return FractureSpec(**kwargs)
