"""``kypho fluoro``: simulated C-arm frames of a case, with the vertebrae outlined and the dose."""

from __future__ import annotations

from pathlib import Path

import typer

from kypho.cli.app import DISCLAIMER, app, err_console, handle_errors, out_console
from kypho.cli.options import (
    CaseArg,
    ForceOpt,
    JsonOpt,
    LabelsOpt,
    LabelsSchemeOpt,
    LevelsOpt,
    levels_of,
    load,
    out_option,
    print_envelope,
)

__all__ = ["fluoro"]


@app.command()
@handle_errors
def fluoro(
    case: CaseArg,
    out: Path = out_option("fluoro_<view>_<level>.png and .json", Path("fluoro-out")),
    level: LevelsOpt = None,
    view: str = typer.Option(
        "ap", "--view",
        help="ap, pa, lateral (= lateral-left), lateral-right, oblique-left or oblique-right.",
    ),
    size: int = typer.Option(256, "--size", help="Frame size in pixels (square), e.g. 256 or 512."),
    bone: str = typer.Option("dark", "--bone", help="Monitor mapping: bone 'dark' or 'bright'."),
    energy: float = typer.Option(55.0, "--energy", help="Effective beam energy (keV), 40-100."),
    primary: float | None = typer.Option(
        None, "--primary", help="Override the DICOM primary angle (LAO +, degrees)."
    ),
    secondary: float | None = typer.Option(
        None, "--secondary", help="Override the DICOM secondary angle (CRAN +, degrees)."
    ),
    outlines: bool = typer.Option(True, "--outlines/--no-outlines",
                                  help="Outline the labelled vertebrae on the picture."),
    npy: bool = typer.Option(False, "--npy", help="Also write the line integrals (.npy)."),
    dicom: bool = typer.Option(False, "--dicom", help="Also write a DICOM XA file (.dcm)."),
    labels: LabelsOpt = None,
    labels_scheme: LabelsSchemeOpt = "auto",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Render simulated fluoroscopy frames (digitally reconstructed radiographs) of a case:
    one per ``--level`` (centred on the vertebra, aligned with its axes), or of the CT's centre."""
    from kypho.core.outputs import output_folder
    from kypho.fluoro.outputs import (
        FLUORO_FORMAT_VERSION,
        fluoro_to_dict,
        output_names,
        render_view,
        write_outputs,
    )
    from kypho.fluoro.spec import FluoroSpec

    spec = FluoroSpec(view=view, size=size, energy_kev=energy, bone=bone,  # type: ignore[arg-type]
                      primary_deg=primary, secondary_deg=secondary, outlines=outlines)
    levels = levels_of(level) or (None,)
    output_folder(out, output_names(view, levels), force=force)
    c = load(case, labels, labels_scheme)
    docs = []
    for lv in levels:
        view_ = render_view(c, spec, level=lv)
        paths = write_outputs(c, view_, out, npy=npy, dicom=dicom)
        docs.append(fluoro_to_dict(view_))
        if not as_json:
            where = f" of {view_.level}" if view_.level else ""
            d = view_.dose
            out_console.print(
                f"{view}{where}: {view_.frame.carm.describe()}, {size}x{size} px, "
                f"{view_.frame.method}; dose {d.reference_air_kerma_mgy:.3f} mGy, DAP "
                f"{d.dap_gy_cm2:.4f} Gy cm2; wrote {', '.join(p.name for p in paths.values())}",
                highlight=False, markup=False)
    if as_json:
        print_envelope("fluoro", FLUORO_FORMAT_VERSION, {"case": c.name, "frames": docs})
    err_console.print(f"[dim]{DISCLAIMER}[/]")
