"""The threads the matching process's numeric libraries may use, set once at start.

Each library keeps its own pool: the BLAS libraries' (numpy's and scipy's OpenBLAS, which the
engine's dense products run in) and FAISS's OpenMP workers. Left at their defaults each takes
every core and keeps its workers spinning after a call: after a 64-member block product, an
OpenBLAS worker spun about 0.1 s of a core while the engine went on in Python, a core the
other replica or the embedding model on the machine was waiting for (bench/README, "One BLAS
thread a matcher")."""

from __future__ import annotations

import faiss
from threadpoolctl import threadpool_limits

from nnmatch_matching.settings import MatchingSettings


def limit_threads(settings: MatchingSettings) -> None:
    """Every loaded BLAS to `blas_threads` (process-wide), then FAISS's OpenMP threads to
    `faiss_threads`: FAISS's own OpenBLAS shares FAISS's OpenMP runtime, so limiting it set
    FAISS's threads too, and FAISS's setting comes last to win. OpenMP's applies to the
    thread that sets it (the service's FAISS calls in worker threads are single-threaded
    kernels)."""
    threadpool_limits(limits=settings.blas_threads, user_api="blas")
    faiss.omp_set_num_threads(settings.faiss_threads)
