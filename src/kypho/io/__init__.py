"""Reading and writing CT volumes, label maps and case folders (RAS+ mm inside, LPS at the edges).

Formats: NIfTI (read/write), NRRD (read/write), DICOM CT series folders (read; write for tests
and interoperability), kypho case folders (read/write).  See ``docs/coordinate-systems.md``.
"""

from kypho.io.dicom import DicomSeries, read_dicom_series, write_dicom_series
from kypho.io.example import example_cache_dir, fetch_example
from kypho.io.load import (
    CASE_FILES,
    LabelScheme,
    labelled_levels,
    level_from_name,
    load_case,
    load_labels,
    load_volume,
    save_case,
    save_image,
)
from kypho.io.nifti import read_labels_nifti, read_volume_nifti, write_nifti
from kypho.io.nrrd import read_nrrd, write_nrrd
from kypho.io.summary import case_summary, levels_at_edge

__all__ = [
    "CASE_FILES",
    "DicomSeries",
    "LabelScheme",
    "case_summary",
    "example_cache_dir",
    "fetch_example",
    "labelled_levels",
    "level_from_name",
    "levels_at_edge",
    "load_case",
    "load_labels",
    "load_volume",
    "read_dicom_series",
    "read_labels_nifti",
    "read_nrrd",
    "read_volume_nifti",
    "save_case",
    "save_image",
    "write_dicom_series",
    "write_nifti",
    "write_nrrd",
]
