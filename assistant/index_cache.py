"""A reader's copy of an index generation: its chunks, BM25 and IDF, kept on disk.

Dense search runs inside Chroma, but BM25 needs every chunk's stems in memory. Rebuilding that
from Chroma at each start was the cost that grew with the corpus (100k chunks: ~5 s to read
them over HTTP, ~24 s to stem them, ~4 s to index them). Here each *document version* is read
and stemmed once per machine and stored under the index folder; a generation's BM25 matrix is
assembled with array operations and stored too. So:

- a reader starting on a generation it has seen loads one file;
- a reader meeting a new generation (one document added) starts from the generation it knows
  (in memory, or its file), reads and stems only the new versions, and reassembles the matrix;
- against a Chroma server, where machines share no filesystem, each reader machine keeps its
  own copy (``index_dir/cache``), built once per generation.

Cache files are keyed by the stemmer's source and this module's format: changing either
rebuilds them. Files are written to a temporary name then renamed, so readers in other
processes never see half a file; a folder that cannot be written only costs the speed-up.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ingest import models as ingest_models
from ingest import store as ingest_store
from ingest.settings import Settings
from ingest.store import Generation, StoredChunk, split_record_id

from . import lexical
from .lexical import tokens

log = logging.getLogger("note_rag.index_cache")

FORMAT = "2"
K1, B = 1.5, 0.75  # bm25s defaults (Lucene variant), which the retriever was tuned with
EMPTY = "∅"  # stands for a chunk without any stem, as before
KEEP_GENERATIONS = 3


class SparseBM25:
    """BM25 scores of every (chunk, stem) pair, column-compressed by stem.

    Same formula as ``bm25s.BM25(method="lucene")``: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
    tf part = tf / (tf + k1 (1 - b + b |d| / avgdl)); a query's score for a chunk is the sum
    over its stems (repeated stems count again). Built from arrays instead of per-document
    Python loops, so a new generation costs a few array operations.
    """

    def __init__(self, terms: list[str], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, num_docs: int, df: np.ndarray):
        self.terms = terms
        self.vocab = {term: i for i, term in enumerate(terms)}
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.num_docs = num_docs
        self.df = df

    @classmethod
    def build(cls, terms: list[str], rows: np.ndarray, cols: np.ndarray, tf: np.ndarray, lengths: np.ndarray) -> "SparseBM25":
        n = int(len(lengths))
        df = np.bincount(cols, minlength=len(terms)).astype(np.int64)
        if n == 0:
            return cls(terms, np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(len(terms) + 1, np.int64), 0, df)
        avgdl = float(lengths.mean())
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        tf = tf.astype(np.float32)
        norm = (K1 * ((1 - B) + B * lengths[rows].astype(np.float32) / np.float32(avgdl))).astype(np.float32)
        scores = (idf[cols] * (tf / (norm + tf))).astype(np.float32)
        order = np.lexsort((rows, cols))  # by stem, then chunk
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=len(terms)), out=indptr[1:])
        return cls(terms, scores[order], rows[order].astype(np.int32), indptr, n, df)

    def idf_table(self) -> dict[str, float]:
        """Stem -> IDF over the generation's chunks (what ``loaded.idf`` always held)."""
        n = self.num_docs
        return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in zip(self.terms, self.df.tolist()) if d}

    def get_scores(self, query_tokens: list[str]) -> np.ndarray:
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for token in query_tokens:
            column = self.vocab.get(token)
            if column is not None:
                start, end = self.indptr[column], self.indptr[column + 1]
                scores[self.indices[start:end]] += self.data[start:end]  # rows are unique in a column
        return scores

    def state(self) -> dict[str, Any]:
        return {"data": self.data, "indices": self.indices, "indptr": self.indptr, "num_docs": self.num_docs, "df": self.df}

    @classmethod
    def from_state(cls, terms: list[str], state: dict[str, Any]) -> "SparseBM25":
        return cls(terms, state["data"], state["indices"], state["indptr"], state["num_docs"], state["df"])


@dataclass
class VersionData:
    """One document version as this reader stemmed it (chunks in document order)."""

    records: list[tuple[str, str, dict]]  # chunk id, text, metadata
    terms: list[str]  # the version's own stems
    indptr: np.ndarray  # CSR over chunks: stem positions in ``indices`` / ``counts``
    indices: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray  # stems per chunk (BM25's document length)

    @classmethod
    def from_records(cls, records: list[tuple[str, str, dict]]) -> "VersionData":
        records = sorted(records, key=lambda r: (str(r[2].get("doc_id", "")), int(r[2].get("position", 0))))
        local: dict[str, int] = {}
        indptr = [0]
        indices: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        for chunk_id, text, meta in records:
            stems = tokens(StoredChunk.from_record(chunk_id, text, meta).embedding_text()) or [EMPTY]
            lengths.append(len(stems))
            for stem, count in Counter(stems).items():
                indices.append(local.setdefault(stem, len(local)))
                counts.append(count)
            indptr.append(len(indices))
        return cls(
            records=records,
            terms=list(local),
            indptr=np.asarray(indptr, dtype=np.int64),
            indices=np.asarray(indices, dtype=np.int32),
            counts=np.asarray(counts, dtype=np.int32),
            lengths=np.asarray(lengths, dtype=np.int32),
        )


@dataclass
class LoadedIndex:
    chunks: list[StoredChunk]
    bm25: SparseBM25
    idf: dict[str, float]
    source: str  # "disk" (its generation file) or "built" (from a known generation + new versions)


FIELDS = [f.name for f in fields(StoredChunk)]


@dataclass
class _Known:
    """A generation this reader holds: chunks and stems per chunk, by document version.

    Rows are chunks; ``cols`` are ids in ``terms``, the reader's vocabulary, which only grows
    (a stem of a removed document stays, with no chunk: BM25 and IDF ignore it)."""

    versions: list[tuple[str, int, int]]  # version, first row, end row
    chunks: list[StoredChunk]
    terms: list[str]
    indptr: np.ndarray  # rows -> positions in cols / tf
    cols: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray

    def state(self, bm25: SparseBM25) -> dict[str, Any]:
        columns = [[getattr(c, name) for c in self.chunks] for name in FIELDS]
        return {
            "fields": FIELDS,
            "columns": columns,
            "versions": self.versions,
            "terms": self.terms,
            "indptr": self.indptr,
            "cols": self.cols,
            "tf": self.tf,
            "lengths": self.lengths,
            "bm25": bm25.state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "_Known | None":
        if state.get("fields") != FIELDS:
            return None
        chunks = [StoredChunk(*row) for row in zip(*state["columns"])]
        return cls(state["versions"], chunks, state["terms"], state["indptr"], state["cols"], state["tf"], state["lengths"])


def _fingerprint() -> str:
    """Changes when the stemmer, the text it is given, the stored chunk or this format change."""
    digest = hashlib.sha256(FORMAT.encode())
    for module in (lexical, ingest_models, ingest_store):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary = Path(handle.name)
    os.replace(temporary, path)


def _read(path: Path) -> Any | None:
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
        log.warning("cache illisible, reconstruit : %s (%s)", path, error)
        return None


class ReaderCache:
    """Loads generations for one reader, through ``index_dir/cache`` on this machine."""

    def __init__(self, settings: Settings, location: str, base: str):
        store_key = hashlib.sha256(f"{location}\x1f{base}".encode()).hexdigest()[:12]
        self.root = Path(settings.index_dir) / "cache" / f"{store_key}-{_fingerprint()}"
        self.writable = True
        self._known: _Known | None = None  # the generation loaded last, kept to build the next one
        self._saving: threading.Thread | None = None

    def flush(self) -> None:
        """Wait until the last generation built here is on disk (it is written in the background)."""
        if self._saving is not None:
            self._saving.join()

    def _save(self, path: Path, value: Any) -> None:
        if not self.writable:
            return
        try:
            _write(path, value)
        except OSError as error:
            self.writable = False
            log.warning("cache de lecture non écrit dans %s (%s) : chaque démarrage relira l'index", self.root, error)

    def _path(self, generation: Generation) -> Path:
        return self.root / f"g{generation.number}-{generation.uid}.pkl"

    def load(self, generation: Generation) -> LoadedIndex:
        path = self._path(generation)
        state = _read(path)
        known = _Known.from_state(state) if state is not None else None
        if known is not None:
            bm25 = SparseBM25.from_state(known.terms, state["bm25"])
            self._known = known
            return LoadedIndex(known.chunks, bm25, bm25.idf_table(), "disk")
        known = self._assemble(generation, self._known or self._latest_file())
        bm25 = SparseBM25.build(known.terms, np.repeat(np.arange(len(known.chunks), dtype=np.int32), np.diff(known.indptr)), known.cols, known.tf, known.lengths)
        self._known = known
        if self.writable:  # the next start reads it; this one need not wait for the disk
            self.flush()
            self._saving = threading.Thread(target=self._save_generation, args=(path, known, bm25, generation), daemon=False)
            self._saving.start()
        return LoadedIndex(known.chunks, bm25, bm25.idf_table(), "built")

    def _save_generation(self, path: Path, known: _Known, bm25: SparseBM25, generation: Generation) -> None:
        self._save(path, known.state(bm25))
        self._prune(generation)

    def _latest_file(self) -> _Known | None:
        """The newest generation this machine cached (a reader restarted after an ingest)."""
        try:
            files = sorted(self.root.glob("g*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return None
        for candidate in files[:1]:
            state = _read(candidate)
            if state is not None:
                return _Known.from_state(state)
        return None

    def _assemble(self, generation: Generation, previous: _Known | None) -> _Known:
        """The generation's rows in document order: known versions sliced out of ``previous``,
        the others from this machine's version files or, failing that, from Chroma."""
        if generation.legacy:  # first layout: the whole generation is one unit
            wanted = [f"legacy-{generation.uid}"]
        else:
            wanted = [v for _, v in sorted((d, v) for d, v in (generation.versions or {}).items())]
        terms = list(previous.terms) if previous is not None else []
        vocab = {t: i for i, t in enumerate(terms)}
        rows_of = {v: (start, end) for v, start, end in previous.versions} if previous is not None else {}
        fresh = self._version_data(generation, [v for v in wanted if v not in rows_of])
        chunks: list[StoredChunk] = []
        cols, tf, counts, lengths, versions = [], [], [], [], []
        for version in wanted:
            start_row = len(chunks)
            if version in rows_of:
                start, end = rows_of[version]
                low, high = previous.indptr[start], previous.indptr[end]
                chunks.extend(previous.chunks[start:end])
                cols.append(previous.cols[low:high])
                tf.append(previous.tf[low:high])
                counts.append(np.diff(previous.indptr[start : end + 1]))
                lengths.append(previous.lengths[start:end])
            else:
                data = fresh[version]
                ids = []
                for term in data.terms:
                    index = vocab.get(term)
                    if index is None:
                        index = vocab[term] = len(terms)
                        terms.append(term)
                    ids.append(index)
                mapping = np.asarray(ids, dtype=np.int32)
                chunks.extend(StoredChunk.from_record(i, t, m) for i, t, m in data.records)
                cols.append(mapping[data.indices] if len(data.indices) else np.zeros(0, np.int32))
                tf.append(data.counts)
                counts.append(np.diff(data.indptr))
                lengths.append(data.lengths)
            versions.append((version, start_row, len(chunks)))

        def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

        indptr = np.zeros(len(chunks) + 1, dtype=np.int64)
        np.cumsum(joined(counts, np.int64), out=indptr[1:])
        return _Known(versions, chunks, terms, indptr, joined(cols, np.int32), joined(tf, np.int32), joined(lengths, np.int32))

    def _version_data(self, generation: Generation, wanted: list[str]) -> dict[str, VersionData]:
        """Stems of the given versions: this machine's version files, else read from Chroma."""
        found: dict[str, VersionData] = {}
        missing: list[str] = []
        for version in wanted:
            cached = _read(self.root / "versions" / f"{version}.pkl")
            if cached is None:
                missing.append(version)
            else:
                found[version] = cached
        if missing:
            grouped: dict[str, list[tuple[str, str, dict]]] = {v: [] for v in missing}
            for ids, texts, metas in generation.chunk_records(None if generation.legacy else missing):
                for record_id, text, meta in zip(ids, texts, metas):
                    version, chunk_id = split_record_id(record_id, generation.legacy)
                    grouped[version or missing[0]].append((chunk_id, text or "", meta or {}))
            for version, records in grouped.items():
                data = VersionData.from_records(records)
                self._save(self.root / "versions" / f"{version}.pkl", data)
                found[version] = data
        return found

    def _prune(self, generation: Generation) -> None:
        """Keep the newest generation files and the versions they may need; an hour's grace
        for files another process on this machine may be using or writing."""
        if not self.writable:
            return
        try:
            now = time.time()
            files = sorted(self.root.glob("g*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in files[KEEP_GENERATIONS:]:
                if now - old.stat().st_mtime > 3600:
                    old.unlink(missing_ok=True)
            live = set((generation.versions or {}).values())
            for old in (self.root / "versions").glob("*.pkl"):
                if old.stem not in live and now - old.stat().st_mtime > 3600:
                    old.unlink(missing_ok=True)
        except OSError:
            pass
