"""kypho: vertebral compression fractures, kyphoplasty and vertebroplasty, from CT to after-care.

Research and education software, **not a medical device**.  One case flows one way:

>>> import kypho
>>> case = kypho.make_phantom(kypho.PhantomSpec())  # doctest: +SKIP
>>> kypho.save_case(case, "my-case")  # doctest: +SKIP

World coordinates are RAS+ millimetres throughout (see ``docs/coordinate-systems.md``).
Each stage lives in its own subpackage (:mod:`kypho.io`, :mod:`kypho.phantom`, ...); the names
below are the small public API.  ``kypho.assess`` is the function ``assess(case)``; import the
stage's other names with ``from kypho.assess.outputs import ...``.
"""

from importlib.metadata import PackageNotFoundError, version

from kypho.assess import Assessment, assess
from kypho.core import Case, LabelMap, Volume
from kypho.core.levels import LEVEL_IDS, LEVELS, parse_level
from kypho.errors import KyphoError
from kypho.fluoro import CArm, render_drr, view_for_level
from kypho.io import fetch_example, load_case, load_labels, load_volume, save_case, save_image
from kypho.phantom import FractureSpec, PhantomSpec, make_phantom
from kypho.plan import plan_level
from kypho.report import DISCLAIMER
from kypho.sim import simulate_case

try:
    __version__ = version("kypho")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "DISCLAIMER",
    "LEVELS",
    "LEVEL_IDS",
    "Assessment",
    "CArm",
    "Case",
    "FractureSpec",
    "KyphoError",
    "LabelMap",
    "PhantomSpec",
    "Volume",
    "__version__",
    "assess",
    "fetch_example",
    "load_case",
    "load_labels",
    "load_volume",
    "make_phantom",
    "parse_level",
    "plan_level",
    "render_drr",
    "save_case",
    "save_image",
    "simulate_case",
    "view_for_level",
]
