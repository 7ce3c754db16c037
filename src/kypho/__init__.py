"""kypho: vertebral compression fractures, kyphoplasty and vertebroplasty, from CT to after-care.

Research and education software, **not a medical device**.  One case flows one way:

>>> import kypho
>>> case = kypho.make_phantom(kypho.PhantomSpec())        # doctest: +SKIP
>>> spine = kypho.SpineAnatomy.of(case)                    # measured once, shared by stages
>>> assessment = kypho.assess_case(case)                   # doctest: +SKIP
>>> plan = kypho.plan_level(case, "L1")                    # doctest: +SKIP
>>> sim = kypho.simulate_case(case, "L1", plan=plan, assessment=assessment)  # doctest: +SKIP

World coordinates are RAS+ millimetres throughout (see ``docs/coordinate-systems.md``).  Each
stage lives in its own subpackage (:mod:`kypho.io`, :mod:`kypho.phantom`, :mod:`kypho.anatomy`,
:mod:`kypho.assess`, :mod:`kypho.fluoro`, :mod:`kypho.plan`, :mod:`kypho.sim`,
:mod:`kypho.aftercare`); the names below are the small public API.  Stages are attached lazily
(scikit-image's ``lazy_loader`` pattern): ``import kypho`` loads none of them, and a name loads
its stage on first use.  ``kypho.assess`` is the subpackage; its entry point is
:func:`kypho.assess_case`.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["aftercare", "anatomy", "assess", "core", "fluoro", "io", "phantom", "plan",
                "report", "sim"],
    submod_attrs={
        "_version": ["__version__"],
        "anatomy": ["SpineAnatomy", "VertebraAnatomy", "VertebraFrame"],
        "assess": ["Assessment", "assess_case"],
        "core": ["LEVELS", "LEVEL_IDS", "Case", "LabelMap", "Volume", "parse_level"],
        "errors": ["KyphoError"],
        "fluoro": ["CArm", "FluoroSpec", "Frame", "render_drr", "view_for_level"],
        "io": ["fetch_example", "load_case", "load_labels", "load_volume", "save_case",
               "save_image"],
        "phantom": ["FractureSpec", "PhantomSpec", "make_phantom"],
        "plan": ["LevelPlan", "PlanSpec", "plan_level"],
        "report": ["DISCLAIMER"],
        "sim": ["CaseSimulation", "SimulationSpec", "simulate_case"],
    },
)
