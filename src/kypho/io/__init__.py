"""Reading and writing CT volumes, label maps and case folders (RAS+ mm inside, LPS at the edges)."""
