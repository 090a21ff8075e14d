"""The three question splits and the corpus each one is asked over.

- **train**: the questions ``python -m evals calibrate`` fits the evidence model on, over the
  default corpus (the 2024 note's announcement and the 2023 barometer).
- **dev**: other questions over the same corpus, never fitted on; reported only.
- **generality**: questions written blind from documents the code was not written for (Etalab
  guides as their publisher ships them, ``evals/corpus-generality/documents``), a quarter of
  them without an answer in the documents; never fitted on; reported only. The folder's
  README (sources, licence) sits beside the documents, not among them: it is not indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.settings import Settings, get_settings

from .harness import Question, load_questions

EVALS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Split:
    name: str
    files: tuple[str, ...]  # question files, in evals/
    corpus: str | None  # a folder of evals/ holding the documents; None: corpus/sources.toml
    purpose: str

    @property
    def paths(self) -> list[Path]:
        return [EVALS / name for name in self.files]

    def questions(self) -> list[Question]:
        return [q for path in self.paths for q in load_questions(path)]

    @property
    def corpus_dir(self) -> Path | None:
        return EVALS / self.corpus if self.corpus else None


SPLITS: dict[str, Split] = {
    "train": Split("train", ("questions.yaml", "questions-train-extra.yaml"), None, "fitted on by `python -m evals calibrate`"),
    "dev": Split("dev", ("questions-holdout.yaml",), None, "reported only"),
    "generality": Split("generality", ("questions-generality.yaml",), "corpus-generality/documents", "reported only; documents the code was not written for"),
}


def split_settings(split: Split, index_root: Path, embeddings: str) -> Settings:
    """Settings of the index a split is asked over (one folder per corpus and embeddings backend)."""
    from .runner import index_dir_for

    corpus = split.corpus or "default"
    return get_settings(index_dir=index_dir_for(index_root / corpus, embeddings), embeddings=embeddings)


def build_split_index(split: Split, index_root: Path, embeddings: str, progress: bool = False):
    """Build (or update, incrementally) the index of a split's corpus; returns (settings, report)."""
    from ingest import build_index

    settings = split_settings(split, index_root, embeddings)
    if split.corpus_dir is None:
        report = build_index(settings=settings, progress=progress)
    else:
        report = build_index([split.corpus_dir], settings=settings, progress=progress)
    return settings, report
