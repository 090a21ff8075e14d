"""Scale simulation: retrieval, start-up, memory and adding a document, as the corpus grows.

Synthetic corpora of 1k, 10k and 100k chunks (Markdown documents of ~100 chunks of ~520
characters, French-like text: the words of the repository's announcement plus invented ones,
drawn from a Zipf law, with figures) go through the real pipeline (loaders, chunking, sentences,
Chroma, the reader's cache) on embedded Chroma and on a ``chroma run`` server. They are
embedded by ``hashing:384``, a deterministic stand-in (signed feature hashing of words, no
model), so that what is measured is storage and retrieval, not the embedder: its vectors rank
nothing meaningfully, and the time a real model takes to embed a document is on top of
``add_document_s`` (the benchmark measures that rate separately).

For each size and backend, in fresh processes (a reader starting, a writer adding):

- ``startup_s``: ``Assistant()`` until its first search returned (index loaded, Chroma's
  vector index in memory), on a reader that has seen this generation before (its cache on
  disk); ``startup_cold_s`` on a reader with an empty cache (a new machine);
  ``startup_after_add_s`` on the first start after a document was added (only the new
  document is read); ``import_s`` the Python imports before that (chromadb included);
- ``retrieval_p50_ms`` / ``retrieval_p95_ms``: ``retriever.search`` (hybrid, k=6, query
  embedding included) over synthetic questions;
- ``rss_mb``: the reader process's peak resident memory (``server_rss_mb``: the Chroma server's);
- ``add_document_s``: ``build_index`` of one new ~100-chunk document into that index, in a
  fresh writer process (after its imports), lock or lease included.

``python -m evals scale [--sizes 1000,10000,100000] [--backends embedded,server] --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

STAND_IN = "hashing:384"
CHUNKS_PER_DOC = 100
DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 5_000)
BACKENDS = ("embedded", "server")
REPO = Path(__file__).resolve().parents[1]
SEED_TEXT = REPO / "corpus" / "note-conjoncture-2024-annonce.md"


class SyntheticText:
    """Deterministic French-like text: sentences of 8-21 words, a figure in half of them."""

    SYLLABLES = ("ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "za", "tion", "ment", "eur", "ique", "ain", "oir")

    def __init__(self, seed: int = 0, pool: int = 2_000_000):
        self.rng = np.random.default_rng(seed)
        text = SEED_TEXT.read_text(encoding="utf-8") if SEED_TEXT.exists() else ""
        real = sorted(set(re.findall(r"[a-zàâçéèêëîïôûùüÿœ]{3,}", text.lower())))
        invented = sorted({"".join(self.rng.choice(self.SYLLABLES, size=int(self.rng.integers(2, 5)))) for _ in range(40_000)})
        self.vocabulary = real + invented
        weights = 1.0 / np.arange(1, len(self.vocabulary) + 1) ** 1.05
        self.weights = weights / weights.sum()
        self._pool: list[int] = []
        self._pool_size = pool

    def _word(self) -> str:
        if not self._pool:
            self._pool = self.rng.choice(len(self.vocabulary), size=self._pool_size, p=self.weights).tolist()
        return self.vocabulary[self._pool.pop()]

    def sentence(self) -> str:
        words = [self._word() for _ in range(int(self.rng.integers(8, 22)))]
        if self.rng.random() < 0.5:
            words.insert(int(self.rng.integers(1, len(words))), f"{int(self.rng.integers(1, 100))} %")
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def paragraph(self, limit: int = 560) -> str:
        sentences: list[str] = []
        while True:
            sentence = self.sentence()
            if sentences and sum(len(s) + 1 for s in sentences) + len(sentence) > limit:
                return " ".join(sentences)
            sentences.append(sentence)

    def question(self) -> str:
        words = [self._word() for _ in range(int(self.rng.integers(4, 9)))]
        return "Que dit le document sur " + " ".join(words) + " ?"

    def document(self, title: str, paragraphs: int = CHUNKS_PER_DOC) -> str:
        parts = [f"# {title}\n"]
        for index in range(paragraphs):
            if index % 10 == 0:
                parts.append(f"## Partie {index // 10 + 1} : {self.sentence()[:60].rstrip('.')}\n")
            parts.append(self.paragraph() + "\n")
        return "\n".join(parts)


def write_documents(folder: Path, start: int, stop: int, text: SyntheticText, prefix: str = "synthetique") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number in range(start, stop):
        path = folder / f"{prefix}-{number:05d}.md"
        path.write_text(text.document(f"Document synthétique n°{number}"), encoding="utf-8")
        written.append(path)
    return written


@dataclass
class ScaleRow:
    chunks: int
    backend: str
    retrieval_p95_ms: float
    startup_s: float
    rss_mb: float
    add_document_s: float
    retrieval_p50_ms: float = 0.0
    startup_cold_s: float = 0.0
    startup_after_add_s: float = 0.0
    import_s: float = 0.0
    sentences_p95_ms: float = 0.0
    add_document_chunks: int = 0
    build_s: float = 0.0
    documents: int = 0
    server_rss_mb: float | None = None
    embeddings: str = STAND_IN


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTE_RAG_")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NOTE_RAG_CONFIG"] = os.devnull
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    env.update(extra)
    return env


def _worker(args: list[str], chroma_url: str | None, timeout: float = 7200.0) -> tuple[dict[str, Any], float]:
    """Run ``python -m evals.scale ARGS`` in a fresh process: (its JSON answer, its peak RSS)."""
    from .procs import run_measured

    extra = {"NOTE_RAG_CHROMA_URL": chroma_url} if chroma_url else {}
    done = run_measured([sys.executable, "-m", "evals.scale", *args], env=_env(**extra), cwd=REPO, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"python -m evals.scale {' '.join(args[:1])} a échoué ({done.returncode}) : {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.peak_rss_mb


def run_scale(
    sizes: tuple[int, ...] | list[int],
    backends: tuple[str, ...] | list[str],
    work: Path,
    queries: int = 100,
    say: Callable[[str], None] = print,
) -> list[ScaleRow]:
    """Grow one synthetic corpus through ``sizes`` on each backend and measure each step."""
    from .procs import start_chroma

    rows: list[ScaleRow] = []
    for backend in backends:
        root = work / backend
        shutil.rmtree(root, ignore_errors=True)
        corpus, extra = root / "corpus", root / "added"
        writer_dir, reader_dir = root / "writer", root / ("reader" if backend == "server" else "writer")
        server = start_chroma(root / "chroma-server", env=_env()) if backend == "server" else None
        url = server.url if server else None
        text = SyntheticText(seed=11)
        written = 0
        try:
            for size in sorted(sizes):
                wanted = max(1, math.ceil(size / CHUNKS_PER_DOC))
                write_documents(corpus, written, wanted, text)
                written = wanted
                say(f"[scale] {backend} : indexation jusqu'à ~{size} chunks ({wanted} documents)…")
                built, _ = _worker(["ingest", "--index", str(writer_dir), str(corpus)], url)
                shutil.rmtree(reader_dir / "cache", ignore_errors=True)
                probe = ["probe", "--index", str(reader_dir), "--queries", str(queries)]
                cold, _ = _worker(probe, url)
                warm, rss = _worker(probe, url)
                new_doc = write_documents(extra, size, size + 1, text, prefix="ajout")[0]
                added, _ = _worker(["ingest", "--index", str(writer_dir), str(new_doc)], url)
                after, _ = _worker([*probe[:3], "--queries", "5"], url)
                row = ScaleRow(
                    chunks=int(warm["chunks"]),
                    backend=backend,
                    retrieval_p95_ms=warm["retrieval_p95_ms"],
                    startup_s=warm["startup_s"],
                    rss_mb=round(rss, 1),
                    add_document_s=added["seconds"],
                    retrieval_p50_ms=warm["retrieval_p50_ms"],
                    startup_cold_s=cold["startup_s"],
                    startup_after_add_s=after["startup_s"],
                    import_s=warm["import_s"],
                    sentences_p95_ms=warm["sentences_p95_ms"],
                    add_document_chunks=added["chunks_added"],
                    build_s=built["seconds"],
                    documents=int(warm["documents"]),
                    server_rss_mb=round(server.peak_rss_mb() or 0, 1) if server else None,
                )
                say(
                    f"[scale] {backend} {row.chunks} chunks : recherche p95 {row.retrieval_p95_ms:.1f} ms, démarrage {row.startup_s:.2f} s "
                    f"(à froid {row.startup_cold_s:.1f} s, après ajout {row.startup_after_add_s:.2f} s), {row.rss_mb:.0f} Mo, "
                    f"ajout d'un document {row.add_document_s:.2f} s"
                )
                rows.append(row)
        finally:
            if server is not None:
                server.stop()
    return rows


# ----------------------------------------------------------------------------------------------
# workers (fresh processes)


def _ingest_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.scale ingest")
    parser.add_argument("--index", required=True)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    import chromadb  # noqa: F401 - imports are not what is measured (the probe counts them apart)

    from ingest import build_index
    from ingest.settings import get_settings

    settings = get_settings(index_dir=args.index, embeddings=STAND_IN)
    started = time.perf_counter()
    report = build_index(args.paths, settings=settings, progress=False)
    seconds = time.perf_counter() - started
    if not report.ok:
        print(json.dumps([d.error for d in report.failed], ensure_ascii=False), file=sys.stderr)
        return 1
    print(json.dumps({"seconds": round(seconds, 3), "chunks_total": report.chunks_total, "chunks_added": report.chunks_added, "generation": report.generation}))
    return 0


def _probe_main(argv: list[str]) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="python -m evals.scale probe")
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args(argv)
    import chromadb  # noqa: F401 - a fixed cost, counted with the imports

    from assistant import Assistant
    from ingest.settings import get_settings

    import_s = time.perf_counter() - started
    settings = get_settings(index_dir=args.index, mode="extractive")
    text = SyntheticText(seed=99, pool=20_000)
    questions = [text.question() for _ in range(args.queries + 3)]
    began = time.perf_counter()
    assistant = Assistant(settings=settings)
    loaded = assistant.retriever.refresh()
    load_s = time.perf_counter() - began
    retriever = assistant.retriever
    retriever.search(questions[0], k=6, loaded=loaded)  # ready: Chroma has its index in memory
    startup = time.perf_counter() - began
    search_times, sentence_times = [], []
    for index, question in enumerate(questions):
        began = time.perf_counter()
        passages = retriever.search(question, k=6, loaded=loaded)
        elapsed = time.perf_counter() - began
        began = time.perf_counter()
        retriever.sentences([p.chunk.id for p in passages], loaded)
        if index >= 3:  # the first searches warm caches up
            search_times.append(elapsed)
            sentence_times.append(time.perf_counter() - began)
    print(
        json.dumps(
            {
                "import_s": round(import_s, 3),
                "startup_s": round(startup, 3),
                "load_s": round(load_s, 3),
                "cache": getattr(loaded, "source", ""),
                "chunks": len(loaded.chunks),
                "documents": len({c.doc_id for c in loaded.chunks}),
                "retrieval_p50_ms": round(float(np.percentile(search_times, 50)) * 1000, 2),
                "retrieval_p95_ms": round(float(np.percentile(search_times, 95)) * 1000, 2),
                "sentences_p95_ms": round(float(np.percentile(sentence_times, 95)) * 1000, 2),
            }
        )
    )
    return 0


# ----------------------------------------------------------------------------------------------
# report


def scale_table(rows: list[ScaleRow] | list[dict]) -> str:
    """The Markdown table of the scale simulation."""
    lines = [
        "| chunks | backend | retrieval p50 / p95 | start-up (cache) | start-up, empty cache | first start after an add | RSS reader | add one document | Chroma server RSS |",
        "|---:|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row if isinstance(row, dict) else asdict(row)
        server = f"{r['server_rss_mb']:.0f} MB" if r.get("server_rss_mb") else "–"
        lines.append(
            f"| {r['chunks']:,} | {r['backend']} | {r['retrieval_p50_ms']:.1f} / {r['retrieval_p95_ms']:.1f} ms | {r['startup_s']:.2f} s | "
            f"{r['startup_cold_s']:.1f} s | {r['startup_after_add_s']:.2f} s | {r['rss_mb']:.0f} MB | "
            f"{r['add_document_s']:.2f} s ({r['add_document_chunks']} chunks) | {server} |"
        )
    return "\n".join(lines)


SCALE_NOTE = (
    f"Synthetic corpora embedded by `{STAND_IN}`, a deterministic stand-in (signed feature hashing of words, "
    "no model): storage and retrieval are measured, not the embedder (a real model adds its embedding time "
    "to an added document). Start-up is `Assistant()` until its first search returned, after the Python imports "
    "(`import_s` in the JSON, about 2 s); a reader keeps its copy of each generation on disk (`index_dir/cache`)."
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"]:
        return _probe_main(argv[1:])
    if argv[:1] == ["ingest"]:
        return _ingest_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m evals scale", description="Simulation de montée en charge (corpus synthétiques).")
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="tailles en chunks (défaut : 1000,10000,100000)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="embedded, server (défaut : les deux)")
    parser.add_argument("--queries", type=int, default=100, help="questions par mesure de recherche")
    parser.add_argument("--out", required=True, help="dossier du rapport (scale.md, scale.json, scale.png)")
    parser.add_argument("--work", default=None, help="dossier de travail (défaut : OUT/work, effacé à la fin)")
    args = parser.parse_args(argv)
    from ingest.settings import offline_environment

    offline_environment()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not sizes or min(sizes) < 1:
        print(f"erreur : tailles ou backends invalides ({', '.join(unknown) or args.sizes})", file=sys.stderr)
        return 2
    out = Path(args.out).expanduser()
    work = Path(args.work).expanduser() if args.work else out / "work"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = run_scale(sizes, backends, work, args.queries)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    from .plots import scale_plot

    plot = scale_plot([asdict(r) for r in rows], out / "scale.png")
    command = "python -m evals scale " + " ".join(argv)
    (out / "scale.json").write_text(
        json.dumps({"command": command, "stand_in": STAND_IN, "seconds": round(time.perf_counter() - started, 1), "scale": [asdict(r) for r in rows]}, indent=2),
        encoding="utf-8",
    )
    (out / "scale.md").write_text(f"# Scale simulation\n\n`{command}`\n\n{SCALE_NOTE}\n\n{scale_table(rows)}\n\n![scale]({plot.name})\n", encoding="utf-8")
    print(scale_table(rows))
    print(f"rapport : {out / 'scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
