"""``kypho anatomy``: each vertebra as measured from the CT and labels (frame, heights, pedicles)."""

from __future__ import annotations

from pathlib import Path

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console, progress_bar
from kypho.cli.options import (
    CaseArg,
    ForceOpt,
    JsonOpt,
    LabelsOpt,
    LabelsSchemeOpt,
    LevelsOpt,
    ProgressOpt,
    levels_of,
    load,
    out_option,
    print_envelope,
    report_written,
)

__all__ = ["anatomy_command"]


@app.command("anatomy")
@handle_errors
def anatomy_command(
    case: CaseArg,
    level: LevelsOpt = None,
    out: Path = out_option("anatomy.json and anatomy_<level>.png", Path("anatomy-out")),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Measure each vertebra once: its frame, body, six-point heights, trabecular density,
    canal and pedicles; write them as JSON and a picture per level (default: every level)."""
    from kypho.anatomy import SpineAnatomy
    from kypho.anatomy.outputs import (
        ANATOMY_FORMAT_VERSION,
        anatomy_to_dict,
        output_names,
        write_outputs,
    )
    from kypho.core.outputs import output_folder

    c = load(case, labels, labels_scheme)
    spine = SpineAnatomy.of(c)
    levels = levels_of(level) or spine.levels
    for lv in levels:
        spine.vertebra(lv)  # an unlabelled level is refused before anything is written
    output_folder(out, output_names(levels), force=force)
    with progress_bar("anatomy", enabled=progress) as update:
        for i, lv in enumerate(levels):
            update(i / len(levels), f"measuring {lv}")
            v = spine.vertebra(lv)
            if v.measured:
                _ = v.trabecular
        update(0.95, "drawing")
        paths = write_outputs(spine, out, levels)
    if as_json:
        print_envelope("anatomy", ANATOMY_FORMAT_VERSION, anatomy_to_dict(spine, levels))
    else:
        for lv in levels:
            v = spine.vertebra(lv)
            if not v.measured:
                out_console.print(f"{lv}: {v.status}", highlight=False, markup=False)
                continue
            ha, hm, hp = v.heights_mm
            out_console.print(
                f"{lv}: Ha {ha:.1f}, Hm {hm:.1f}, Hp {hp:.1f} mm, wedge "
                f"{v.morphometry.wedge_angle_deg:.1f} deg, trabecular "
                f"{v.trabecular.mean_hu or float('nan'):.0f} HU",
                highlight=False, markup=False)
        report_written(paths.values())
    err_console.print(f"[dim]{DISCLAIMER}[/]")
