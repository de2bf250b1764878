# syntax=docker/dockerfile:1.7
#
# ftapi images, two targets built from one context (the repository root):
#
#   docker build --target api    -t ftapi-api:0.1.0 .     # api, ctl worker, adapter agent; no torch
#   docker build --target runner -t ftapi-runner:0.1.0 .  # gpu worker and local engine; CUDA torch
#
# Pinned: base images by tag (below), Python packages by requirements.lock, the one lock that the
# dev and CI installs use too (scripts/lock re-resolves it and runs the gate). Nothing secret is read at
# build time: every setting is an FTAPI_* environment variable given at run time.
# Both images run as uid/gid 10001 (numeric, so Kubernetes' runAsNonRoot can verify it) with
# ENTRYPOINT ftapi: the container command is an ftapi sub-command (`api`, `worker --queue ctl`,
# `agent ...`, `worker --queue gpu`, `engine ...`, `db upgrade`).
# tests/deploy/test_dockerfile.py checks this file's structure offline.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
# torch 2.13.0 is the version the test suite runs; the cuda12.6 build runs on any CUDA 12 driver.
ARG RUNNER_BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime


# ---- wheel: build ftapi once; both targets install the same file ------------------------------
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY gpu_runner ./gpu_runner
COPY cli ./cli
RUN pip wheel --no-deps --wheel-dir /dist .


# ---- api: api, ctl worker and adapter agent (no torch) -----------------------------------------
FROM ${PYTHON_IMAGE} AS api
LABEL org.opencontainers.image.title="ftapi-api" \
      org.opencontainers.image.description="ftapi api, ctl worker and adapter agent" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/ftapi \
    PATH=/opt/ftapi/bin:$PATH \
    HOME=/var/lib/ftapi \
    FTAPI_DATA_DIR=/var/lib/ftapi
# /var/cache/ftapi/adapters: the agent's adapter cache. Created here, owned by the ftapi user,
# so an empty volume mounted on it takes that ownership (Docker copies it on first mount).
RUN groupadd --system --gid 10001 ftapi \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ftapi --create-home \
       --shell /usr/sbin/nologin ftapi \
    && install --directory --owner 10001 --group 10001 /var/cache/ftapi/adapters
COPY requirements.lock /opt/ftapi-requirements.lock
# The base dependencies only: `pip install .` without extras. The last line fails the build if
# anything pulled torch in (the api image must stay small and CPU-only).
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    python -m venv /opt/ftapi \
    && /opt/ftapi/bin/pip install --constraint /opt/ftapi-requirements.lock /dist/ftapi-*.whl \
    && /opt/ftapi/bin/python -c "import importlib.util as u, sys; sys.exit('torch in the api image' if u.find_spec('torch') else 0)" \
    && /opt/ftapi/bin/ftapi --help > /dev/null
USER 10001:10001
WORKDIR /var/lib/ftapi
# 8000: the api; 8100: the adapter agent (same image, `ftapi agent ... --port 8100`).
EXPOSE 8000 8100
# Checks the api's liveness route. The ctl worker and the agent run from this image too: their
# compose services and Kubernetes probes replace this check with their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["ftapi"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]


# ---- runner: gpu worker and local engine (CUDA torch, transformers, peft) ----------------------
FROM ${RUNNER_BASE_IMAGE} AS runner
LABEL org.opencontainers.image.title="ftapi-runner" \
      org.opencontainers.image.description="ftapi gpu worker and local inference engine" \
      org.opencontainers.image.licenses="Apache-2.0"
# The base image's Python environment already holds the CUDA torch build; pip installs beside
# it (PIP_BREAK_SYSTEM_PACKAGES: the base may mark its interpreter as externally managed).
# Base models come from a mounted volume listed in FTAPI_MODELS__REGISTRY_PATH, never from the
# Hub at run time (HF_HUB_OFFLINE).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HOME=/var/lib/ftapi \
    HF_HOME=/var/lib/ftapi/huggingface \
    HF_HUB_OFFLINE=1 \
    FTAPI_DATA_DIR=/var/lib/ftapi \
    FTAPI_TRAINER__IMPORT_PATH=gpu_runner.trainer:LoraTrainer
RUN groupadd --system --gid 10001 ftapi \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ftapi --create-home \
       --shell /usr/sbin/nologin ftapi
COPY requirements.lock /opt/ftapi-requirements.lock
# `pip install .[runner]`; the lock pins torch==2.13.0, which the base's 2.13.0+cu126
# satisfies, so pip keeps the CUDA build instead of fetching another one.
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    python -m pip install --constraint /opt/ftapi-requirements.lock "$(echo /dist/ftapi-*.whl)[runner]" \
    && python -c "import torch, transformers, peft; assert torch.version.cuda, 'torch must be a CUDA build'" \
    && ftapi --help > /dev/null
USER 10001:10001
WORKDIR /var/lib/ftapi
# 8000: `ftapi engine` when this image serves inference instead of training.
EXPOSE 8000
# Liveness of the gpu worker: arq's health key for the gpu queue was written recently.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
    CMD ["ftapi", "worker", "--queue", "gpu", "--check"]
ENTRYPOINT ["ftapi"]
CMD ["worker", "--queue", "gpu"]
