"""The files an after-care plan is handed out as, written by ``kypho aftercare plan`` and the demo.

* ``handout.pdf``: the patient's handout, in plain words;
* ``aftercare.ics``: the plan's milestones for a calendar (iCalendar);
* ``careplan.fhir.json``: a FHIR R4 CarePlan;
* ``plan.json``: the rules, phases and follow-ups in kypho's envelope
  (``"format": "kypho.aftercare/1"``);
* ``timeline.png``: the plan on a timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kypho.aftercare.engine import AftercarePlan
from kypho.core.atomic import write_files_atomic
from kypho.core.outputs import dumps, envelope, figure_png

__all__ = [
    "AFTERCARE_FILES",
    "AFTERCARE_FORMAT_VERSION",
    "plan_to_dict",
    "render_outputs",
    "write_outputs",
]

#: Layout version of ``plan.json`` (``"format": "kypho.aftercare/1"``).
AFTERCARE_FORMAT_VERSION = 1
#: The files :func:`write_outputs` writes.
AFTERCARE_FILES = ("handout.pdf", "aftercare.ics", "careplan.fhir.json", "plan.json",
                   "timeline.png")


def plan_to_dict(plan: AftercarePlan) -> dict[str, Any]:
    """JSON-able plan: patient, protocol, rules with their windows, phases, follow-ups."""
    p = plan.patient
    return {
        "patient": {"patient_id": p.patient_id, "surgery": p.surgery.isoformat(),
                    "discharge": p.discharge.isoformat(), "levels": list(p.levels),
                    "time_zone": plan.time_zone},
        "protocol": {"id": plan.protocol.id, "version": plan.protocol.version,
                     "sha256": plan.protocol.digest},
        "rules": [{"id": d.rule.id, "activity": d.rule.activity, "status": d.rule.status,
                   "text": d.rule.text,
                   "limit": d.rule.limit.describe() if d.rule.limit else None,
                   "start_earliest": d.start_earliest.isoformat(),
                   "start_latest": d.start_latest.isoformat(),
                   "end_earliest": d.end_earliest.isoformat() if d.end_earliest else None,
                   "end_latest": d.end_latest.isoformat() if d.end_latest else None,
                   "when": d.rule.when, "released_by": d.rule.released_by}
                  for d in plan.rules],
        "phases": [{"index": ph.index, "start": ph.start.isoformat(),
                    "end": ph.end.isoformat() if ph.end else None,
                    "statuses": {s.activity: {"status": s.status.value, "limit": s.limit,
                                              "conditions": list(s.conditions),
                                              "rules": list(s.rule_ids)}
                                 for s in ph.statuses}}
                   for ph in plan.phases],
        "followups": [{"id": f.followup.id, "label": f.followup.label, "due": f.due.isoformat(),
                       "instruments": list(f.followup.instruments)} for f in plan.followups],
        "red_flags": [{"id": f.id, "text": f.text, "action": f.action}
                      for f in plan.protocol.red_flags],
    }


def render_outputs(plan: AftercarePlan) -> dict[str, bytes]:
    """Every file of :data:`AFTERCARE_FILES`, in memory (nothing written)."""
    import matplotlib

    matplotlib.use("Agg")

    from kypho.aftercare.export_fhir import plan_to_fhir_json
    from kypho.aftercare.export_ics import plan_to_ics
    from kypho.aftercare.handout_pdf import plan_to_pdf
    from kypho.aftercare.timeline import plot_timeline

    doc = envelope("aftercare", AFTERCARE_FORMAT_VERSION, plan_to_dict(plan))
    return {
        "handout.pdf": plan_to_pdf(plan),
        "aftercare.ics": plan_to_ics(plan),
        "careplan.fhir.json": plan_to_fhir_json(plan).encode("utf-8"),
        "plan.json": dumps(doc).encode("utf-8"),
        "timeline.png": figure_png(plot_timeline(plan), dpi=110, tight=True),
    }


def write_outputs(plan: AftercarePlan, out_dir: str | Path) -> dict[str, Path]:
    """Write :data:`AFTERCARE_FILES` into ``out_dir``: all made in memory first, then written
    all or none (:func:`kypho.core.atomic.write_files_atomic`).  Returns the paths by name."""
    files = render_outputs(plan)
    out = Path(out_dir)
    write_files_atomic(out, files)
    return {name: out / name for name in files}
