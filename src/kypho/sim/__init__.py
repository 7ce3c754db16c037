"""kypho.sim (in progress)."""
