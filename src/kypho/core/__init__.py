"""kypho's data model: CT volumes, vertebra label maps, cases and level names."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "case": ["Case"],
        "resample": ["MAX_RESAMPLED_VOXELS", "resample_case"],
        "levels": [
            "LEVELS",
            "LEVEL_IDS",
            "TOTALSEGMENTATOR_V2_IDS",
            "VERSE_IDS",
            "level_from_id",
            "level_range",
            "parse_level",
            "parse_levels",
        ],
        "volume": ["LabelMap", "Volume", "affine_from_spacing", "check_same_grid"],
    },
)
