"""Benchmark: note-rag beside the naive LangChain pipeline, on one corpus, in one run.

``python -m evals bench [--quick] --out DIR`` writes ``bench.md``, ``bench.json`` and
``bench.png`` (plus ``scale.png``). Every figure is measured in that run, on that machine:

- embedding throughput (texts/s and tokens/s, tokens as each model reads them: e5-small stops
  at 512, MiniLM at 256), on the chunks and sentences note-rag embeds and on the naive
  pipeline's 1000-character chunks, without any cache;
- cold ingest (empty embedding cache) per page, and re-ingest of the unchanged corpus;
- retrieval and answer latency (p50/p95) over the same questions;
- local mode: when the first ``Answer`` of ``Assistant.stream(mode="local")`` arrives and when
  the last one does (the first question also loads the model);
- UI cold start: ``python ui.py`` until its first HTTP byte;
- peak resident memory of each of those processes (each runs in a fresh process, so the
  figure is that process's own);
- the scale simulation (``evals.scale``), at small sizes with ``--quick``.

The corpus is ``../shared/real-documents`` when present (the Etalab guides: PDFs, Markdown,
HTML), else the fixtures in the repository. ``--quick`` (under 5 minutes on 2 cores) indexes
two short PDFs of it, asks fewer questions, and runs the scale simulation at 1k and 5k chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .procs import free_port, peak_rss_mb, run_measured, stop, wait_http
from .scale import BACKENDS, DEFAULT_SIZES, QUICK_SIZES, SCALE_NOTE, REPO, _env, run_scale, scale_table

SHARED_DOCUMENTS = REPO.parent / "shared" / "real-documents"
FIXTURES = [REPO / "corpus" / "note-conjoncture-2024-annonce.md", *sorted((REPO / "tests" / "fixtures").glob("etalab-*"))]
QUICK_FILES = ("etalab-guide-reutilisation.pdf", "etalab-guide-logiciels.pdf")
CORPUS_SUFFIXES = (".pdf", ".md", ".markdown", ".txt", ".html", ".htm", ".rmd", ".qmd")
NAIVE = "sentence-transformers:all-MiniLM-L6-v2"  # the prototype's model
NOTE_RAG = "e5-small"

# Latency questions: what a reader of the Etalab guides would ask (not scored here: see
# ``python -m evals`` for answer quality). Over the fallback corpus, evals/questions/train/note-and-barometer.yaml.
ETALAB_QUESTIONS = [
    "Comment documenter un jeu de données ?",
    "Quelles informations doit contenir la description générale d'un jeu de données ?",
    "Qu'est-ce qu'un schéma de données ?",
    "Comment valider la conformité d'un fichier avec un schéma de données ?",
    "Quel encodage de fichier faut-il utiliser pour publier des données ?",
    "Quel séparateur utiliser dans un fichier CSV ?",
    "Comment gérer les champs non attribués ?",
    "Comment référencer un schéma sur schema.data.gouv.fr ?",
    "Quel standard technique choisir pour décrire un schéma de données ?",
    "Qu'est-ce que le score de qualité des métadonnées ?",
    "Pourquoi ouvrir le code source d'un logiciel développé par une administration ?",
    "Quelle licence choisir pour publier un logiciel libre ?",
    "Comment réutiliser les données publiées sur data.gouv.fr ?",
    "Quel format de fichier privilégier pour un jeu de données ?",
    "Comment nommer les colonnes d'un fichier tabulaire ?",
    "Qui contacter pour signaler une erreur dans un jeu de données ?",
    "Comment publier et diffuser un schéma de données ?",
    "Que faut-il indiquer sur le mode de production des données ?",
    "Comment extraire un jeu de données du système d'information ?",
    "Que faire quand la structure des données ne correspond à aucun schéma existant ?",
]


# With --quick only the two short guides are indexed: questions they answer.
QUICK_QUESTIONS = [
    "À qui s'adresse le guide sur l'ouverture des codes sources ?",
    "Pourquoi référencer une réutilisation sur data.gouv.fr ?",
    "Quelles licences s'appliquent à la publication d'un code source ?",
    "Quand est-il conseillé de publier une réutilisation au nom d'une organisation ?",
    "Comment annoncer l'ouverture d'un code source ?",
    "Qu'est-ce qu'une réutilisation sur data.gouv.fr ?",
    "Comment encourager les contributions à un logiciel libre ?",
    "Comment répondre aux questions posées à propos de votre réutilisation ?",
]


def corpus_files(folder: Path | None) -> tuple[Path, list[Path]]:
    """The corpus folder and its files (``../shared/real-documents``, else repository fixtures)."""
    if folder is None and SHARED_DOCUMENTS.is_dir():
        folder = SHARED_DOCUMENTS
    if folder is None:
        return REPO / "tests" / "fixtures", [p for p in FIXTURES if p.exists()]
    # a folder's README describes the files, it is not one of them
    return folder, sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES and p.stem.lower() != "readme")


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": round(float(np.percentile(values, 50)) * scale, 2), "p95": round(float(np.percentile(values, 95)) * scale, 2)}


@dataclass
class Bench:
    """Everything one run measured (``bench.json``)."""

    command: str
    date: str
    quick: bool
    machine: dict[str, Any]
    corpus: dict[str, Any]
    measures: dict[str, Any] = field(default_factory=dict)
    processes: list[dict[str, Any]] = field(default_factory=list)
    scale: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def machine() -> dict[str, Any]:
    model = ""
    memory = None
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "")
        memory = round(int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))) / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gb": memory, "python": platform.python_version(), "platform": platform.platform()}


# ----------------------------------------------------------------------------------------------
# workers: each measure runs in a fresh process (its memory is its own)


def worker(task: str, args: dict[str, Any], bench: Bench, label: str, env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    done = run_measured([sys.executable, "-m", "evals.bench", "worker", task, json.dumps(args)], env=env or _env(), cwd=REPO, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"mesure « {label} » en échec ({done.returncode}) : {done.stderr[-3000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    bench.processes.append({"process": label, "seconds": round(done.seconds, 2), "peak_rss_mb": round(done.peak_rss_mb, 1)})
    answer["_process_seconds"], answer["_peak_rss_mb"] = done.seconds, done.peak_rss_mb
    return answer


def _task_ingest(args: dict[str, Any]) -> dict[str, Any]:
    from ingest import build_index
    from ingest.settings import get_settings

    settings = get_settings(index_dir=args["index"], embeddings=NOTE_RAG)
    started = time.perf_counter()
    report = build_index(args["paths"], settings=settings, progress=False)
    return {
        "seconds": time.perf_counter() - started,
        "pages": report.pages,
        "documents": sum(1 for d in report.documents if d.status != "failed"),
        "failed": [f"{d.doc_id}: {d.error}" for d in report.failed],
        "chunks": report.chunks_total,
        "embedded": report.chunks_embedded,
    }


def _task_embed(args: dict[str, Any]) -> dict[str, Any]:
    """Embedding rate without any cache, on the texts each pipeline embeds."""
    from ingest.embeddings import get_embeddings

    rng = np.random.default_rng(0)
    if args["system"] == "note-rag":
        from ingest.settings import get_settings
        from ingest.store import IndexStore, in_filter

        generation = IndexStore(get_settings(index_dir=args["index"])).require_current()
        sets = {"chunks": [c.embedding_text() for c in generation.all_chunks()]}
        versions = sorted((generation.versions or {}).values())
        records = generation.sentences.get(where=in_filter("version", versions) if versions else None, include=["documents"])
        sets["sentences"] = [d for d in records["documents"] if d]
    else:
        from .baseline import corpus_documents
        from ingest.settings import get_settings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100)
        documents = corpus_documents(get_settings(), [Path(p) for p in args["paths"]])
        sets = {"chunks": [c.page_content for c in splitter.split_documents(documents)]}
    started = time.perf_counter()
    backend = get_embeddings(args["embeddings"])
    backend.embed_documents_array(["échauffement du modèle"])
    load = time.perf_counter() - started
    result: dict[str, Any] = {"load_s": load}
    for name, texts in sets.items():
        if len(texts) > args["sample"]:
            texts = [texts[i] for i in sorted(rng.choice(len(texts), size=args["sample"], replace=False))]
        tokens = sum(backend.count_tokens(t) for t in texts) if backend.count_tokens else None
        started = time.perf_counter()
        for start in range(0, len(texts), 16):  # the batch size of note-rag's ingest
            backend.embed_documents_array(texts[start : start + 16])
        seconds = time.perf_counter() - started
        result[name] = {
            "texts": len(texts),
            "seconds": seconds,
            "texts_per_s": len(texts) / seconds if seconds else None,
            "tokens_per_s": tokens / seconds if tokens and seconds else None,
            "mean_chars": float(np.mean([len(t) for t in texts])) if texts else 0,
        }
    return result


def _task_naive_ingest(args: dict[str, Any]) -> dict[str, Any]:
    from ingest.settings import get_settings

    from .baseline import NaiveBaseline

    started = time.perf_counter()
    naive = NaiveBaseline(get_settings(), args["embeddings"], paths=[Path(p) for p in args["paths"]], cache=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "chunks": len(naive.chunks)}


def _task_answers(args: dict[str, Any]) -> dict[str, Any]:
    from ingest.settings import get_settings

    questions = args["questions"]
    if args["system"] == "note-rag":
        from assistant import Assistant

        system = Assistant(settings=get_settings(index_dir=args["index"], mode="extractive"))
        retrieve = lambda q: system.retrieve(q)  # noqa: E731
    else:
        from .baseline import NaiveBaseline

        system = NaiveBaseline(get_settings(model_cache_dir=args["cache"]), args["embeddings"], paths=[Path(p) for p in args["paths"]])
        retrieve = lambda q: system.retrieve(q, k=5)  # noqa: E731
    for question in questions[:2]:  # warm-up: models loaded, caches filled
        system.ask(question)
    retrieval, answers, abstained = [], [], 0
    for question in questions:
        started = time.perf_counter()
        retrieve(question)
        retrieval.append(time.perf_counter() - started)
        started = time.perf_counter()
        answer = system.ask(question)
        answers.append(time.perf_counter() - started)
        abstained += bool(getattr(answer, "abstained", False))
    return {"retrieval_ms": percentiles(retrieval), "answer_ms": percentiles(answers), "questions": len(questions), "abstained": abstained}


def _task_local(args: dict[str, Any]) -> dict[str, Any]:
    from assistant import Answer, Assistant
    from ingest.settings import get_settings

    assistant = Assistant(settings=get_settings(index_dir=args["index"], mode="local"))
    runs = []
    for question in args["questions"]:
        started = time.perf_counter()
        first = last = token = None
        final = None
        for event in assistant.stream(question, mode="local"):
            now = time.perf_counter() - started
            if isinstance(event, Answer):
                first = now if first is None else first
                last, final = now, event
            elif event and token is None:
                token = now
        runs.append(
            {
                "question": question,
                "first_answer_s": first,
                "final_answer_s": last,
                "first_text_s": token,
                "mode": getattr(final, "mode", None),
                "fallback_from": getattr(final, "fallback_from", None),
                "abstained": getattr(final, "abstained", None),
            }
        )
    return {"runs": runs}


TASKS = {"ingest": _task_ingest, "embed": _task_embed, "naive-ingest": _task_naive_ingest, "answers": _task_answers, "local": _task_local}


def _worker_main(argv: list[str]) -> int:
    from ingest.settings import offline_environment

    offline_environment()
    task, args = argv[0], json.loads(argv[1])
    print(json.dumps(TASKS[task](args), ensure_ascii=False, default=str))
    return 0


# ----------------------------------------------------------------------------------------------
# the run


@dataclass
class Options:
    out: Path
    quick: bool = False
    corpus: Path | None = None
    scale_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    scale_backends: list[str] = field(default_factory=lambda: list(BACKENDS))
    local: bool = True
    questions: int | None = None
    keep: bool = False


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _local_ready() -> str | None:
    """None when local mode can answer here, else why not."""
    from assistant.local_llm import LocalModelUnavailable, ensure_gguf, runtime_installed
    from ingest.settings import get_settings

    if not runtime_installed():
        return "the local extra is not installed (pip install -e .[local])"
    try:
        ensure_gguf(Path(get_settings().model_cache_dir))
    except LocalModelUnavailable as error:
        return str(error)
    return None


def run_bench(options: Options, command: str) -> Bench:
    started = time.perf_counter()
    folder, files = corpus_files(options.corpus)
    cold_files = [f for f in files if f.name in QUICK_FILES] if options.quick else files
    cold_files = cold_files or files[:2]
    if {f.name for f in cold_files} == set(QUICK_FILES):
        questions = QUICK_QUESTIONS
    elif folder == SHARED_DOCUMENTS or any(f.name.startswith("etalab") for f in files):
        questions = ETALAB_QUESTIONS
    else:
        from .harness import load_questions

        questions = [q.question for q in load_questions() if q.answerable and not q.history]
    limit = options.questions or (8 if options.quick else 20)
    questions = questions[:limit]
    bench = Bench(
        command=command,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        quick=options.quick,
        machine=machine(),
        corpus={"folder": str(folder), "files": [f.name for f in files], "indexed_files": [f.name for f in cold_files], "questions": len(questions)},
    )
    work = Path(tempfile.mkdtemp(prefix="note-rag-bench-"))
    try:
        _measure(bench, options, work, files, cold_files, questions)
        if options.scale_sizes:
            say(f"simulation de montée en charge : {options.scale_sizes} chunks, {', '.join(options.scale_backends)}")
            rows = run_scale(options.scale_sizes, options.scale_backends, work / "scale", queries=30 if options.quick else 100, say=lambda m: say(m[8:]))
            bench.scale = [asdict(r) for r in rows]
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    bench.seconds = round(time.perf_counter() - started, 1)
    return bench


def _measure(bench: Bench, options: Options, work: Path, files: list[Path], cold_files: list[Path], questions: list[str]) -> None:
    m = bench.measures
    index, cold_cache, naive_cache = work / "index", work / "cold-cache", work / "naive-cache"
    paths = [str(f) for f in cold_files]  # what the index holds (--quick: a subset)

    say(f"ingestion à froid de {len(cold_files)} fichiers (cache d'embeddings vide)…")
    env = _env(NOTE_RAG_MODEL_CACHE_DIR=str(cold_cache))
    cold = worker("ingest", {"index": str(index), "paths": paths}, bench, "note-rag: cold ingest", env)
    m["cold_ingest"] = {
        "files": len(cold_files),
        "pages": cold["pages"],
        "texts": cold["embedded"],
        "seconds": cold["seconds"],
        "seconds_per_page": cold["seconds"] / cold["pages"] if cold["pages"] else None,
        "texts_per_s": cold["embedded"] / cold["seconds"] if cold["seconds"] else None,
        "peak_rss_mb": cold["_peak_rss_mb"],
        "failed": cold["failed"],
    }
    naive = worker("naive-ingest", {"paths": paths, "embeddings": NAIVE}, bench, "naive: cold ingest (in-memory)")
    m["naive_cold_ingest"] = {
        "seconds": naive["seconds"],
        "chunks": naive["chunks"],
        "seconds_per_page": naive["seconds"] / cold["pages"] if cold["pages"] else None,
        "peak_rss_mb": naive["_peak_rss_mb"],
    }

    say("réingestion du corpus inchangé…")
    again = worker("ingest", {"index": str(index), "paths": paths}, bench, "note-rag: re-ingest, unchanged corpus", env)
    m["index"] = {"files": len(cold_files), "pages": cold["pages"], "chunks": cold["chunks"], "failed": cold["failed"]}
    m["reingest"] = {"seconds": again["seconds"], "process_seconds": again["_process_seconds"], "embedded": again["embedded"]}

    sample = 48 if options.quick else 200
    say("débit des embeddings (sans cache)…")
    ours = worker("embed", {"system": "note-rag", "index": str(index), "embeddings": NOTE_RAG, "sample": sample}, bench, "note-rag: embedding rate")
    theirs = worker("embed", {"system": "naive", "paths": paths, "embeddings": NAIVE, "sample": sample}, bench, "naive: embedding rate")
    m["embedding"] = {"note-rag": ours, "naive": theirs}

    say(f"latence de recherche et de réponse ({len(questions)} questions)…")
    m["answers"] = {
        "note-rag": worker("answers", {"system": "note-rag", "index": str(index), "questions": questions}, bench, "note-rag: answering (extractive)"),
        "naive": worker(
            "answers",
            {"system": "naive", "paths": paths, "embeddings": NAIVE, "cache": str(naive_cache), "questions": questions},
            bench,
            "naive: answering (top chunk)",
        ),
    }

    reason = _local_ready() if options.local else "skipped (--no-local)"
    if reason is None:
        count = 2 if options.quick else 6
        say(f"mode local : {count + 1} questions (la première charge le modèle)…")
        local = worker("local", {"index": str(index), "questions": questions[: count + 1]}, bench, "note-rag: local mode", timeout=3600)
        runs = local["runs"]
        # what the model wrote itself (an abstention or a fallback answers without it)
        warm = [r for r in runs[1:] if r["mode"] == "local" and not r["abstained"]] or runs[1:] or runs
        m["local"] = {
            "questions": len(runs),
            "cold_first_answer_s": runs[0]["first_answer_s"],
            "first_answer_s": percentiles([r["first_answer_s"] for r in warm if r["first_answer_s"] is not None], 1.0),
            "final_answer_s": percentiles([r["final_answer_s"] for r in warm if r["final_answer_s"] is not None], 1.0),
            "fallbacks": sum(1 for r in runs if r["fallback_from"]),
            "written_by_model": len([r for r in runs[1:] if r["mode"] == "local" and not r["abstained"]]),
            "peak_rss_mb": local["_peak_rss_mb"],
            "runs": runs,
        }
    else:
        m["local"] = None
        bench.notes.append(f"local mode not measured: {reason}")

    say("démarrage de l'interface jusqu'au premier octet…")
    m["ui"] = ui_cold_start(index, bench)


def ui_cold_start(index: Path, bench: Bench) -> dict[str, Any]:
    """``python ui.py`` on a free loopback port: seconds to the first HTTP byte, peak RSS."""
    import subprocess

    port = free_port()
    env = _env(NOTE_RAG_MODE="extractive")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "ui.py"), "--host", "127.0.0.1", "--port", str(port), "--index", str(index)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/", 300, process)
        seconds = time.perf_counter() - started
        rss = peak_rss_mb(process.pid)
    finally:
        stop(process)
    bench.processes.append({"process": "note-rag: UI (until first byte)", "seconds": round(seconds, 2), "peak_rss_mb": round(rss or 0, 1)})
    return {"first_byte_s": seconds, "peak_rss_mb": rss}


# ----------------------------------------------------------------------------------------------
# report


def _n(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}".replace(",", " ")
    return f"{text}{unit}"


def side_by_side(bench: Bench) -> list[tuple[str, str, str]]:
    """(measure, note-rag, naive pipeline) rows of the main table."""
    m = bench.measures
    rows: list[tuple[str, str, str]] = []
    ours, theirs = m["embedding"]["note-rag"], m["embedding"]["naive"]

    def rate(entry: dict | None) -> str:
        if not entry:
            return "– (none embedded)"
        return f"{_n(entry['texts_per_s'], 1)} texts/s · {_n(entry['tokens_per_s'], 0)} tokens/s ({entry['texts']} texts, {entry['mean_chars']:.0f} chars)"

    rows.append(("embedding rate, chunks (no cache)", f"{rate(ours['chunks'])}, e5-small", f"{rate(theirs['chunks'])}, MiniLM-L6"))
    rows.append(("embedding rate, sentences (no cache)", f"{rate(ours.get('sentences'))}, e5-small", "– (embeds no sentences)"))
    cold, naive = m["cold_ingest"], m["naive_cold_ingest"]
    rows.append(
        (
            f"cold ingest ({cold['files']} files, {cold['pages']} pages), per page",
            f"{_n(cold['seconds_per_page'])} s/page ({_n(cold['seconds'], 1)} s, {cold['texts']} texts embedded)",
            f"{_n(naive['seconds_per_page'])} s/page ({_n(naive['seconds'], 1)} s, {naive['chunks']} chunks)",
        )
    )
    rows.append(
        (
            "re-ingest of the unchanged corpus",
            f"{_n(m['reingest']['seconds'])} s ({_n(m['reingest']['process_seconds'], 1)} s with process start), {m['reingest']['embedded']} embedded",
            "= cold ingest (in-memory index, rebuilt at every start)",
        )
    )
    a, b = m["answers"]["note-rag"], m["answers"]["naive"]
    rows.append(("retrieval p50 / p95", f"{_n(a['retrieval_ms']['p50'], 1)} / {_n(a['retrieval_ms']['p95'], 1)} ms (hybrid, k=6)", f"{_n(b['retrieval_ms']['p50'], 1)} / {_n(b['retrieval_ms']['p95'], 1)} ms (dense, k=5)"))
    rows.append(
        (
            "answer p50 / p95",
            f"{_n(a['answer_ms']['p50'], 1)} / {_n(a['answer_ms']['p95'], 1)} ms (extractive, {a['abstained']}/{a['questions']} abstained)",
            f"{_n(b['answer_ms']['p50'], 1)} / {_n(b['answer_ms']['p95'], 1)} ms (top chunk, never abstains)",
        )
    )
    local = m.get("local")
    if local:
        rows.append(
            (
                "local mode: first cited answer / final answer (p50, model loaded)",
                f"{_n(local['first_answer_s']['p50'], 1)} / {_n(local['final_answer_s']['p50'], 1)} s over the {local.get('written_by_model', 0)} answers the model wrote "
                f"(first question, model load included: {_n(local['cold_first_answer_s'], 1)} s; {local['fallbacks']}/{local['questions']} fell back to extractive)",
                "– (no LLM)",
            )
        )
    else:
        rows.append(("local mode", "not measured (see notes)", "– (no LLM)"))
    rows.append(("UI cold start to first byte", f"{_n(m['ui']['first_byte_s'], 1)} s", "– (no UI)"))
    rss = {p["process"]: p["peak_rss_mb"] for p in bench.processes}
    rows.append(
        (
            "peak RSS per process",
            f"ingest {_n(rss.get('note-rag: cold ingest'), 0)} MB · answering {_n(rss.get('note-rag: answering (extractive)'), 0)} MB · "
            f"UI {_n(rss.get('note-rag: UI (until first byte)'), 0)} MB" + (f" · local mode {_n(local['peak_rss_mb'], 0)} MB" if local else ""),
            f"ingest {_n(rss.get('naive: cold ingest (in-memory)'), 0)} MB · answering (index rebuilt in-process) {_n(rss.get('naive: answering (top chunk)'), 0)} MB",
        )
    )
    return rows


def plot_panels(bench: Bench) -> list[tuple[str, dict[str, float | None]]]:
    m = bench.measures
    ours, theirs = m["embedding"]["note-rag"], m["embedding"]["naive"]
    panels = [
        ("embedding rate, chunks (texts/s)", {"note-rag": ours["chunks"]["texts_per_s"], "naive": theirs["chunks"]["texts_per_s"]}),
        ("cold ingest (s per page)", {"note-rag": m["cold_ingest"]["seconds_per_page"], "naive": m["naive_cold_ingest"]["seconds_per_page"]}),
        ("re-ingest, unchanged corpus (s)", {"note-rag": m["reingest"]["seconds"], "naive": m["naive_cold_ingest"]["seconds"]}),
        ("retrieval p95 (ms)", {"note-rag": m["answers"]["note-rag"]["retrieval_ms"]["p95"], "naive": m["answers"]["naive"]["retrieval_ms"]["p95"]}),
        ("answer p95 (ms)", {"note-rag": m["answers"]["note-rag"]["answer_ms"]["p95"], "naive": m["answers"]["naive"]["answer_ms"]["p95"]}),
        (
            "peak RSS, answering process (MB)",
            {"note-rag": next((p["peak_rss_mb"] for p in bench.processes if p["process"] == "note-rag: answering (extractive)"), None),
             "naive": next((p["peak_rss_mb"] for p in bench.processes if p["process"] == "naive: answering (top chunk)"), None)},
        ),
    ]
    if m.get("local"):
        panels.append(("local mode p50 (s)", {"note-rag first": m["local"]["first_answer_s"]["p50"], "note-rag final": m["local"]["final_answer_s"]["p50"]}))
    panels.append(("UI cold start, first byte (s)", {"note-rag": m["ui"]["first_byte_s"]}))
    return panels


def write_report(bench: Bench, out: Path) -> tuple[Path, Path]:
    from .plots import bench_plot, scale_plot

    out.mkdir(parents=True, exist_ok=True)
    plot = bench_plot(plot_panels(bench), out / "bench.png")
    scale_png = scale_plot(bench.scale, out / "scale.png") if bench.scale else None
    json_path = out / "bench.json"
    json_path.write_text(json.dumps(asdict(bench), indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    machine_line = f"{bench.machine['cpus']} cores ({bench.machine['cpu'] or 'CPU'}), {bench.machine['memory_gb']} GB RAM, Python {bench.machine['python']}"
    lines = [
        "# note-rag benchmark",
        "",
        f"`{bench.command}` — {bench.date}, {bench.seconds:.0f} s{' (quick)' if bench.quick else ''}; {machine_line}.",
        "",
        f"Corpus: `{bench.corpus['folder']}`, indexed: {', '.join(bench.corpus['indexed_files'])}; "
        f"{bench.corpus['questions']} questions for the latencies (not scored here: `python -m evals` scores answers).",
        "",
        "## note-rag beside the naive LangChain pipeline",
        "",
        "The naive pipeline is `evals/baseline.py` as the prototype had it: RecursiveCharacterTextSplitter 1000/100, "
        "all-MiniLM-L6-v2, an in-memory Chroma, dense top-5, the answer is the top chunk.",
        "",
        "| measure | note-rag | naive LangChain pipeline |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in side_by_side(bench)],
        "",
        f"![side by side]({plot.name})",
        "",
        "Peak resident memory of every process the run started:",
        "",
        "| process | wall time | peak RSS |",
        "|---|---|---|",
        *[f"| {p['process']} | {p['seconds']:.1f} s | {p['peak_rss_mb']:.0f} MB |" for p in bench.processes],
    ]
    if bench.scale:
        lines += ["", "## Scale simulation", "", SCALE_NOTE, "", scale_table(bench.scale), "", f"![scale]({scale_png.name})" if scale_png else ""]
    if bench.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in bench.notes]]
    md_path = out / "bench.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md_path, json_path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["worker"]:
        return _worker_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m evals bench", description="Mesures de performance : note-rag à côté de la chaîne LangChain naïve.")
    parser.add_argument("--out", required=True, help="dossier du rapport (bench.md, bench.json, bench.png)")
    parser.add_argument("--quick", action="store_true", help="version courte (moins de 5 minutes sur 2 cœurs)")
    parser.add_argument("--corpus", help="dossier de documents (défaut : ../shared/real-documents, sinon les fixtures du dépôt)")
    parser.add_argument("--questions", type=int, help="nombre de questions pour les latences")
    parser.add_argument("--scale-sizes", help="tailles de la simulation, en chunks (défaut : 1000,10000,100000 ; --quick : 1000,5000 ; 0 : aucune)")
    parser.add_argument("--scale-backends", default=",".join(BACKENDS), help="embedded, server")
    parser.add_argument("--no-local", action="store_true", help="sans le mode local")
    parser.add_argument("--keep", action="store_true", help="garder le dossier de travail (index, caches)")
    args = parser.parse_args(argv)
    from ingest.settings import offline_environment

    offline_environment()
    if args.scale_sizes is not None:
        sizes = [int(s) for s in args.scale_sizes.split(",") if s.strip() and int(s) > 0]
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    corpus = Path(args.corpus).expanduser() if args.corpus else None
    if corpus is not None and not corpus.is_dir():
        print(f"erreur : dossier introuvable : {corpus}", file=sys.stderr)
        return 2
    options = Options(
        out=Path(args.out).expanduser(),
        quick=args.quick,
        corpus=corpus,
        scale_sizes=sizes,
        scale_backends=[b.strip() for b in args.scale_backends.split(",") if b.strip()],
        local=not args.no_local,
        questions=args.questions,
        keep=args.keep,
    )
    bench = run_bench(options, "python -m evals bench " + shlex.join(argv))
    md, js = write_report(bench, options.out)
    print("\n".join(f"| {a} | {b} | {c} |" for a, b, c in side_by_side(bench)))
    if bench.scale:
        print(scale_table(bench.scale))
    print(f"rapport : {md} ({bench.seconds:.0f} s) ; JSON : {js.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
