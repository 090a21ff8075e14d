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

Cache files hold data only, never code: numeric arrays of a few fixed types and UTF-8 JSON
(see ``_write``). Whoever can write to the index folder can at worst alter data (as they could
alter the index itself; a file whose arrays do not fit together is rebuilt), never make the
application run anything. Files of the earlier format (``.pkl``) are never opened: no name
this module reads ends that way, and the format is part of the folder's name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from ingest import models as ingest_models
from ingest import store as ingest_store
from ingest.settings import Settings
from ingest.store import Generation, StoredChunk, split_record_id

from . import lexical
from .lexical import tokens

log = logging.getLogger("note_rag.index_cache")

FORMAT = "3"  # 3: numeric arrays and JSON (2: a Python object serialisation, which can run code when read)
SUFFIX = ".cache"
K1, B = 1.5, 0.75  # bm25s defaults (Lucene variant), which the retriever was tuned with
EMPTY = "∅"  # stands for a chunk without any stem, as before
KEEP_GENERATIONS = 3
T = TypeVar("T")


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

    def arrays(self) -> dict[str, np.ndarray]:
        return {"bm25_data": self.data, "bm25_indices": self.indices, "bm25_indptr": self.indptr, "bm25_df": self.df}

    @classmethod
    def from_arrays(cls, terms: list[str], num_docs: int, arrays: dict[str, np.ndarray]) -> "SparseBM25":
        bm25 = cls(terms, arrays["bm25_data"], arrays["bm25_indices"], arrays["bm25_indptr"], num_docs, arrays["bm25_df"])
        _expect(
            len(bm25.indptr) == len(terms) + 1
            and len(bm25.df) == len(terms)
            and int(bm25.indptr[-1]) == len(bm25.data) == len(bm25.indices)
            and bool(np.all(np.diff(bm25.indptr) >= 0))
            and (not len(bm25.indices) or (int(bm25.indices.min()) >= 0 and int(bm25.indices.max()) < num_docs))
        )
        return bm25


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

    def to_file(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"records": [list(record) for record in self.records], "terms": self.terms}
        return meta, {"indptr": self.indptr, "indices": self.indices, "counts": self.counts, "lengths": self.lengths}

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "VersionData":
        records = [(str(i), str(t), dict(m)) for i, t, m in meta["records"]]
        data = cls(records, [str(t) for t in meta["terms"]], arrays["indptr"], arrays["indices"], arrays["counts"], arrays["lengths"])
        _check_rows(data.indptr, data.indices, data.lengths, len(records), len(data.terms))
        _expect(len(data.counts) == len(data.indices))
        return data


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

    def to_file(self, bm25: SparseBM25) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        columns, codes = _encode_columns({name: [getattr(c, name) for c in self.chunks] for name in FIELDS})
        meta = {"fields": FIELDS, "columns": columns, "versions": self.versions, "terms": self.terms, "num_docs": bm25.num_docs}
        arrays = {"indptr": self.indptr, "cols": self.cols, "tf": self.tf, "lengths": self.lengths, **bm25.arrays(), **codes}
        return meta, arrays

    @classmethod
    def from_file(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> "tuple[_Known, SparseBM25] | None":
        """The generation and its BM25 matrix; None for a file of other chunk fields (rebuilt)."""
        if meta.get("fields") != FIELDS:
            return None
        chunks = [StoredChunk(*row) for row in zip(*_decode_columns(meta["columns"], arrays, FIELDS))]
        terms = [str(t) for t in meta["terms"]]
        versions = [(str(v), int(start), int(end)) for v, start, end in meta["versions"]]
        known = cls(versions, chunks, terms, arrays["indptr"], arrays["cols"], arrays["tf"], arrays["lengths"])
        _check_rows(known.indptr, known.cols, known.lengths, len(chunks), len(terms))
        _expect(len(known.tf) == len(known.cols) and all(0 <= a <= b <= len(chunks) for _, a, b in versions))
        return known, SparseBM25.from_arrays(terms, len(chunks), arrays)


def _fingerprint() -> str:
    """Changes when the stemmer, the text it is given, the stored chunk or this format change."""
    digest = hashlib.sha256(FORMAT.encode())
    for module in (lexical, ingest_models, ingest_store):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


class DamagedCache(ValueError):
    """A cache file whose arrays do not fit together: it is rebuilt, never used."""


def _expect(condition: bool) -> None:
    if not condition:
        raise DamagedCache("tableaux incohérents")


def _check_rows(indptr: np.ndarray, columns: np.ndarray, lengths: np.ndarray, rows: int, terms: int) -> None:
    """A CSR matrix of ``rows`` rows over ``terms`` stems, as this module writes it: a file
    that passes cannot make a search index out of bounds."""
    _expect(
        len(indptr) == rows + 1
        and len(lengths) == rows
        and int(indptr[0]) == 0
        and int(indptr[-1]) == len(columns)
        and bool(np.all(np.diff(indptr) >= 0))
        and (not len(columns) or (int(columns.min()) >= 0 and int(columns.max()) < terms))
    )


def _encode_columns(columns: dict[str, list]) -> tuple[dict[str, dict[str, list]], dict[str, np.ndarray]]:
    """Chunk fields as JSON: a column of few distinct values (title, kind, label: one per
    document) as its values and an array of codes, the others (text, id) as they are."""
    spec: dict[str, dict[str, list]] = {}
    codes: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        index: dict[Any, int] = {}
        numbers = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int32, count=len(values))
        if len(index) > len(values) // 2:
            spec[name] = {"values": values}
        else:
            spec[name] = {"distinct": list(index)}
            codes[f"codes_{name}"] = numbers
    return spec, codes


def _decode_columns(spec: dict[str, dict[str, list]], arrays: dict[str, np.ndarray], names: list[str]) -> list[list]:
    columns: list[list] = []
    for name in names:
        column = spec[name]
        if "values" in column:
            columns.append(list(column["values"]))
            continue
        distinct, numbers = column["distinct"], arrays[f"codes_{name}"]
        _expect(not len(numbers) or (int(numbers.min()) >= 0 and int(numbers.max()) < len(distinct)))
        columns.append([distinct[0]] * len(numbers) if len(distinct) == 1 else [distinct[i] for i in numbers.tolist()])
    _expect(len({len(c) for c in columns}) <= 1)
    return columns


# A cache file: MAGIC, the length of a JSON header (8 bytes, little-endian), the header
# ({"format", "meta", "arrays": [[name, dtype, length], ...]}), then each array's raw bytes,
# padded to 8 bytes. Only the numeric types below can be named, so reading a file, whoever
# wrote it, builds numbers and JSON values and nothing else. Not NumPy's .npz: its zip layer
# checks a CRC over every byte, which made a 100k-chunk generation 0.4 s slower to open.
MAGIC = b"note-rag reader cache\n"
DTYPES = {name: np.dtype(name) for name in ("<i4", "<i8", "<f4", "<f8")}
_ALIGN = 8


def _write(path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """``meta`` (JSON) and numeric ``arrays`` in one file, written whole or not at all."""
    layout = []
    for name, array in arrays.items():
        kind = array.dtype.newbyteorder("<").str  # written little-endian whatever the machine
        if kind not in DTYPES or array.ndim != 1:
            raise TypeError(f"cache: {name} is not a flat array of {', '.join(DTYPES)} ({array.dtype}, {array.ndim} dimensions)")
        layout.append([name, kind, int(len(array))])
    header = json.dumps({"format": FORMAT, "meta": meta, "arrays": layout}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False) as handle:
        handle.write(MAGIC + len(header).to_bytes(8, "little") + header)
        handle.write(b"\0" * (-handle.tell() % _ALIGN))
        for (name, kind, _), array in zip(layout, arrays.values()):
            data = np.ascontiguousarray(array, dtype=DTYPES[kind]).tobytes()
            handle.write(data + b"\0" * (-len(data) % _ALIGN))
        temporary = Path(handle.name)
    os.replace(temporary, path)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(meta, arrays) of a cache file, or None when it is absent, of another format or damaged."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise DamagedCache("pas un fichier de cache de note-rag")
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                return None
            handle.seek(-handle.tell() % _ALIGN, os.SEEK_CUR)
            body = np.fromfile(handle, dtype=np.uint8)
        arrays: dict[str, np.ndarray] = {}
        offset = 0
        for name, kind, length in header["arrays"]:
            dtype = DTYPES[kind]  # a KeyError for any other type: the file is refused
            end = offset + int(length) * dtype.itemsize
            _expect(0 <= int(length) and end <= len(body))
            arrays[str(name)] = body[offset:end].view(dtype)
            offset = end + (-end % _ALIGN)
        return header["meta"], arrays
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - a damaged or foreign cache file is rebuilt, never trusted
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

    def _save(self, path: Path, contents: tuple[dict[str, Any], dict[str, np.ndarray]]) -> None:
        if not self.writable:
            return
        try:
            _write(path, *contents)
        except OSError as error:
            self.writable = False
            log.warning("cache de lecture non écrit dans %s (%s) : chaque démarrage relira l'index", self.root, error)

    def _path(self, generation: Generation) -> Path:
        return self.root / f"g{generation.number}-{generation.uid}{SUFFIX}"

    def load(self, generation: Generation) -> LoadedIndex:
        path = self._path(generation)
        found = _from_file(path, _Known.from_file)
        if found is not None:
            known, bm25 = found
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
        self._save(path, known.to_file(bm25))
        self._prune(generation)

    def _latest_file(self) -> _Known | None:
        """The newest generation this machine cached (a reader restarted after an ingest)."""
        try:
            files = sorted(self.root.glob(f"g*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return None
        for candidate in files[:1]:
            found = _from_file(candidate, _Known.from_file)
            if found is not None:
                return found[0]
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
            cached = _from_file(self.root / "versions" / f"{version}{SUFFIX}", VersionData.from_file)
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
                self._save(self.root / "versions" / f"{version}{SUFFIX}", data.to_file())
                found[version] = data
        return found

    def _prune(self, generation: Generation) -> None:
        """Keep the newest generation files and the versions they may need; an hour's grace
        for files another process on this machine may be using or writing."""
        if not self.writable:
            return
        try:
            now = time.time()
            files = sorted(self.root.glob(f"g*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in files[KEEP_GENERATIONS:]:
                if now - old.stat().st_mtime > 3600:
                    old.unlink(missing_ok=True)
            live = set((generation.versions or {}).values())
            for old in (self.root / "versions").glob(f"*{SUFFIX}"):
                if old.stem not in live and now - old.stat().st_mtime > 3600:
                    old.unlink(missing_ok=True)
        except OSError:
            pass



def _from_file(path: Path, parse: Callable[[dict[str, Any], dict[str, np.ndarray]], T]) -> T | None:
    """What ``parse`` makes of a cache file; None when the file is absent, foreign or damaged."""
    contents = _read(path)
    if contents is None:
        return None
    try:
        return parse(*contents)
    except Exception as error:  # noqa: BLE001 - see _read
        log.warning("cache illisible, reconstruit : %s (%s)", path, error)
        return None
