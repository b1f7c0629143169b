"""The `static` backend: a model2vec static embedding distilled locally from the bundled model.

Distillation runs every token of the model's vocabulary through the transformer once (about
30,000 tokens, under a minute on 2 cores), keeps each token's mean-pooled output, rotates them
by PCA (all 384 dimensions kept) and weights them by token frequency (SIF). Encoding a text is
then a lookup and a mean: hundreds of times faster than the transformer, and weaker, since a
word no longer depends on its neighbours (`bench/bench_embed.py` and `nnmatch eval` measure by
how much). It is meant as a first pass for a large import, never as a silent default: the
operator chooses it, and switching back re-embeds everyone through the re-embed path.

The vectors are another model's (their own version), so they are never compared with the
transformer's. Made once from the weights on disk (no download) and cached beside the ONNX
exports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from nnmatch.events import EmbeddingModel
from nnmatch_matching.embedding.embedder import (
    EXPORT_FORMAT,
    Matrix,
    _made,
    _offline,
    _weights_digest,
    model_version,
)

log = logging.getLogger(__name__)

DISTILL_FORMAT = 1
"""Bump when the distillation recipe changes: a new one is distilled again, into its own place."""


def _distill(source: Path, target: Path) -> None:
    """model2vec's distillation of the model at `source`, saved to `target` (a folder,
    renamed into place when complete: replicas may race)."""
    import tempfile

    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerFast

    model = AutoModel.from_pretrained(str(source))
    tokenizer = cast(
        PreTrainedTokenizerFast, AutoTokenizer.from_pretrained(str(source), use_fast=True)
    )
    # pca "auto": a rotation keeping every dimension, so the vector size stays the model's
    static = distill_from_model(model, tokenizer, pca_dims="auto", quantize_to="float32")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        staged = Path(work) / target.name
        static.save_pretrained(str(staged))
        try:
            staged.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise  # not another process's copy, renamed into place first


def static_model_dir(path: Path, cache_dir: Path) -> Path:
    """The cached static model distilled from the weights at `path`; distilled on first use."""
    folder = cache_dir / f"{_weights_digest(path)}-f{EXPORT_FORMAT}" / f"static-d{DISTILL_FORMAT}"
    if not (folder / "config.json").is_file():
        _made(folder, "static (model2vec) distillation", lambda: _distill(path, folder))
    return folder


class StaticEmbedder:
    """Texts encoded by the distilled static model (`static`): a weighted mean of token rows."""

    def __init__(self, path: Path, model_id: str, cache_dir: Path):
        _offline()
        from model2vec import StaticModel

        self._model: Any = StaticModel.from_pretrained(static_model_dir(path, cache_dir))
        # model2vec sets the tokenizer's truncation on every call; the Rust tokenizer refuses
        # that while another thread encodes ("Already borrowed", huggingface/tokenizers#537),
        # and hub searches and the embedder share this model. A precaution: 64 threads at
        # once did not trip it here with tokenizers 0.23, so no test can show it.
        self._lock = threading.Lock()
        self.model = EmbeddingModel(
            id=model_id,
            version=model_version(_weights_digest(path), "static"),
            dimensions=int(self._model.dim),
        )
        log.info("embedding: the static (model2vec) tier; switch back to re-embed everyone")

    def encode(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.model.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), normalize=True, use_multiprocessing=False)
        return np.asarray(vectors, dtype=np.float32)
