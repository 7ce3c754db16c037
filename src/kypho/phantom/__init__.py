"""kypho.phantom (in progress)."""
