"""Chroma, embedded or server, organised in generations so a failed ingest never hurts the index.

Layout (all of it inside Chroma, so that a Chroma server holds the whole index state):

- ``{name}_c_{key}`` / ``{name}_s_{key}``: the *data* collections of one embeddings backend
  (``key`` names the backend), shared by every generation. Each indexed document *version*
  (a random token given to a document each time it is written) adds its chunks and sentences
  there, under ids ``{version}:{chunk_id}`` and metadata ``version``.
- ``{name}_g{N}``: generation ``N``, a small collection with one record per document (its
  version, fingerprint, chunk ids, source…) and the backend in its metadata. It lists what is
  live; nothing else is.

An ingest that changes something first names the versions it is about to write in a pending
collection ``{name}_p{token}`` (so that a run killed midway leaves records someone knows how to
delete), adds their records (unchanged documents are not touched, so adding one document costs
that document, not the corpus), writes the list of live versions into the pending collection,
then *renames* it to ``{name}_g{N+1}``, where N is the generation it started from. Chroma refuses a name that
exists: the rename is the atomic compare-and-set that publishes a generation. A writer that
loses that race (another one published first) re-reads the newest generation, merges its own
changes into it and tries again, so an ingest of document Y never drops the document X that
another machine added meanwhile. Readers open the highest generation, which is complete by
construction: a crash, an exception or a SIGKILL before the rename leaves nothing visible, and
the previous index whole and queryable.

After publishing, the writer retires generations older than the one it replaced (kept for
requests still running on it) and deletes the records of the versions only they, or runs that
never published, listed.

Writers take turns: on one machine through a ``flock`` in the index folder; against a Chroma
server, where machines share no filesystem, through a lease held in the server itself
(``ServerLease``). Indexes written by the first layout (a pair of collections per generation)
are still read, and migrated by the next ingest that changes something.

The generation metadata records the embedding backend and its dimension, so a query with
another backend is refused instead of silently returning nonsense.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlparse

import numpy as np

from .kinds import DOCUMENT_TYPE
from .models import Chunk, embedding_text
from .settings import Settings, offline_environment

LAYOUT = 2  # generation records + shared data collections (1: a copy of every record per generation)
BATCH = 500
MANIFEST_BATCH = 2000  # Chroma accepts up to ~5000 records per call


class IndexProblem(RuntimeError):
    """Base class of index problems a user can fix (message in French, says what to run)."""


class IndexMissing(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    pass


class StoreUnavailable(IndexProblem):
    pass


class IndexBusy(IndexProblem):
    """Another writer holds the index for longer than we agreed to wait."""


class LeaseLost(IndexProblem):
    """Our write lease expired or was taken over: publishing now could lose another's work."""


@dataclass
class StoredChunk:
    """A chunk as read back from Chroma (what retrieval and citations work with)."""

    id: str
    text: str
    doc_id: str
    title: str
    kind: str
    year: int | None
    page: int | None
    section: str
    source: str
    position: int
    content_hash: str
    publisher: str | None = None
    file_path: str | None = None
    doc_pages: int | None = None
    version: str | None = None  # the document version holding it (None: first index layout)
    sentence_ids: str | None = None  # JSON list of its sentence records' ids (fetched by id: fast)
    # How answers and the UI name its document (ingest.kinds): declared, never guessed.
    doc_type: str = DOCUMENT_TYPE
    label: str | None = None
    label_en: str | None = None
    label_short: str | None = None

    @classmethod
    def from_record(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> "StoredChunk":
        return cls(
            id=chunk_id,
            text=text,
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            kind=str(meta.get("kind", "document")),
            year=meta.get("year"),
            page=meta.get("page"),
            section=str(meta.get("section", "")),
            source=str(meta.get("source", "")),
            position=int(meta.get("position", 0)),
            content_hash=str(meta.get("content_hash", "")),
            publisher=meta.get("publisher"),
            file_path=meta.get("file_path"),
            doc_pages=meta.get("doc_pages"),
            version=meta.get("version"),
            sentence_ids=meta.get("sentence_ids"),
            doc_type=str(meta.get("doc_type") or DOCUMENT_TYPE),
            label=meta.get("label"),
            label_en=meta.get("label_en"),
            label_short=meta.get("label_short"),
        )

    def embedding_text(self) -> str:
        return embedding_text(self.section, self.text, self.title)


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Chroma metadata of a chunk (Chroma refuses None values: absent keys mean None)."""
    meta: dict[str, Any] = {
        "doc_id": chunk.doc.doc_id,
        "title": chunk.doc.title,
        "kind": chunk.doc.kind,
        "doc_type": chunk.doc.doc_type,
        "section": chunk.section,
        "source": chunk.doc.source,
        "position": chunk.position,
        "content_hash": chunk.content_hash,
    }
    optional = (
        ("year", chunk.doc.year),
        ("page", chunk.page),
        ("publisher", chunk.doc.publisher),
        ("license", chunk.doc.license),
        ("file_path", chunk.file_path),
        ("doc_pages", chunk.doc_pages),
        ("label", chunk.doc.label),
        ("label_en", chunk.doc.label_en),
        ("label_short", chunk.doc.label_short),
    )
    for key, value in optional:
        if value is not None:
            meta[key] = value
    return meta


def chroma_address(url: str) -> tuple[str, int, bool]:
    """(host, port, https) of a ``http://host:port`` Chroma URL."""
    parsed = urlparse(url)
    https = parsed.scheme == "https"
    return parsed.hostname or "127.0.0.1", parsed.port or (443 if https else 8000), https


def make_client(settings: Settings):
    """A Chroma client: HTTP when ``chroma_url`` is set, else persistent under ``index_dir``."""
    offline_environment()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        host, port, https = chroma_address(settings.chroma_url)
        try:  # chromadb's HTTP client waits forever on an unreachable host: check it answers first
            socket.create_connection((host, port), timeout=settings.fetch_timeout).close()
        except OSError as error:
            raise StoreUnavailable(f"serveur Chroma injoignable à {settings.chroma_url} : {error.strerror or error}") from error
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=https, settings=chroma_settings)
            client.heartbeat()
        except Exception as error:
            raise StoreUnavailable(f"serveur Chroma injoignable à {settings.chroma_url} : {error}") from error
        return client
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _name(collection: Any) -> str:
    return collection if isinstance(collection, str) else collection.name


def _missing(error: Exception) -> bool:
    """Chroma's way of saying "no such collection" (the class differs between clients)."""
    return type(error).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(error)


def backend_key(embeddings_name: str, dimension: int) -> str:
    """Short, collection-name-safe key of an embeddings backend (its data collections)."""
    return hashlib.sha256(f"{embeddings_name}\x1f{dimension}".encode()).hexdigest()[:10]


def writer_id(settings: Settings) -> str:
    """Who writes: this machine and index folder (recorded with each document it indexes)."""
    return f"{socket.gethostname()}:{Path(settings.index_dir).expanduser().resolve()}"


_GENERATION = re.compile(r"^(?P<base>.+)_g(?P<n>\d+)$")


class Generation:
    """One published version of the index: which document versions are live, and where."""

    def __init__(self, client, base: str, number: int, record, chunks, sentences, legacy: bool = False):
        self.client = client
        self.base = base
        self.number = number
        self.record = record  # the generation's own collection (its document list)
        self.chunks = chunks  # data collections (shared by generations of the same backend)
        self.sentences = sentences
        self.legacy = legacy  # first layout: ``record`` is the chunks collection itself
        self._entries: dict[str, dict[str, Any]] | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.record.metadata or {})

    @property
    def uid(self) -> str:
        """Identity of this generation (a server wiped and refilled reuses numbers, not ids)."""
        return str(self.record.id)

    @property
    def embeddings_name(self) -> str:
        return str(self.metadata.get("embeddings", ""))

    @property
    def dimension(self) -> int:
        return int(self.metadata.get("dimension", 0))

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        """doc_id -> {version, content_hash, chunks (a count), source, pages, file_path, writer}."""
        if self._entries is None:
            self._entries = self._legacy_entries() if self.legacy else self._read_entries()
        return self._entries

    def _read_entries(self) -> dict[str, dict[str, Any]]:
        records = self.record.get(include=["metadatas"])
        return {doc_id: json.loads(meta["entry"]) for doc_id, meta in zip(records["ids"], records["metadatas"])}

    def _legacy_entries(self) -> dict[str, dict[str, Any]]:
        records = self.chunks.get(include=["metadatas"])
        entries: dict[str, dict[str, Any]] = {}
        for chunk_id, meta in zip(records["ids"], records["metadatas"]):
            entry = entries.setdefault(
                meta["doc_id"],
                {
                    "version": None,
                    "content_hash": meta.get("content_hash"),
                    "chunk_ids": [],
                    "source": meta.get("source"),
                    "pages": meta.get("doc_pages"),
                    "file_path": meta.get("file_path"),
                },
            )
            entry["chunk_ids"].append(chunk_id)
        for entry in entries.values():
            entry["chunks"] = len(entry["chunk_ids"])
        return entries

    @property
    def versions(self) -> dict[str, str] | None:
        """doc_id -> live version (None for the first layout, where every record is live)."""
        if self.legacy:
            return None
        return {doc_id: entry["version"] for doc_id, entry in self.entries.items()}

    def manifest(self) -> dict[str, dict[str, Any]]:
        """doc_id -> {content_hash, chunks, embeddings, source, pages, file_path, version}."""
        return {doc_id: {**entry, "embeddings": self.embeddings_name} for doc_id, entry in self.entries.items()}

    def chunk_records(self, versions: Iterable[str] | None = None, batch: int = 100) -> Iterator[tuple[list[str], list[str], list[dict]]]:
        """(ids, texts, metadatas) of the live chunks, a batch of document versions at a time."""
        if self.legacy:
            records = self.chunks.get(include=["documents", "metadatas"])
            yield list(records["ids"]), list(records["documents"]), list(records["metadatas"])
            return
        wanted = sorted(set(versions if versions is not None else (self.versions or {}).values()))
        for start in range(0, len(wanted), batch):
            part = wanted[start : start + batch]
            records = self.chunks.get(where=in_filter("version", part), include=["documents", "metadatas"])
            yield list(records["ids"]), list(records["documents"]), list(records["metadatas"])

    def all_chunks(self) -> list[StoredChunk]:
        """Every chunk of the generation, in document order."""
        chunks = []
        for ids, texts, metas in self.chunk_records():
            for record_id, text, meta in zip(ids, texts, metas):
                chunks.append(StoredChunk.from_record(record_id.split(":", 1)[1] if not self.legacy else record_id, text or "", meta or {}))
        return sorted(chunks, key=lambda c: (c.doc_id, c.position))

    def count(self) -> int:
        return sum(int(entry.get("chunks") or 0) for entry in self.entries.values())

    def chunk_ids(self, doc_ids: Iterable[str], batch: int = 100) -> dict[str, set[str]]:
        """The chunk ids of the live version of each document (read for the documents an
        ingest changes: what the update added, kept and dropped)."""
        wanted = [d for d in dict.fromkeys(doc_ids) if d in self.entries]
        found: dict[str, set[str]] = {d: set() for d in wanted}
        if self.legacy:
            return {d: set(self.entries[d].get("chunk_ids") or []) for d in wanted}
        owner = {self.entries[d]["version"]: d for d in wanted}
        versions = sorted(owner)
        for start in range(0, len(versions), batch):
            records = self.chunks.get(where=in_filter("version", versions[start : start + batch]), include=[])
            for record_id in records["ids"]:
                version, chunk_id = split_record_id(record_id, False)
                if version in owner:
                    found[owner[version]].add(chunk_id)
        return found


def split_record_id(record_id: str, legacy: bool) -> tuple[str | None, str]:
    """(version, chunk_id) of a chunk record id (``{version}:{chunk_id}``)."""
    if legacy:
        return None, record_id
    version, _, chunk_id = record_id.partition(":")
    return version, chunk_id


class IndexStore:
    """Opens, publishes and retires generations of the note-rag index in one Chroma."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.collection
        self.client = make_client(settings)
        self._pending = None  # this writer's pending generation (lists the versions it staged)
        self._staged: list[str] = []

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(Path(self.settings.index_dir) / "chroma")

    # -- reading ---------------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return [_name(c) for c in self.client.list_collections()]

    def _generations(self) -> list[tuple[int, str]]:
        found = []
        for name in self._names():
            match = _GENERATION.match(name)
            if match and match.group("base") == self.base:
                found.append((int(match.group("n")), name))
        return sorted(found)

    def _open(self, number: int, name: str) -> Generation | None:
        try:
            record = self.client.get_collection(name, embedding_function=None)
        except Exception as error:
            if _missing(error):
                return None  # retired between the listing and now
            raise
        meta = record.metadata or {}
        if meta.get("layout") == LAYOUT:
            key = meta["data"]
            chunks = self.client.get_collection(f"{self.base}_c_{key}", embedding_function=None)
            sentences = self.client.get_collection(f"{self.base}_s_{key}", embedding_function=None)
            return Generation(self.client, self.base, number, record, chunks, sentences)
        if not meta.get("complete"):
            return None  # first layout, unfinished (an interrupted run of an older version)
        try:
            sentences = self.client.get_collection(f"{name}_s", embedding_function=None)
        except Exception as error:
            if _missing(error):
                return None
            raise
        return Generation(self.client, self.base, number, record, record, sentences, legacy=True)

    def current(self) -> Generation | None:
        """The newest published generation, or None when nothing was ever indexed."""
        for number, name in reversed(self._generations()):
            generation = self._open(number, name)
            if generation is not None:
                return generation
        return None

    def require_current(self, embeddings_name: str | None = None) -> Generation:
        generation = self.current()
        if generation is None:
            raise IndexMissing(
                f"aucun index dans {self.location} : lancez d'abord « python -m ingest » pour indexer le corpus"
            )
        if embeddings_name and generation.embeddings_name != embeddings_name:
            raise IndexMismatch(
                f"l'index a été construit avec les embeddings « {generation.embeddings_name} », pas « {embeddings_name} » : "
                "relancez « python -m ingest --rebuild » avec le backend voulu"
            )
        return generation

    # -- writing -----------------------------------------------------------------------------------

    def data_collections(self, embeddings_name: str, dimension: int):
        """The chunk and sentence collections of a backend (created on first use)."""
        key = backend_key(embeddings_name, dimension)
        meta = {"embeddings": embeddings_name, "dimension": dimension, "layout": LAYOUT}
        collections = []
        for kind in ("c", "s"):
            collections.append(
                self.client.get_or_create_collection(
                    f"{self.base}_{kind}_{key}", configuration={"hnsw": {"space": "cosine"}}, metadata=meta, embedding_function=None
                )
            )
        return key, collections[0], collections[1]

    def _declare(self, versions: Iterable[str]) -> None:
        """Record in our pending collection the versions about to be written, before writing
        them: if this run dies, the next writer to publish knows which records to delete."""
        self._staged.extend(versions)
        metadata = {"layout": LAYOUT, "complete": False, "staged": " ".join(self._staged), "started": time.time()}
        if self._pending is None:
            self._pending = self.client.create_collection(f"{self.base}_p{uuid.uuid4().hex[:12]}", metadata=metadata, embedding_function=None)
        else:
            self._pending.modify(metadata=metadata)

    def stage(
        self,
        chunks: list[Chunk],
        chunk_vectors: np.ndarray,
        sentence_records: tuple[list[str], np.ndarray, list[str], list[dict]],
        embeddings_name: str,
        dimension: int,
        writer: str,
    ) -> dict[str, dict[str, Any]]:
        """Write new document versions into the data collections; returns their entries.

        Nothing is visible until a generation lists these versions (``publish``). Sentence
        records keep their metadata as ``_embed`` made it, plus ``version``.
        """
        _, chunk_collection, sentence_collection = self.data_collections(embeddings_name, dimension)
        versions = {doc_id: uuid.uuid4().hex[:16] for doc_id in dict.fromkeys(c.doc.doc_id for c in chunks)}
        self._declare(versions.values())
        doc_of_chunk = {c.id: c.doc.doc_id for c in chunks}
        ids, vectors, texts, metas = sentence_records
        owners = [versions[doc_of_chunk[m["chunk_id"]]] for m in metas]
        sentence_ids = [f"{v}:{i}" for v, i in zip(owners, ids)]
        by_chunk: dict[str, list[str]] = {}
        for record_id, meta in zip(sentence_ids, metas):
            by_chunk.setdefault(meta["chunk_id"], []).append(record_id)
        if chunks:
            add_in_batches(
                chunk_collection,
                [f"{versions[c.doc.doc_id]}:{c.id}" for c in chunks],
                chunk_vectors,
                [c.text for c in chunks],
                [
                    {**chunk_metadata(c), "version": versions[c.doc.doc_id], "sentence_ids": json.dumps(by_chunk.get(c.id, []), ensure_ascii=False)}
                    for c in chunks
                ],
            )
        if ids:
            add_in_batches(sentence_collection, sentence_ids, vectors, list(texts), [{**m, "version": v} for v, m in zip(owners, metas)])
        entries: dict[str, dict[str, Any]] = {}
        for chunk in chunks:
            entry = entries.setdefault(
                chunk.doc.doc_id,
                {
                    "version": versions[chunk.doc.doc_id],
                    "content_hash": chunk.content_hash,
                    "chunks": 0,
                    "source": chunk.doc.source,
                    "pages": chunk.doc_pages,
                    "file_path": chunk.file_path,
                    "writer": writer,
                    "written": time.time(),
                },
            )
            entry["chunks"] += 1
        return entries

    def stage_legacy(self, base: Generation, doc_ids: list[str], writer: str) -> dict[str, dict[str, Any]]:
        """Move documents of a first-layout generation into the data collections (one-off)."""
        if not doc_ids:
            return {}
        _, chunk_collection, sentence_collection = self.data_collections(base.embeddings_name, base.dimension)
        versions = {doc_id: uuid.uuid4().hex[:16] for doc_id in doc_ids}
        self._declare(versions.values())
        by_chunk: dict[str, list[str]] = {}
        for source, target in ((base.sentences, sentence_collection), (base.chunks, chunk_collection)):
            records = source.get(where=in_filter("doc_id", doc_ids), include=["embeddings", "documents", "metadatas"])
            metas = [dict(m) for m in records["metadatas"]]
            ids = [f"{versions[m['doc_id']]}:{i}" for i, m in zip(records["ids"], metas)]
            if source is base.sentences:
                for record_id, meta in zip(ids, metas):
                    by_chunk.setdefault(meta["chunk_id"], []).append(record_id)
            else:
                metas = [{**m, "sentence_ids": json.dumps(by_chunk.get(i, []), ensure_ascii=False)} for i, m in zip(records["ids"], metas)]
            add_in_batches(
                target,
                ids,
                np.asarray(records["embeddings"], dtype=np.float32),
                list(records["documents"]),
                [{**m, "version": versions[m["doc_id"]]} for m in metas],
            )
        entries = {}
        for doc_id in doc_ids:
            entry = {k: v for k, v in base.entries[doc_id].items() if k != "chunk_ids"}
            entries[doc_id] = {**entry, "version": versions[doc_id], "writer": writer, "written": time.time()}
        return entries

    def publish(
        self,
        base: Generation | None,
        changes: dict[str, dict[str, Any] | None],
        embeddings_name: str,
        dimension: int,
        *,
        fresh: bool = False,
        check: Callable[[], None] | None = None,
        pause: Callable[[], None] | None = None,
    ) -> tuple[Generation, Generation | None]:
        """Publish ``base`` + ``changes`` (doc_id -> entry, or None to remove) as the next generation.

        ``fresh``: the new generation holds only ``changes`` (a rebuild). ``check`` raises when
        our write lease was lost; ``pause`` is the crash-test hook. When another writer
        published after ``base``, its generation becomes the base and our changes are merged
        into it: a removal applies only if nobody rewrote that document meanwhile; an added or
        updated document wins. Returns (the new generation, the one it replaced).
        """
        key = backend_key(embeddings_name, dimension)
        expected = {doc_id: (base.entries.get(doc_id) or {}).get("version") if base else None for doc_id in changes}
        if pause is not None:
            pause()
        while True:
            if check is not None:
                check()
            if base is not None and not fresh and (base.embeddings_name, base.dimension) != (embeddings_name, dimension):
                raise IndexMismatch(
                    f"l'index a été reconstruit ailleurs avec les embeddings « {base.embeddings_name} » pendant cette ingestion : "
                    "relancez la commande"
                )
            # From a first-layout generation, ``changes`` lists every surviving document
            # (the pipeline migrates the unchanged ones with ``stage_legacy``).
            start_empty = fresh or base is None or base.legacy
            entries: dict[str, dict[str, Any]] = {} if start_empty else dict(base.entries)
            for doc_id, entry in changes.items():
                if entry is not None:
                    entries[doc_id] = entry
                elif (entries.get(doc_id) or {}).get("version") == expected[doc_id]:
                    entries.pop(doc_id, None)
            number = (base.number if base is not None else 0) + 1
            metadata = {
                "layout": LAYOUT,
                "complete": True,
                "generation": number,
                "parent": base.number if base is not None else 0,
                "embeddings": embeddings_name,
                "dimension": dimension,
                "data": key,
                "documents": len(entries),
                "chunks": sum(int(e.get("chunks") or 0) for e in entries.values()),
                "committed": time.time(),
            }
            if self._pending is None:
                self._declare([])
            pending = self._pending
            previous = pending.get(include=[])["ids"]  # an earlier attempt's list (lost race)
            if previous:
                pending.delete(ids=previous)
            ids = sorted(entries)
            # One small record per document, its entry in metadata: a Chroma document would be
            # indexed for full-text search, several times slower to write.
            for start in range(0, len(ids), MANIFEST_BATCH):
                part = ids[start : start + MANIFEST_BATCH]
                pending.add(
                    ids=part,
                    embeddings=[[1.0]] * len(part),
                    metadatas=[{"version": str(entries[i].get("version")), "entry": json.dumps(entries[i], ensure_ascii=False)} for i in part],
                )
            if check is not None:
                check()
            name = f"{self.base}_g{number}"
            if self._rename(pending, name, metadata):
                self._pending, self._staged = None, []
                published = self._open(number, name)
                assert published is not None
                return published, base
            # Another writer published generation ``number`` first: merge into the newest.
            newest = self.current()
            if newest is None or (base is not None and newest.number <= base.number):
                raise IndexProblem(f"génération {number} illisible dans {self.location} : relancez la commande")
            base = newest

    def _rename(self, pending, name: str, metadata: dict[str, Any]) -> bool:
        """Rename ``pending`` to ``name``; False when the name is taken (Chroma's unique names)."""
        try:
            pending.modify(name=name, metadata=metadata)
            return True
        except Exception as error:
            try:
                existing = self.client.get_collection(name, embedding_function=None)
            except Exception as missing:
                if _missing(missing):
                    raise error from None
                raise
            if str(existing.id) == str(pending.id):
                return True  # renamed, the answer was lost on the way
            return False

    def _drop(self, name: str) -> None:
        try:
            self.client.delete_collection(name)
        except Exception as error:
            if not _missing(error):
                raise

    def retire(self, keep: Generation, replaced: Generation | None) -> None:
        """Drop generations other than ``keep`` and ``replaced``, and the records only they
        (or a run that never published) listed.

        Only a writer that has just published calls this: a writer still working from an older
        generation can no longer publish (its rename would collide), so deleting what it wrote
        cannot hurt a generation anyone will read. Records are deleted by version (an indexed
        lookup), never by scanning for what is not listed: at 100k chunks a scan of the
        collection took seconds. Records go before the lists that name them, so an
        interrupted retirement is finished by the next one.
        """
        kept = [g for g in (keep, replaced) if g is not None]
        numbers = {g.number for g in kept}
        keys = {g.metadata.get("data") for g in kept if not g.legacy}
        live = {v for g in kept if not g.legacy for v in (g.versions or {}).values()}
        names = self._names()
        prefix = re.escape(self.base)
        dropped: list[str] = []
        dead: set[str] = set()
        for number, name in self._generations():
            if number in numbers:
                continue
            generation = self._open(number, name)
            if generation is not None and not generation.legacy:
                dead.update((generation.versions or {}).values())
            dropped += [name] + ([f"{name}_s"] if f"{name}_s" in names else [])
        for name in names:
            if re.fullmatch(rf"{prefix}_p[0-9a-f]{{12}}", name):  # a run that never published
                try:
                    staged = (self.client.get_collection(name, embedding_function=None).metadata or {}).get("staged", "")
                except Exception as error:
                    if _missing(error):
                        continue
                    raise
                dead.update(str(staged).split())
                dropped.append(name)
            elif re.fullmatch(rf"{prefix}_takeover_[0-9a-f]+", name):
                dropped.append(name)
            else:
                match = re.fullmatch(rf"{prefix}_[cs]_(?P<key>[0-9a-f]{{10}})", name)
                if match and match.group("key") not in keys:
                    dropped.append(name)  # another backend's data, no longer listed
        dead -= live
        if dead:
            for name in names:
                match = re.fullmatch(rf"{prefix}_[cs]_(?P<key>[0-9a-f]{{10}})", name)
                if match and match.group("key") in keys:
                    collection = self.client.get_collection(name, embedding_function=None)
                    ordered = sorted(dead)
                    for start in range(0, len(ordered), BATCH):
                        collection.delete(where=in_filter("version", ordered[start : start + BATCH]))
        for name in dropped:
            self._drop(name)

    @contextmanager
    def lock(self) -> Iterator["WriteLock"]:
        """Exclusive right to write: a local flock, or a lease in the Chroma server."""
        if self.settings.chroma_url:
            lease = ServerLease(self.client, self.base, self.settings)
            lease.acquire()
            try:
                yield lease
            finally:
                lease.release()
        else:
            with index_lock(self.settings) as held:
                yield held


class WriteLock:
    """What a writer holds while it writes (the flock never expires: nothing to check)."""

    def check(self) -> None:
        return None


@contextmanager
def index_lock(settings: Settings) -> Iterator[WriteLock]:
    """Exclusive lock of the index for writers on this machine (blocks until free)."""
    import fcntl

    path = Path(settings.index_dir)
    path.mkdir(parents=True, exist_ok=True)
    with (path / ".ingest.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield WriteLock()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ServerLease(WriteLock):
    """The write lease of an index in a Chroma server (machines share no filesystem).

    Chroma has no compare-and-set, but it refuses to create a collection whose name exists:
    holding the lease means having created ``{name}_lease``. The holder renews it from a
    heartbeat thread (a counter in its metadata, every ``lease_seconds / 4``). A waiting writer
    watches that counter on its own clock (no clock agreement between machines is needed): if
    it has not moved for ``lease_seconds``, the holder is dead. Two waiters may see the same
    dead lease; to remove it, one must first create ``{name}_takeover_{that lease and beat}``,
    which only one of them can, and it deletes the lease only if it is still the one it
    watched. Then both race to create the lease again, and one wins.

    A holder that was frozen longer than the lease (SIGSTOP, a laptop asleep) finds its lease
    gone at its next heartbeat and refuses to publish (``check``); and even if it reached the
    publishing step, the generation rename would collide with the newer writer's.
    """

    def __init__(self, client, base: str, settings: Settings):
        self.client = client
        self.name = f"{base}_lease"
        self.base = base
        self.seconds = float(settings.lease_seconds)
        self.wait = float(settings.lease_wait)
        self.token = uuid.uuid4().hex
        self.where = settings.chroma_url or ""
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "index": str(Path(settings.index_dir).expanduser())}
        self.collection = None
        self.beat = 0
        self.renewed = 0.0
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _metadata(self) -> dict[str, Any]:
        return {"holder": self.token, "beat": self.beat, "since": time.time(), **self.info}

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        watched: tuple | None = None
        since = time.monotonic()
        told = False
        while True:
            try:
                self.collection = self.client.create_collection(self.name, metadata=self._metadata(), embedding_function=None)
                self.renewed = time.monotonic()
                self._thread = threading.Thread(target=self._heartbeat, name="note-rag-lease", daemon=True)
                self._thread.start()
                return
            except Exception as error:
                if "already exists" not in str(error) and "UNIQUE" not in str(error):
                    raise
            try:
                held = self.client.get_collection(self.name, embedding_function=None)
            except Exception as error:
                if _missing(error):
                    continue  # released meanwhile: try again at once
                raise
            meta = held.metadata or {}
            state = (str(held.id), meta.get("holder"), meta.get("beat"))
            now = time.monotonic()
            if state != watched:
                watched, since = state, now
            elif now - since >= self.seconds:
                self._take_over(state)
                watched = None
                continue
            if not told:
                print(
                    f"index occupé : {meta.get('host', '?')} (pid {meta.get('pid', '?')}, index {meta.get('index', '?')}) "
                    f"écrit dans {self.where} ; attente de son bail (expire {self.seconds:g} s après son dernier signe de vie)…",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            if now > deadline:
                raise IndexBusy(
                    f"index occupé depuis plus de {self.wait:g} s par {meta.get('host', '?')} (pid {meta.get('pid', '?')}) : "
                    "réessayez plus tard (NOTE_RAG_LEASE_WAIT règle l'attente)"
                )
            time.sleep(min(0.5, self.seconds / 6))

    def _take_over(self, state: tuple) -> None:
        """Remove a dead holder's lease, if we are the one waiter allowed to."""
        token = f"{self.base}_takeover_{hashlib.sha256(repr(state).encode()).hexdigest()[:20]}"
        try:
            self.client.create_collection(token, embedding_function=None)
        except Exception:
            return  # another waiter is removing it
        try:
            held = self.client.get_collection(self.name, embedding_function=None)
            meta = held.metadata or {}
            if (str(held.id), meta.get("holder"), meta.get("beat")) == state:
                self.client.delete_collection(self.name)
                print(f"bail de {meta.get('host', '?')} (pid {meta.get('pid', '?')}) expiré : reprise de l'écriture", file=sys.stderr, flush=True)
        except Exception as error:
            if not _missing(error):
                raise

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                held = self.client.get_collection(self.name, embedding_function=None)
                if str(held.id) != str(self.collection.id) or (held.metadata or {}).get("holder") != self.token:
                    self.lost = True
                    return
                self.beat += 1
                self.collection.modify(metadata=self._metadata())
                self.renewed = time.monotonic()
            except Exception as error:
                if _missing(error):
                    self.lost = True
                    return
                # a network hiccup: try again at the next beat; check() notices a long outage

    def check(self) -> None:
        if self.lost or time.monotonic() - self.renewed > self.seconds * 0.75:
            raise LeaseLost(
                f"le bail d'écriture sur {self.where} a expiré (processus gelé ou serveur injoignable) : "
                "un autre poste a pu écrire entre-temps ; rien n'a été publié, relancez la commande"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.collection is None or self.lost:
            return
        try:
            held = self.client.get_collection(self.name, embedding_function=None)
            if str(held.id) == str(self.collection.id):
                self.client.delete_collection(self.name)
        except Exception as error:
            if not _missing(error):
                print(f"avertissement : bail non rendu ({error}) ; il expirera dans {self.seconds:g} s", file=sys.stderr)


def add_in_batches(collection, ids: list[str], vectors: np.ndarray, documents: list[str], metadatas: list[dict], batch: int = BATCH) -> None:
    for start in range(0, len(ids), batch):
        end = start + batch
        collection.add(
            ids=ids[start:end],
            embeddings=np.asarray(vectors[start:end], dtype=np.float32),
            documents=documents[start:end],
            metadatas=metadatas[start:end],
        )


def in_filter(key: str, values: Iterable[str]) -> dict:
    values = list(values)
    return {key: values[0]} if len(values) == 1 else {key: {"$in": values}}
