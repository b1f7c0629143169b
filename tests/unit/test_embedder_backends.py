"""NNMATCH_EMBEDDING_BACKEND: each backend is its own model version; ONNX runs the same model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from nnmatch.events import EmbeddingModel, is_static_tier
from nnmatch_matching.bootstrap import matcher_model
from nnmatch_matching.embedding.embedder import (
    BACKENDS,
    Backend,
    OnnxEmbedder,
    OnnxThreads,
    OpenVinoEmbedder,
    SentenceTransformerEmbedder,
    bundled_model_path,
    configured_embedder,
    configured_model_key,
    default_cache_dir,
    embed_documents,
    load_embedder,
    model_version,
    onnx_model_file,
    openvino_config,
    openvino_model_file,
    session_options,
    shape_bucket,
    token_batches,
)
from nnmatch_matching.embedding.embedding_cache import model_key
from nnmatch_matching.embedding.model_status import MemoryModelStatus, ModelStatus, announce
from nnmatch_matching.embedding.static_embedder import static_model_dir
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
    assert len(versions) == len(BACKENDS) == 5


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedding backend"):
        model_version("53aa51172d14", "tensorrt")  # type: ignore[arg-type]


def test_the_default_backend_is_openvino_at_the_precision_the_cpu_has() -> None:
    settings = MatchingSettings(service_name="t")
    assert settings.embedding_backend == "openvino"
    assert settings.embedding_precision == "auto"


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino", "static"])
def test_exported_backends_run_on_the_cpu_only(backend: Backend) -> None:
    with pytest.raises(ValueError, match="runs on the CPU"):
        load_embedder(bundled_model_path(), "m", backend, device="cuda")


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_backends_refuse_a_model_they_would_pool_differently(
    tmp_path: Path, backend: Backend
) -> None:
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
        load_embedder(tmp_path, "m", backend, cache_dir=tmp_path / "cache")


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


def test_token_batches_hold_every_row_once_within_the_budget() -> None:
    lengths = [5, 300, 12, 12, 40, 1, 7, 250, 33]
    batches = token_batches(lengths, token_budget=64, max_rows=4)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        padded = max(lengths[i] for i in batch)
        assert len(batch) <= 4
        assert len(batch) == 1 or len(batch) * padded <= 64
    longest_first = [max(lengths[i] for i in batch) for batch in batches]
    assert longest_first == sorted(longest_first)  # sorted across the whole call


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_token_budget_batching_returns_vectors_in_input_order(backend: Backend) -> None:
    """Texts of very different lengths land in different batches; each row is still its own
    text's vector (as when encoded alone, where nothing is padded)."""
    texts = [*TEXTS, "Cassava", "Seeks investors for solar irrigation in Kenya", TEXTS[1][:200]]
    embedder = load_embedder(
        bundled_model_path(), "m", backend, cache_dir=default_cache_dir(), token_budget=64
    )
    together = embedder.encode(texts)
    alone = np.concatenate([embedder.encode([t]) for t in texts])
    # bf16 rounds differently with the batch's shape: close, not equal to fp32's 1e-5
    assert np.all(np.sum(together * alone, axis=1) > (0.99999 if backend == "onnx" else 0.9999))
    others = together @ alone.T - np.eye(len(texts))
    assert np.all(others < np.sum(together * alone, axis=1)[:, None])  # no row swapped


class CountingEmbedder:
    """Records what it was asked to encode; a text's vector depends on that text only."""

    model = EmbeddingModel(id="m", version="v", dimensions=4)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint32) for t in texts]
        return np.asarray(rows, dtype=np.float32)


def test_each_distinct_chunk_is_encoded_once() -> None:
    documents = ["Expertise: soil.", "Expertise: soil.", "", "a " * 400, "Offers: mentoring."]
    counting = CountingEmbedder()
    vectors = embed_documents(counting, documents)
    assert len(counting.seen) == len(set(counting.seen))
    each_alone = np.stack([embed_documents(CountingEmbedder(), [d])[0] for d in documents])
    assert np.allclose(vectors, each_alone, atol=1e-6)


def test_dedupe_gives_the_real_model_the_same_vectors() -> None:
    path = bundled_model_path()
    embedder = load_embedder(path, "m", "onnx-int8", cache_dir=default_cache_dir())
    documents = [TEXTS[0], TEXTS[1], TEXTS[0], "Interests: water, health.", TEXTS[1]]
    deduped = embed_documents(embedder, documents)
    undeduped = embedder.encode(documents)  # every text sent, repeats included
    assert np.allclose(deduped, undeduped, atol=1e-5)


def test_thread_settings_reach_the_onnx_session() -> None:
    settings = MatchingSettings(
        service_name="t",
        embedding_backend="onnx-int8",
        embedding_intra_op_threads=1,
        embedding_inter_op_threads=1,
        embedding_allow_spinning=False,
    )
    embedder = configured_embedder(settings)
    assert isinstance(embedder, OnnxEmbedder)
    options = embedder.runtime_options
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    spinning = session_options(OnnxThreads(intra_op=2, inter_op=1, allow_spinning=True))
    assert spinning.intra_op_num_threads == 2
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_the_first_use_export_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Exporting and quantising take a while on first use: the log says so (and how long);
    a cached export is used silently."""
    from nnmatch_matching.embedding import embedder as module

    def write(content: bytes) -> Callable[[Path, Path], None]:
        return lambda _source, target: module._atomic_write(
            target, lambda out: out.write_bytes(content)
        )

    monkeypatch.setattr(module, "_export_fused", write(b"x"))
    monkeypatch.setattr(module, "_quantise_int8", write(b"y"))
    caplog.set_level("INFO", logger=module.__name__)
    first = onnx_model_file(bundled_model_path(), "onnx-int8", tmp_path)
    said = [r.getMessage() for r in caplog.records]
    assert first.read_bytes() == b"y"
    assert sum("first use only" in line for line in said) == 2
    assert sum(" done in " in line for line in said) == 2
    caplog.clear()
    assert onnx_model_file(bundled_model_path(), "onnx-int8", tmp_path) == first
    assert not caplog.records


def test_openvino_runs_the_same_model_within_bf16_rounding() -> None:
    """The real model, converted once into the user's cache (as the service does). bf16 on
    AMX / AVX512-BF16 CPUs, fp32 elsewhere: either way within 1e-4 cosine of torch fp32."""
    path = bundled_model_path()
    fp32 = SentenceTransformerEmbedder(path, "m").encode(TEXTS)
    embedder = load_embedder(path, "m", "openvino", cache_dir=default_cache_dir())
    assert isinstance(embedder, OpenVinoEmbedder)
    vectors = embedder.encode(TEXTS)
    assert np.all(np.sum(vectors * fp32, axis=1) > 0.9999)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.model.version.endswith("-openvino")
    assert embedder.model.dimensions == fp32.shape[1]
    converted = openvino_model_file(path, default_cache_dir())
    before = converted.stat().st_mtime_ns, converted.with_suffix(".bin").stat().st_mtime_ns
    again = openvino_model_file(path, default_cache_dir())
    assert (again.stat().st_mtime_ns, again.with_suffix(".bin").stat().st_mtime_ns) == before


def test_openvino_uses_bf16_only_where_the_cpu_computes_it() -> None:
    sharing = openvino_config(OnnxThreads(intra_op=1), ["FP32", "INT8"])
    assert sharing["INFERENCE_PRECISION_HINT"] == "f32"
    assert sharing["INFERENCE_NUM_THREADS"] == "1"
    assert sharing["ENABLE_CPU_PINNING"] == "NO"  # a matcher in the process keeps its core
    backfill = openvino_config(OnnxThreads(intra_op=0, allow_spinning=True), ["BF16", "FP32"])
    assert backfill["INFERENCE_PRECISION_HINT"] == "bf16"
    assert backfill["INFERENCE_NUM_THREADS"] == "0"
    assert backfill["ENABLE_CPU_PINNING"] == "YES"


def test_upgrading_from_the_torch_default_re_embeds_everyone_once() -> None:
    """A deployment that ran torch (the earlier default) announces another model on upgrade:
    the re-embed path moves every member to OpenVINO's vectors, then the status holds."""
    torch_model = EmbeddingModel(
        id="m", version=model_version("53aa51172d14", "torch"), dimensions=3
    )
    openvino_model = torch_model.model_copy(
        update={"version": model_version("53aa51172d14", "openvino")}
    )
    before = announce(None, model_key(torch_model))
    after = announce(before, model_key(openvino_model))
    assert after.switching
    assert after.replacing == model_key(torch_model)
    assert model_key(torch_model) in after.retired
    assert announce(after, model_key(openvino_model)) == after  # a restart resumes it


def test_fp32_can_be_forced_where_the_cpu_has_bf16() -> None:
    """A CPU without bf16 runs fp32: forced here, it still gives torch's vectors and the same
    model version as bf16 (replicas on different CPUs share one model, nothing re-embeds)."""
    assert openvino_config(OnnxThreads(), ["BF16", "FP32"], "fp32")["INFERENCE_PRECISION_HINT"] == (
        "f32"
    )
    path = bundled_model_path()
    fp32 = SentenceTransformerEmbedder(path, "m").encode(TEXTS)
    forced = configured_embedder(MatchingSettings(service_name="t", embedding_precision="fp32"))
    auto = configured_embedder(MatchingSettings(service_name="t"))
    assert isinstance(forced, OpenVinoEmbedder)
    assert isinstance(auto, OpenVinoEmbedder)
    assert forced.runtime_options["INFERENCE_PRECISION_HINT"] == "<Type: 'float32'>"
    assert np.all(np.sum(forced.encode(TEXTS) * fp32, axis=1) > 0.99999)
    assert forced.model == auto.model


def test_thread_settings_reach_openvino() -> None:
    settings = MatchingSettings(
        service_name="t", embedding_backend="openvino", embedding_intra_op_threads=1
    )
    embedder = configured_embedder(settings)
    assert isinstance(embedder, OpenVinoEmbedder)
    assert embedder.runtime_options["INFERENCE_NUM_THREADS"] == "1"
    assert embedder.runtime_options["ENABLE_CPU_PINNING"] == "False"


def test_the_first_use_conversion_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The OpenVINO IR is converted from the ONNX export on first use, logged with its time;
    a cached one is used silently."""
    from nnmatch_matching.embedding import embedder as module

    def convert(_source: Path, target: Path) -> None:
        target.with_suffix(".bin").write_bytes(b"w")
        target.write_bytes(b"ir")

    monkeypatch.setattr(
        module,
        "_export_fused",
        lambda _s, t: module._atomic_write(t, lambda o: o.write_bytes(b"x")),
    )
    monkeypatch.setattr(module, "_convert_openvino", convert)
    caplog.set_level("INFO", logger=module.__name__)
    first = openvino_model_file(bundled_model_path(), tmp_path)
    assert first.read_bytes() == b"ir"
    assert first.with_suffix(".bin").read_bytes() == b"w"
    said = [r.getMessage() for r in caplog.records]
    assert sum("OpenVINO conversion" in line and "first use only" in line for line in said) == 1
    caplog.clear()
    assert openvino_model_file(bundled_model_path(), tmp_path) == first
    assert not caplog.records


def test_openvino_encodes_from_several_threads_at_once() -> None:
    """Hub searches embed their queries in worker threads, concurrently; each call still gets
    its own texts' vectors."""
    embedder = load_embedder(bundled_model_path(), "m", "openvino", cache_dir=default_cache_dir())
    batches = [[text] * (1 + n % 3) for n, text in enumerate([*TEXTS, "Cassava", "Kenya"] * 4)]
    alone = [embedder.encode(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(embedder.encode, batches))
    for mine, expected in zip(together, alone, strict=True):
        assert np.allclose(mine, expected, atol=1e-5)


def test_openvino_shapes_are_rounded_up_to_few_buckets() -> None:
    """Every shape OpenVINO runs costs memory it keeps: batches are padded to a few shapes,
    the padding masked, and an extra row still attends to a token."""
    ids = np.arange(1, 3 * 21 + 1, dtype=np.int64).reshape(3, 21)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
    bucketed = shape_bucket(feeds)
    assert {v.shape for v in bucketed.values()} == {(8, 32)}
    assert np.array_equal(bucketed["input_ids"][:3, :21], ids)
    assert bucketed["attention_mask"][:3, 21:].sum() == 0
    assert np.all(bucketed["attention_mask"][3:].sum(axis=1) == 1)
    full = {k: np.ones((8, 16), dtype=np.int64) for k in feeds}
    assert shape_bucket(full)["input_ids"].shape == (8, 16)  # already a bucket: unchanged
    lone = {k: v[:1] for k, v in feeds.items()}  # a hub search query: one row, not eight
    assert {v.shape for v in shape_bucket(lone).values()} == {(1, 32)}


def test_the_static_tier_is_distilled_once_from_the_bundled_weights_and_ranks_by_meaning() -> None:
    """model2vec distilled from the bundled model (no download) into the user's cache, as the
    service does: seconds after the first run. Its vectors are its own model's, unit length,
    and still put a paraphrase above an unrelated text."""
    path = bundled_model_path()
    static = load_embedder(path, "m", "static", cache_dir=default_cache_dir())
    # its own model, never compared with the transformer's, and known as the first pass
    assert is_static_tier(f"{static.model.id}@{static.model.version}")
    assert not is_static_tier(f"m@{model_version(static.model.version.split('-')[0], 'openvino')}")
    assert static.model.dimensions == 384
    kept = static_model_dir(path, default_cache_dir()) / "model.safetensors"
    before = kept.stat().st_mtime_ns
    again = load_embedder(path, "m", "static", cache_dir=default_cache_dir())
    assert kept.stat().st_mtime_ns == before  # not distilled a second time
    vectors = again.encode(
        [
            "deep learning to detect crop diseases from leaf photos",
            "computer vision for plant disease diagnosis in farms",
            "tax law advice for small retail businesses",
        ]
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1
    assert static.encode([]).shape == (0, 384)


async def test_a_matcher_waits_for_the_embedder_to_announce_its_configured_backend() -> None:
    """A rollout restarts the embedder and the matcher at once: a matcher switched to another
    backend must not take the model announced before the switch (it would refuse every vector
    of the new one), but wait, as start-up retries, until the embedder announces it."""
    settings = MatchingSettings(service_name="t", embedding_backend="openvino")
    expected = configured_model_key(settings)
    assert expected is not None
    assert expected.endswith("-openvino")
    status = MemoryModelStatus()
    first_pass = expected.removesuffix("-openvino") + "-static"
    status.status = ModelStatus(current=first_pass, ranked=first_pass)
    with pytest.raises(RuntimeError, match="waiting for the embedder to switch"):
        await matcher_model(settings, status, None)
    status.status = ModelStatus(current=expected, replacing=first_pass, complete=False)
    assert await matcher_model(settings, status, None) == expected
    assert await matcher_model(settings, MemoryModelStatus(), None) is None, "the first decides"
    assert await matcher_model(settings, status, "in-process@1") == "in-process@1"
