"""The benchmark command: one small run, every part of its report present.

The figures themselves are not asserted (no timed assertions in tests): ``python -m evals bench``
measures them, this checks that it does, beside the naive pipeline, on both Chroma backends.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .conftest import ANNOUNCEMENT, PYTHON, REPO, subprocess_env
from .test_ingest import DOC_A

SCALE_KEYS = {"chunks", "backend", "retrieval_p95_ms", "startup_s", "rss_mb", "add_document_s"}


@pytest.mark.slow
def test_bench_reports_note_rag_beside_the_naive_pipeline_and_the_scale_table(tmp_path):
    corpus = tmp_path / "documents"
    corpus.mkdir()
    shutil.copy(ANNOUNCEMENT, corpus)
    (corpus / "cybersecurite.md").write_text(DOC_A, encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [PYTHON, "-m", "evals", "bench", "--out", str(out), "--corpus", str(corpus), "--questions", "3",
         "--scale-sizes", "200", "--scale-backends", "server", "--no-local"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bench = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    measures = bench["measures"]
    assert measures["cold_ingest"]["texts"] > 0 and measures["reingest"]["embedded"] == 0, "the unchanged corpus embeds nothing"
    assert measures["embedding"]["note-rag"]["chunks"]["tokens_per_s"] > 0 and measures["embedding"]["naive"]["chunks"]["tokens_per_s"] > 0
    assert measures["answers"]["note-rag"]["answer_ms"]["p95"] and measures["answers"]["naive"]["retrieval_ms"]["p95"]
    assert measures["ui"]["first_byte_s"] > 0
    assert any("local mode not measured" in note for note in bench["notes"])
    assert {p["process"] for p in bench["processes"]} >= {"note-rag: cold ingest", "naive: answering (top chunk)", "note-rag: UI (until first byte)"}
    assert all(p["peak_rss_mb"] > 0 for p in bench["processes"]), bench["processes"]
    assert [row["backend"] for row in bench["scale"]] == ["server"]
    assert all(SCALE_KEYS <= set(row) and row["chunks"] >= 0.9 * 200 for row in bench["scale"]), bench["scale"]  # about the size asked
    report = (out / "bench.md").read_text(encoding="utf-8")
    assert "| measure | note-rag | naive LangChain pipeline |" in report and "| chunks | backend |" in report
    assert "hashing:384" in report, "the stand-in embedder is named"
    assert (out / "bench.png").stat().st_size > 10_000 and (out / "scale.png").stat().st_size > 10_000
