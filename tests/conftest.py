"""Shared fixtures: the default corpus (corpus/) and test fixtures (tests/fixtures/), real indexes, real models.

Indexes are built once per session in temporary folders; the embedding cache in
~/.cache/note-rag makes rebuilding the same texts cheap across tests and runs.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from evals.procs import chroma_executable, free_port, start_chroma  # noqa: F401 - shared with the test modules

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Tests decide every setting themselves: a developer's NOTE_RAG_* environment must not leak in.
# NOTE_RAG_SCREENSHOTS is no setting: it asks the UI tests to write docs/screenshots.
SCREENSHOTS = os.environ.get("NOTE_RAG_SCREENSHOTS")
for _name in [n for n in os.environ if n.startswith("NOTE_RAG_")]:
    del os.environ[_name]
os.environ["NOTE_RAG_CONFIG"] = os.devnull  # nor a developer's note-rag.toml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"  # copies of real documents, licences in FIXTURES/README.md
BAROMETER_PDF = FIXTURES / "barometre-data-publica-2023.pdf"
BAROMETER_MD = FIXTURES / "barometre-data-publica-2023.md"
BAROMETER_RMD = REPO / "corpus" / "barometre-data-publica-2023.Rmd"
ANNOUNCEMENT = REPO / "corpus" / "note-conjoncture-2024-annonce.md"


PYTHON = sys.executable
# A paraphrase of « Quelle part des collectivités a déjà eu recours à l'IA en 2023 ? » (none of
# its words but « collectivités » and « 2023 »): a follow-up on the métropoles comes after it.
AI_USE_PARAPHRASE = "Combien de collectivités utilisaient déjà l'intelligence artificielle en 2023 ?"


def metropolises_ai_share() -> str:
    """The share of métropoles that had already used AI, as the 2023 barometer writes it (read
    from corpus/barometre-data-publica-2023.Rmd): what a follow-up on the métropoles, after a
    question on the collectivités' use of AI, must answer."""
    text = " ".join(BAROMETER_RMD.read_text(encoding="utf-8").split())
    found = re.search(r"avoir eu recours à l['’]IA\. Les métropoles sont les plus en pointe \((\d+) ?%\)", text)
    assert found, f"{BAROMETER_RMD.name} no longer says which share of métropoles used AI"
    return f"{found.group(1)} %"


def documents_index(folder: Path, documents: dict[str, str]) -> Path:
    """An index of generated documents, by file name (a test's own wording, language and structure)."""
    from ingest import build_index

    paths = []
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    build_index(paths, index_dir=folder / "index", progress=False)
    return folder / "index"


def one_document_index(folder: Path, name: str, text: str) -> Path:
    """An index of one generated document."""
    return documents_index(folder, {name: text})


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: offline, repo importable, no stray NOTE_RAG_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTE_RAG_")}
    env["PYTHONPATH"] = str(REPO)
    env["NOTE_RAG_CONFIG"] = os.devnull
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory) -> Path:
    """The full corpus of corpus/sources.toml (announcement + barometer, both shipped in corpus/)."""
    from ingest import build_index
    from ingest.settings import get_settings

    index_dir = tmp_path_factory.mktemp("corpus-index")
    report = build_index(settings=get_settings(index_dir=index_dir), progress=False)
    assert report.ok, [d.error for d in report.failed]
    return index_dir


@pytest.fixture(scope="session")
def corpus_assistant(corpus_index):
    from assistant import Assistant

    return Assistant(index_dir=corpus_index, mode="extractive")


@pytest.fixture
def chroma_server(tmp_path):
    """A real ``chroma run`` on a free loopback port (stopped by PID): its URL."""
    if chroma_executable() is None:
        pytest.skip("the chroma CLI is not installed")
    server = start_chroma(tmp_path / "server-data", env=subprocess_env())
    yield server.url
    server.stop()
