# The two commands of the README. Each one sets up everything it needs on a fresh machine
# with Python 3.11: it installs uv (pinned) if it is not on PATH, creates .venv from
# uv.lock when it is missing or stale (uv sync re-installs nothing when it is current),
# then runs. Bytecode is compiled at install (20 s on 2 cores, then under a second): each
# Ray worker is a fresh interpreter, and without .pyc files it recompiles what it imports.

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen --no-sync

.PHONY: demo test lint env

demo: env
	$(RUN) bench submit sweeps/quickstart.yaml
	$(RUN) bench report

test: env lint
	$(RUN) pytest

lint: env
	$(RUN) ruff check .
	$(RUN) ruff format --check .

env: $(UV)
	$(UV) sync --frozen --compile-bytecode

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)
