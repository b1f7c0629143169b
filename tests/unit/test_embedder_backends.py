"""NNMATCH_EMBEDDING_BACKEND: each backend is its own model version; ONNX runs the same model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnmatch_matching.embedding.embedder import (
    BACKENDS,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    bundled_model_path,
    default_cache_dir,
    load_embedder,
    model_version,
    onnx_model_file,
)
from nnmatch_matching.settings import MatchingSettings

TEXTS = [
    "Mentoring on deploying vision models in the field",
    "Partners with field data on cassava disease. " * 20,
    "a",
]


def test_torch_keeps_the_bare_weights_digest_so_existing_vectors_stay_comparable() -> None:
    assert model_version("53aa51172d14", "torch") == "53aa51172d14"


def test_every_backend_is_its_own_model_version() -> None:
    versions = {model_version("53aa51172d14", backend) for backend in BACKENDS}
    assert len(versions) == len(BACKENDS) == 3


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        model_version("53aa51172d14", "openvino")  # type: ignore[arg-type]


def test_the_default_backend_is_torch() -> None:
    assert MatchingSettings(service_name="t").embedding_backend == "torch"


def test_onnx_backends_run_on_the_cpu_only() -> None:
    with pytest.raises(ValueError, match="runs on the CPU"):
        load_embedder(bundled_model_path(), "m", "onnx-int8", device="cuda")


def test_onnx_backends_refuse_a_model_they_would_pool_differently(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="mean pooling"):
        OnnxEmbedder(tmp_path, "m", "onnx", cache_dir=tmp_path / "cache")


def test_onnx_runs_the_same_model_and_int8_stays_close() -> None:
    """The real model. The export is made once into the user's cache (as the service does),
    so this takes seconds after the first run."""
    path = bundled_model_path()
    fp32 = SentenceTransformerEmbedder(path, "m").encode(TEXTS)
    onnx = load_embedder(path, "m", "onnx", cache_dir=default_cache_dir())
    int8 = load_embedder(path, "m", "onnx-int8", cache_dir=default_cache_dir())
    assert np.all(np.sum(onnx.encode(TEXTS) * fp32, axis=1) > 0.9999)
    assert np.all(np.sum(int8.encode(TEXTS) * fp32, axis=1) > 0.95)
    assert np.allclose(np.linalg.norm(int8.encode(TEXTS), axis=1), 1.0, atol=1e-5)
    assert onnx.model.version != int8.model.version
    assert onnx.model.dimensions == int8.model.dimensions == fp32.shape[1]
    exported = onnx_model_file(path, "onnx-int8", default_cache_dir())
    before = exported.stat().st_mtime_ns
    assert onnx_model_file(path, "onnx-int8", default_cache_dir()).stat().st_mtime_ns == before
