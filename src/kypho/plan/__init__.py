"""kypho.plan (in progress)."""
