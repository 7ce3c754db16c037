"""A procedure under fluoroscopy: the same views rendered at successive moments.

The insertion rehearsal (:mod:`kypho.plan.rehearse`: the trocar advancing) and the simulated
procedure (:mod:`kypho.sim.frames`: trocars, balloons, cement) both show AP and lateral frames
moment after moment.  :func:`render_sequence` renders them alike: one display window per view,
taken from the CT alone before any instrument is in (not counted as an exposure), so steel and
cement neither re-window nor wash out the later frames; line integrals are clipped just above
the bone window before edge enhancement, so an instrument's unsharp-mask halo stays narrow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from kypho.fluoro.carm import CArm
from kypho.fluoro.display import display_window, to_display
from kypho.fluoro.dose import DoseSession
from kypho.fluoro.render import AttenuationVolume, render_drr

__all__ = ["INSTRUMENT_HEADROOM", "render_sequence"]

#: Line integrals are clipped this fraction of the window's width above its top before
#: display (model choice: instruments show as saturated, without a halo).
INSTRUMENT_HEADROOM = 0.25


def render_sequence(
    volume: AttenuationVolume,
    carms: Sequence[CArm],
    moments: Sequence[Sequence[object]],
    *,
    dose: DoseSession | None = None,
    edge_enhance: float = 1.5,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[tuple[NDArray[np.uint8], ...], ...]:
    """8-bit monitor pictures of each view in ``carms`` at each moment.

    Parameters
    ----------
    volume : AttenuationVolume
        The CT prepared once (:func:`~kypho.fluoro.render.prepare_volume`).
    carms : sequence of CArm
        The views (e.g. true AP and true lateral of the treated level).
    moments : sequence of instrument lists
        What is in the patient at each moment (trocars, balloons, cement).
    dose : DoseSession, optional
        Every rendered frame is counted in it.
    edge_enhance : float
        Unsharp-mask amount of :func:`~kypho.fluoro.display.to_display` (0: none).
    progress : callable, optional
        ``progress(fraction, message)`` after each moment.

    Returns
    -------
    tuple
        ``pictures[moment][view]``.
    """
    windows = [display_window(render_drr(volume, c, check=False).line_integral) for c in carms]
    out = []
    for n, instruments in enumerate(moments):
        pics = []
        for carm, (lo, hi) in zip(carms, windows, strict=True):
            f = render_drr(volume, carm, instruments=list(instruments), dose=dose, check=False)
            clipped = np.minimum(f.line_integral, hi + INSTRUMENT_HEADROOM * (hi - lo))
            pics.append(to_display(clipped, window=(lo, hi), edge_enhance=edge_enhance))
        out.append(tuple(pics))
        if progress is not None:
            progress((n + 1) / len(moments), f"frame {n + 1}/{len(moments)}")
    return tuple(out)
