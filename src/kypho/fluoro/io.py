"""Writing frames: PNG (monitor picture), .npy (line integrals), DICOM XA (with geometry).

Every write is atomic (:mod:`kypho.core.atomic`): a reader never sees a half-written file.

The DICOM file is an X-Ray Angiographic Image (SOP class 1.2.840.10008.5.1.4.1.1.12.1) holding the
8-bit monitor picture, with Positioner Primary/Secondary Angle (0018,1510/1511),
Distance Source to Detector/Patient (0018,1110/1111), Imager Pixel Spacing (0018,1164),
Estimated Radiographic Magnification Factor (0018,1114), Patient Position (HFP: head first,
prone) and Patient Orientation (0020,0020) computed from the frame's row and column directions.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kypho.core.atomic import atomic_path, write_bytes_atomic
from kypho.errors import InvalidParameterError, UnsupportedFormatError
from kypho.fluoro.display import Bone, to_display
from kypho.fluoro.dose import Technique
from kypho.fluoro.render import Frame

__all__ = [
    "FRAME_SUFFIXES",
    "XA_SOP_CLASS_UID",
    "dicom_bytes",
    "npy_bytes",
    "orientation_letters",
    "write_dicom",
    "write_frame",
    "write_npy",
    "write_png",
]

#: X-Ray Angiographic Image Storage (DICOM PS3.4 annex B).
XA_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.12.1"
FRAME_SUFFIXES = (".png", ".npy", ".dcm")

_DISCLAIMER = "Simulated fluoroscopy from kypho (research/education, not a medical device)."


def orientation_letters(direction_ras: NDArray[np.float64], *, min_component: float = 0.25) -> str:
    """DICOM anatomical direction letters (R/L, A/P, H/F) of an RAS direction, largest first."""
    d = np.asarray(direction_ras, float)
    letters = []
    for idx in np.argsort(-np.abs(d)):
        if abs(d[idx]) < min_component:
            continue
        letters.append(("R", "A", "H")[idx] if d[idx] > 0 else ("L", "P", "F")[idx])
    return "".join(letters)


def write_png(frame: Frame, path: str | Path, *, bone: Bone = "dark") -> Path:
    """Write the monitor picture as an 8-bit greyscale PNG."""
    from PIL import Image

    img = Image.fromarray(to_display(frame, bone=bone), mode="L")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)


def write_npy(frame: Frame, path: str | Path) -> Path:
    """Write the float32 line integrals (dimensionless) as .npy, atomically."""
    return write_bytes_atomic(path, npy_bytes(frame))


def dicom_bytes(
    frame: Frame,
    *,
    bone: Bone = "dark",
    technique: Technique | None = None,
    patient_name: str = "KYPHO^SIMULATION",
    patient_id: str = "KYPHO",
    series_description: str = "",
) -> bytes:
    """A DICOM XA file (bytes) with positioner angles and distances filled in."""
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    carm = frame.carm
    tq = technique or Technique()
    pixels = to_display(frame, bone=bone)
    now = _dt.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = XA_SOP_CLASS_UID
    sop_uid = generate_uid()
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = XA_SOP_CLASS_UID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "XA"
    ds.ImageType = ["DERIVED", "SECONDARY", "SINGLE PLANE"]
    ds.Manufacturer = "kypho"
    ds.ManufacturerModelName = "simulated C-arm (not a medical device)"
    ds.ImageComments = _DISCLAIMER
    ds.SeriesDescription = series_description or f"DRR {carm.describe()}"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.PatientPosition = "HFP"
    ds.PatientOrientation = [orientation_letters(carm.right_ras), orientation_letters(-carm.up_ras)]
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = round(carm.primary_deg, 4)
    ds.PositionerSecondaryAngle = round(carm.secondary_deg, 4)
    ds.DistanceSourceToDetector = round(carm.source_to_detector_mm, 3)
    ds.DistanceSourceToPatient = round(carm.source_to_isocentre_mm, 3)
    ds.EstimatedRadiographicMagnificationFactor = round(carm.magnification, 6)
    pr, pc = frame.pixel_spacing_mm
    ds.ImagerPixelSpacing = [round(pr, 6), round(pc, 6)]
    ds.KVP = tq.kvp
    ds.XRayTubeCurrent = round(tq.tube_current_ma)
    ds.ExposureTime = round(tq.pulse_width_ms)
    ds.RadiationSetting = "SC"
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in pixels.shape)
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dicom(frame: Frame, path: str | Path, **options: object) -> Path:
    """Write :func:`dicom_bytes` of ``frame`` to ``path`` atomically."""
    return write_bytes_atomic(path, dicom_bytes(frame, **options))  # type: ignore[arg-type]


def npy_bytes(frame: Frame) -> bytes:
    """The float32 line integrals (dimensionless) as the bytes of a ``.npy`` file."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(frame.line_integral, dtype=np.float32))
    return buf.getvalue()


def write_frame(frame: Frame, path: str | Path, *, bone: Bone = "dark", technique: Technique | None = None) -> Path:
    """Write ``frame`` in the format its suffix names (.png, .npy or .dcm)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".png":
        return write_png(frame, p, bone=bone)
    if suffix == ".npy":
        return write_npy(frame, p)
    if suffix in (".dcm", ".dicom"):
        return write_dicom(frame, p, bone=bone, technique=technique)
    if not suffix:
        raise InvalidParameterError(f"output {p}: give a suffix, one of {', '.join(FRAME_SUFFIXES)}")
    raise UnsupportedFormatError(f"output {p}: kypho writes frames as {', '.join(FRAME_SUFFIXES)}, not {suffix}")
