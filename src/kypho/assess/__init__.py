"""kypho.assess (in progress)."""
