"""kypho.fluoro (in progress)."""
