"""The question splits, by document: each split's questions are asked over its own documents.

- **train**: what ``python -m evals calibrate`` fits the reader on (the default corpus, the
  Etalab guides on data quality and data schemas, and other public guides).
- **dev**: other documents and their questions: reported, developed on, never fitted on.
- **sealed-N**: a batch of questions over documents used nowhere before, written and committed
  before any code ran on them, run once at the end of the stop that wrote it and logged in
  ``evals/LOG.md``; from then on it is part of dev (``DEV_BATCHES``).

Documents and their split: ``evals/documents.toml`` (``evals.documents``). Questions:
``evals/questions/<split>/*.yaml`` or ``evals/questions/<split>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.settings import Settings, get_settings

from .documents import Document, available, read_documents, write_split_sources
from .harness import Question, load_questions

EVALS = Path(__file__).resolve().parent
QUESTIONS = EVALS / "questions"
#: Sealed batches already run once: their documents and questions now count as dev.
DEV_BATCHES: tuple[str, ...] = ("sealed-1", "sealed-2", "sealed-3", "sealed-4", "sealed-5", "sealed-6", "sealed-7", "sealed-8")


@dataclass(frozen=True)
class Split:
    name: str
    groups: tuple[str, ...]  # document splits (documents.toml) and question folders it gathers
    purpose: str

    @property
    def paths(self) -> list[Path]:
        found: list[Path] = []
        for group in self.groups:
            folder, single = QUESTIONS / group, QUESTIONS / f"{group}.yaml"
            found += sorted(folder.glob("*.yaml")) if folder.is_dir() else []
            found += [single] if single.is_file() else []
        return found

    def questions(self) -> list[Question]:
        return [q for path in self.paths for q in load_questions(path)]

    def documents(self, all_documents: list[Document] | None = None) -> list[Document]:
        return [d for d in (all_documents if all_documents is not None else read_documents()) if d.split in self.groups]


SPLITS: dict[str, Split] = {
    "train": Split("train", ("train",), "fitted on by `python -m evals calibrate`"),
    "dev": Split("dev", ("dev", *DEV_BATCHES), "reported and developed on, never fitted on"),
    "sealed-1": Split("sealed-1", ("sealed-1",), "sealed batch written 2026-12-07, run once and logged in evals/LOG.md the same day; now part of dev"),
    "sealed-2": Split("sealed-2", ("sealed-2",), "sealed batch written 2026-12-07 (second stop of the day), run once and logged in evals/LOG.md the same day (third stop); now part of dev"),
    "sealed-3": Split("sealed-3", ("sealed-3",), "sealed batch written 2026-12-07 (third stop of the day), run once and logged in evals/LOG.md the same day (fourth stop); now part of dev"),
    "sealed-4": Split("sealed-4", ("sealed-4",), "sealed batch written 2026-12-07 (fourth stop of the day), run once and logged in evals/LOG.md the same day (fifth stop); now part of dev"),
    "sealed-5": Split("sealed-5", ("sealed-5",), "sealed batch written 2026-12-07 (fifth stop of the day), run once and logged in evals/LOG.md on 2026-12-08 (start of the sixth stop, on the fifth stop's final path); now part of dev"),
    "sealed-6": Split("sealed-6", ("sealed-6",), "sealed batch written 2026-12-08 (sixth stop), run once and logged in evals/LOG.md the same day; now part of dev"),
    "sealed-7": Split("sealed-7", ("sealed-7",), "sealed batch written 2026-12-08 (sixth stop, second batch), run once and logged in evals/LOG.md the same day; now part of dev"),
    "sealed-8": Split("sealed-8", ("sealed-8",), "sealed batch written 2026-12-08 (seventh stop), run once and logged in evals/LOG.md the same day; now part of dev"),
    "sealed-9": Split("sealed-9", ("sealed-9",), "sealed batch written 2026-12-08 (seventh stop, for the next stop), not yet run"),
}


def in_repository_sample(split: Split) -> tuple[list[Document], list[Question]]:
    """The part of a split that needs nothing outside the repository (the CI guard's sample):
    its documents in the repository, the answerable questions one of them answers, and every
    unanswerable question (unanswerable over the whole split, so over any part of it)."""
    documents = [d for d in split.documents() if d.in_repository]
    ids = {d.id for d in documents}
    questions = [q for q in split.questions() if not q.answerable or set(q.sources) & ids]
    return documents, questions


def split_settings(name: str, index_root: Path, embeddings: str) -> Settings:
    """Settings of the index a split (or its in-repository sample) is asked over: one folder per
    split and embeddings backend."""
    from .runner import index_dir_for

    return get_settings(index_dir=index_dir_for(index_root / name, embeddings), embeddings=embeddings)


def build_split_index(split: Split, index_root: Path, embeddings: str, progress: bool = False, documents: list[Document] | None = None, name: str | None = None):
    """Build (or update, incrementally) the index of a split's documents; returns (settings, report).

    Raises ``DocumentMissing`` (French message) when a fetched document is not in the cache.
    """
    from ingest import build_index

    documents = documents if documents is not None else split.documents()
    name = name or split.name
    settings = split_settings(name, index_root, embeddings)
    corpus = write_split_sources(documents, Path(settings.index_dir) / "corpus")
    settings = settings.with_overrides(corpus_dir=corpus.parent)
    return settings, build_index(settings=settings, progress=progress)


def missing_documents(split: Split) -> list[Document]:
    return [d for d in split.documents() if not available(d)]
