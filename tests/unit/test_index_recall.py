"""`python -m nnmatch_tools.recall` on synthetic vectors: flat is its own reference, the
approximate kinds come close, and no kind returns a removed member."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnmatch_tools.recall import main, recall


def test_recall_counts_the_exact_hits_found() -> None:
    assert recall([["a", "b"], ["c", "d"]], [["b", "x"], ["c", "d"]]) == 0.75


def test_the_recall_command_reports_every_kind_against_flat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--synthetic", "1500", "--dimensions", "32", "--queries", "100", "--out", str(tmp_path)]
    )

    assert code == 0
    [written] = tmp_path.glob("index-recall-*.json")
    report = json.loads(written.read_text())
    results = report["results"]
    assert set(results) == {"flat", "sq8", "hnsw"}
    assert results["flat"]["recall_at_10"] == 1.0
    assert results["sq8"]["recall_at_10"] >= 0.9
    assert results["hnsw"]["recall_at_10"] >= 0.9
    assert all(r["removed_returned"] == 0 for r in results.values())
    assert (report["members"], report["dimensions"], report["queries"]) == (1500, 32, 200)
    assert "hnsw" in capsys.readouterr().out
