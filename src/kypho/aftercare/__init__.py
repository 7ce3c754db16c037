"""kypho.aftercare (in progress)."""
