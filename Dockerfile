# syntax=docker/dockerfile:1
#
# The platform's image, used by every configuration in clusters/ (as ghcr.io/OWNER/bench:latest):
#   docker build -t ghcr.io/OWNER/bench:latest .
#   docker push ghcr.io/OWNER/bench:latest
#   docker run --rm --gpus all ghcr.io/OWNER/bench:latest submit sweeps/quickstart.yaml
#
# CUDA without a CUDA base image: on Linux x86_64 the locked torch 2.13.0 depends on the CUDA 13
# runtime as wheels (cuda-toolkit, nvidia-cudnn-cu13, nvidia-nccl-cu13 ... in uv.lock), so the
# image needs only the host's NVIDIA driver (>= 580 for CUDA 13), which the NVIDIA Container
# Toolkit mounts in (`docker run --gpus all`, the launcher's `--runtime=nvidia`, Kubernetes'
# device plugin). The same image runs on CPU-only nodes (a cluster's head).
#
# Layers go from least to most often changed: system packages, uv, the locked dependencies
# (about 5 GB; rebuilt only when uv.lock changes), then the project's own code. Runs as the
# non-root user `bench` (uid 1000, the uid of the default user on Ubuntu cloud images, so
# shared NFS/EFS paths and the Ray launcher's bind-mounted files line up).
FROM python:3.11-slim-bookworm

# openssh-client and rsync: Ray's cluster launcher runs its autoscaler inside this image on the
# head node, which reaches worker hosts over SSH and copies files with rsync; git lets MLflow
# record the commit. Debian's package versions are not pinned: the base tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --no-install-recommends -y git openssh-client rsync \
    && rm -rf /var/lib/apt/lists/*

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

# Login shells (`bash -l`, used by Ray's launcher and by KubeRay to run `ray start`) reset PATH
# from /etc/profile; this puts the project's environment back in front ($PATH is meant literally).
# hadolint ignore=SC2016
RUN useradd --create-home --uid 1000 --user-group bench \
    && echo 'export PATH="/home/bench/venv/bin:$PATH"' > /etc/profile.d/bench-venv.sh

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/home/bench/venv \
    VIRTUAL_ENV=/home/bench/venv \
    PATH=/home/bench/venv/bin:$PATH \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    RAY_USAGE_STATS_ENABLED=0

USER 1000:1000
WORKDIR /home/bench/app

# Dependencies only (no project code yet), so a code change does not re-download torch. The
# cache mount keeps uv's download cache out of the image.
COPY --chown=1000:1000 pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/home/bench/.cache/uv,uid=1000,gid=1000 \
    uv sync --frozen --no-dev --no-install-project

COPY --chown=1000:1000 README.md ./
COPY --chown=1000:1000 benchmark ./benchmark
COPY --chown=1000:1000 sweeps ./sweeps
RUN --mount=type=cache,target=/home/bench/.cache/uv,uid=1000,gid=1000 \
    uv sync --frozen --no-dev

ENTRYPOINT ["bench"]
CMD ["--help"]
