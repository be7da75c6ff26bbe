# The platform's image: the locked dependencies (torch 2.13.0 + torchvision 0.28.0 built with
# CUDA 13, whose runtime libraries come as wheels, so the host needs only the NVIDIA driver)
# and the `bench` command, running as a non-root user. Layers go from least to most often
# changed: system packages, uv, locked dependencies, then the project's own code.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install --no-install-recommends -y git make \
    && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

RUN useradd --create-home --uid 1000 bench
USER bench
WORKDIR /home/bench/app

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/home/bench/venv \
    PATH=/home/bench/venv/bin:$PATH \
    RAY_USAGE_STATS_ENABLED=0

# Dependencies only (no project code yet), so a code change does not re-download torch.
COPY --chown=bench:bench pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY --chown=bench:bench README.md ./
COPY --chown=bench:bench benchmark ./benchmark
COPY --chown=bench:bench sweeps ./sweeps
RUN uv sync --frozen --no-dev

ENTRYPOINT ["bench"]
CMD ["--help"]
