"""Reading and writing CT volumes, label maps and case folders (RAS+ mm inside, LPS at the edges).

Formats: NIfTI (read/write), NRRD (read/write), DICOM CT series folders (read; write for tests
and interoperability), kypho case folders (read/write).  See ``docs/coordinate-systems.md``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "dicom": ["DicomSeries", "read_dicom_series", "write_dicom_series"],
        "example": ["example_cache_dir", "fetch_example"],
        "load": [
            "CASE_FILES",
            "LabelScheme",
            "labelled_levels",
            "level_from_name",
            "load_case",
            "load_labels",
            "load_volume",
            "save_case",
            "save_image",
        ],
        "nifti": ["read_labels_nifti", "read_volume_nifti", "write_nifti"],
        "nrrd": ["read_nrrd", "write_nrrd"],
        "summary": ["case_summary"],
    },
)
