"""The sweep file: its schema (``schema``) and its loader with one-line errors (``loader``)."""

from benchmark.spec.loader import SweepFileError, load_sweep, parse_sweep
from benchmark.spec.schema import SweepSpec

__all__ = ["SweepFileError", "SweepSpec", "load_sweep", "parse_sweep"]
