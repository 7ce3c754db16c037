"""Command-line interface: a thin typer layer over kypho's Python API."""
