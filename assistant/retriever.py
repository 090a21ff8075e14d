"""Hybrid retrieval: dense (Chroma, the index's embeddings) + BM25 (French stems), fused by RRF.

Dense search understands paraphrases and other languages; BM25 nails exact names, acronyms
and figures ("CSIRT", "ISO 27001", "2018"). Reciprocal rank fusion combines their rankings
without having to calibrate their scores against each other. Near-duplicate passages (the
same text indexed twice, from a PDF and its Markdown) are removed so the k passages given to
the answerer say k different things.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ingest.embeddings import NoteRagEmbeddings, get_embeddings
from ingest.settings import Settings
from ingest.store import Generation, IndexStore, StoredChunk

from .lexical import acronyms_in, tokens


def idf_table(chunk_tokens: list[list[str]]) -> dict[str, float]:
    """Smoothed IDF of every stem over the indexed passages (weights of a question's key terms)."""
    n = len(chunk_tokens)
    df: dict[str, int] = {}
    for toks in chunk_tokens:
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

RetrieverKind = Literal["hybrid", "dense", "bm25"]
RRF_K = 60
FILTER_KEYS = ("kind", "year", "doc_id")


@dataclass
class ScoredChunk:
    chunk: StoredChunk
    score: float  # fused score (RRF), or the single retriever's score
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None


@dataclass
class SentenceRecord:
    """A quotable unit of a chunk (a sentence, a list with its lead-in, a table row) and its vector."""

    id: str
    chunk_id: str
    text: str
    position: int
    vector: np.ndarray
    kind: str = "sentence"


@dataclass
class _LoadedGeneration:
    generation: Generation
    chunks: list[StoredChunk]
    by_id: dict[str, StoredChunk]
    bm25: Any
    idf: dict[str, float]
    filters_values: dict[str, list[Any]] = field(default_factory=dict)
    acronyms: dict[str, str] = field(default_factory=dict)  # as the indexed documents define them


def _where(filters: dict[str, Any] | None) -> dict | None:
    """Chroma ``where`` from {"kind": "barometre", "year": 2023, "doc_id": [..]} (lists mean "any of")."""
    clauses = []
    for key, value in (filters or {}).items():
        if key not in FILTER_KEYS or value in (None, "", []):
            continue
        if isinstance(value, (list, tuple, set)):
            values = [int(v) if key == "year" else v for v in value]
            clauses.append({key: {"$in": values}} if len(values) > 1 else {key: values[0]})
        else:
            clauses.append({key: int(value) if key == "year" else value})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _matches(chunk: StoredChunk, filters: dict[str, Any] | None) -> bool:
    for key, value in (filters or {}).items():
        if key not in FILTER_KEYS or value in (None, "", []):
            continue
        allowed = value if isinstance(value, (list, tuple, set)) else [value]
        allowed = {int(v) if key == "year" else v for v in allowed}
        if getattr(chunk, key) not in allowed:
            return False
    return True


def _shingles(text: str) -> set[str]:
    toks = text.lower().split()
    return {" ".join(toks[i : i + 3]) for i in range(max(1, len(toks) - 2))}


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    sa, sb = _shingles(a), _shingles(b)
    return bool(sa and sb) and len(sa & sb) / len(sa | sb) >= threshold


class HybridRetriever:
    """Reads the current index generation; reloads by itself when a new one is committed."""

    def __init__(self, settings: Settings, embeddings: NoteRagEmbeddings | None = None):
        self.settings = settings
        self.store = IndexStore(settings)
        self._explicit_embeddings = embeddings
        self._embeddings = embeddings
        self._loaded: _LoadedGeneration | None = None
        self._lock = threading.Lock()

    # -- index state ---------------------------------------------------------------------------

    def _requested_embeddings(self) -> str | None:
        """The backend the user asked for explicitly (else: whatever built the index)."""
        if self._explicit_embeddings is not None:
            return self._explicit_embeddings.name
        return self.settings.embeddings if "embeddings" in self.settings.model_fields_set else None

    def refresh(self) -> "_LoadedGeneration":
        """The newest complete generation (reloaded only when an ingest committed a new one).

        Callers answering one question take it once and pass it along (``loaded=``), so the
        whole answer reads one index version even if an upload commits another meanwhile.
        """
        return self._load_current()

    def _load_current(self) -> _LoadedGeneration:
        with self._lock:
            generation = self.store.require_current(self._requested_embeddings())
            if self._loaded is not None and self._loaded.generation.number == generation.number:
                return self._loaded
            chunks = generation.all_chunks()
            import bm25s

            chunk_tokens = [tokens(c.embedding_text()) or ["∅"] for c in chunks]
            bm25 = bm25s.BM25()
            bm25.index(chunk_tokens, show_progress=False)
            values = {
                "kind": sorted({c.kind for c in chunks}),
                "year": sorted({c.year for c in chunks if c.year is not None}),
                "doc_id": sorted({c.doc_id for c in chunks}),
            }
            self._loaded = _LoadedGeneration(
                generation, chunks, {c.id: c for c in chunks}, bm25, idf_table(chunk_tokens), values, acronyms_in([c.text for c in chunks])
            )
            if self._explicit_embeddings is None and (self._embeddings is None or self._embeddings.name != generation.embeddings_name):
                self._embeddings = get_embeddings(generation.embeddings_name)  # rebuilt with another backend
            return self._loaded

    @property
    def idf(self) -> dict[str, float]:
        return self.refresh().idf

    @property
    def embeddings(self) -> NoteRagEmbeddings:
        if self._embeddings is None:
            self.refresh()
        assert self._embeddings is not None
        return self._embeddings

    def filter_values(self) -> dict[str, list[Any]]:
        """Values present in the index for each filter (for the UI's drop-downs)."""
        return self.refresh().filters_values

    def documents(self) -> list[tuple[str, str, str, int | None]]:
        """(doc_id, title, kind, year) of every indexed document."""
        seen: dict[str, tuple[str, str, str, int | None]] = {}
        for chunk in self.refresh().chunks:
            seen.setdefault(chunk.doc_id, (chunk.doc_id, chunk.title, chunk.kind, chunk.year))
        return list(seen.values())

    # -- search --------------------------------------------------------------------------------

    def dense(self, query_vector: np.ndarray, n: int, filters: dict | None, loaded: _LoadedGeneration | None = None) -> list[tuple[StoredChunk, float]]:
        loaded = loaded or self.refresh()
        total = len(loaded.chunks)
        if total == 0:
            return []
        result = loaded.generation.chunks.query(
            query_embeddings=[query_vector.tolist()],
            n_results=min(n, total),
            where=_where(filters),
            include=["distances"],
        )
        return [(loaded.by_id[i], 1.0 - d) for i, d in zip(result["ids"][0], result["distances"][0]) if i in loaded.by_id]

    def lexical(self, query: str, n: int, filters: dict | None, loaded: _LoadedGeneration | None = None) -> list[tuple[StoredChunk, float]]:
        loaded = loaded or self.refresh()
        query_tokens = tokens(query)
        if not query_tokens or not loaded.chunks:
            return []
        scores = loaded.bm25.get_scores(query_tokens)
        order = np.argsort(-scores)
        ranked = [(loaded.chunks[i], float(scores[i])) for i in order if scores[i] > 0 and _matches(loaded.chunks[i], filters)]
        return ranked[:n]

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: dict | None = None,
        kind: RetrieverKind | None = None,
        lexical_query: str | None = None,
        query_vector: np.ndarray | None = None,
        loaded: _LoadedGeneration | None = None,
    ) -> list[ScoredChunk]:
        """Top-k passages for ``query`` (``lexical_query`` lets BM25 see translated terms)."""
        loaded = loaded or self.refresh()
        k = k or self.settings.top_k
        kind = kind or self.settings.retriever
        depth = max(4 * k, 20)
        results: dict[str, ScoredChunk] = {}
        if kind in ("hybrid", "dense"):
            vector = query_vector if query_vector is not None else self.embeddings.embed_query_array(query)
            for rank, (chunk, score) in enumerate(self.dense(vector, depth, filters, loaded)):
                entry = results.setdefault(chunk.id, ScoredChunk(chunk, 0.0))
                entry.dense_rank, entry.dense_score = rank, score
                entry.score += 1.0 / (RRF_K + rank + 1) if kind == "hybrid" else score
        if kind in ("hybrid", "bm25"):
            for rank, (chunk, score) in enumerate(self.lexical(lexical_query or query, depth, filters, loaded)):
                entry = results.setdefault(chunk.id, ScoredChunk(chunk, 0.0))
                entry.bm25_rank, entry.bm25_score = rank, score
                entry.score += 1.0 / (RRF_K + rank + 1) if kind == "hybrid" else score
        ranked = sorted(results.values(), key=lambda s: -s.score)
        unique: list[ScoredChunk] = []
        for candidate in ranked:
            if any(near_duplicate(candidate.chunk.text, kept.chunk.text) for kept in unique):
                continue
            unique.append(candidate)
            if len(unique) >= k:
                break
        return unique

    def sentences(self, chunk_ids: list[str], loaded: _LoadedGeneration | None = None) -> list[SentenceRecord]:
        """The embedded sentences of the given chunks (captions were never embedded)."""
        if not chunk_ids:
            return []
        loaded = loaded or self.refresh()
        where = {"chunk_id": chunk_ids[0]} if len(chunk_ids) == 1 else {"chunk_id": {"$in": chunk_ids}}
        records = loaded.generation.sentences.get(where=where, include=["embeddings", "documents", "metadatas"])
        return [
            SentenceRecord(
                id=i, chunk_id=m["chunk_id"], text=d, position=int(m.get("position", 0)), vector=np.asarray(v, dtype=np.float32),
                kind=str(m.get("unit", "sentence")),
            )
            for i, d, m, v in zip(records["ids"], records["documents"], records["metadatas"], records["embeddings"])
        ]

    @staticmethod
    def expand_acronyms(query: str, loaded: "_LoadedGeneration") -> str:
        """The query with the long form of each acronym it uses, as the documents define it ("CSIRT")."""
        written = re.findall(r"\b[A-ZÀ-Þ][A-ZÀ-Þ0-9&]{1,9}\b", query)  # an acronym is written in capitals
        found = [loaded.acronyms[w.lower()] for w in dict.fromkeys(written) if w.lower() in loaded.acronyms]
        return " ".join([query, *found])
