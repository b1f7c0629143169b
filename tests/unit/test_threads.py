"""The matching process's numeric libraries run on the threads its settings give them: an
OpenBLAS worker left at its default spins after every product, on a core the other replica or
the embedding model is waiting for."""

from __future__ import annotations

import faiss
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import nnmatch_matching.bootstrap  # noqa: F401  (every library the service loads at start)
from nnmatch_matching.settings import MatchingSettings
from nnmatch_matching.threads import limit_threads


def _blas_threads_outside_faiss() -> set[int]:
    return {
        pool["num_threads"]
        for pool in threadpool_info()
        if pool["user_api"] == "blas" and "faiss" not in pool["filepath"]
    }


@pytest.mark.parametrize(("blas", "faiss_threads"), [(2, 2), (1, 1), (1, 2), (2, 1)])
def test_every_blas_and_faiss_take_the_threads_the_settings_give(
    blas: int, faiss_threads: int
) -> None:
    """Every BLAS the service has loaded by then (numpy's, scipy's), not only one, and FAISS
    its own setting even where its OpenBLAS shares its OpenMP runtime."""
    original_faiss = faiss.omp_get_max_threads()
    with threadpool_limits(limits=None):  # the suite's BLAS pools come back afterwards
        try:
            limit_threads(
                MatchingSettings(service_name="t", blas_threads=blas, faiss_threads=faiss_threads)
            )
            assert _blas_threads_outside_faiss() == {blas}
            assert faiss.omp_get_max_threads() == faiss_threads
        finally:
            faiss.omp_set_num_threads(original_faiss)
