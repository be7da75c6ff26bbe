"""``python -m benchmark.cli``: the ``bench`` command (used as a Ray job entry point)."""

from benchmark.cli import main

main()
