"""Chroma, embedded or server, organised in generations so a failed ingest never hurts the index.

Every ingest that changes something writes a *new generation*: a pair of collections
``{name}_g{N}`` (chunks) and ``{name}_g{N}_s`` (their sentences), created with
``complete=False`` in their metadata, filled (unchanged chunks are copied with their vectors,
new ones embedded), then flagged ``complete=True``. Readers only ever open the highest complete
generation. A crash, an exception or a SIGKILL in the middle leaves an incomplete generation
that nobody reads (and the next ingest deletes): the previous index stays whole and queryable.
The same scheme works against a Chroma server, where we cannot copy folders.

The collection metadata records the embedding backend and its dimension, so a query with
another backend is refused instead of silently returning nonsense.
"""

from __future__ import annotations

import re
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

import numpy as np

from .models import Chunk, embedding_text
from .settings import Settings, offline_environment


class IndexProblem(RuntimeError):
    """Base class of index problems a user can fix (message in French, says what to run)."""


class IndexMissing(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    pass


class StoreUnavailable(IndexProblem):
    pass


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
        )

    def embedding_text(self) -> str:
        return embedding_text(self.section, self.text)


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Chroma metadata of a chunk (Chroma refuses None values: absent keys mean None)."""
    meta: dict[str, Any] = {
        "doc_id": chunk.doc.doc_id,
        "title": chunk.doc.title,
        "kind": chunk.doc.kind,
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
    )
    for key, value in optional:
        if value is not None:
            meta[key] = value
    return meta


def make_client(settings: Settings):
    """A Chroma client: HTTP when ``chroma_url`` is set, else persistent under ``index_dir``."""
    offline_environment()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        host, port = url.hostname or "127.0.0.1", url.port or (443 if url.scheme == "https" else 8000)
        try:  # chromadb's HTTP client waits forever on an unreachable host: check it answers first
            socket.create_connection((host, port), timeout=settings.fetch_timeout).close()
        except OSError as error:
            raise StoreUnavailable(f"serveur Chroma injoignable à {settings.chroma_url} : {error.strerror or error}") from error
        try:
            client = chromadb.HttpClient(
                host=host,
                port=port,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as error:
            raise StoreUnavailable(f"serveur Chroma injoignable à {settings.chroma_url} : {error}") from error
        return client
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


_GENERATION = re.compile(r"^(?P<base>.+)_g(?P<n>\d+)$")


class Generation:
    """One complete (or being written) version of the index: chunks + sentences collections."""

    def __init__(self, client, base: str, number: int, chunks, sentences):
        self.client = client
        self.base = base
        self.number = number
        self.chunks = chunks
        self.sentences = sentences

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.chunks.metadata or {})

    @property
    def embeddings_name(self) -> str:
        return str(self.metadata.get("embeddings", ""))

    @property
    def dimension(self) -> int:
        return int(self.metadata.get("dimension", 0))

    def all_chunks(self) -> list[StoredChunk]:
        """Every chunk of the generation, in document order."""
        records = self.chunks.get(include=["documents", "metadatas"])
        chunks = [
            StoredChunk.from_record(i, d or "", m or {})
            for i, d, m in zip(records["ids"], records["documents"], records["metadatas"])
        ]
        return sorted(chunks, key=lambda c: (c.doc_id, c.position))

    def manifest(self) -> dict[str, dict[str, Any]]:
        """doc_id -> {content_hash, chunk_ids, embeddings}: what is indexed, derived from Chroma."""
        records = self.chunks.get(include=["metadatas"])
        manifest: dict[str, dict[str, Any]] = {}
        for chunk_id, meta in zip(records["ids"], records["metadatas"]):
            entry = manifest.setdefault(
                meta["doc_id"],
                {
                    "content_hash": meta.get("content_hash"),
                    "chunk_ids": [],
                    "embeddings": self.embeddings_name,
                    "source": meta.get("source"),
                    "pages": meta.get("doc_pages"),
                    "file_path": meta.get("file_path"),
                },
            )
            entry["chunk_ids"].append(chunk_id)
        return manifest

    def count(self) -> int:
        return self.chunks.count()


class IndexStore:
    """Opens, creates and retires generations of the note-rag index in one Chroma."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.base = settings.collection
        self.client = make_client(settings)

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(Path(self.settings.index_dir) / "chroma")

    def _generations(self) -> list[tuple[int, Any]]:
        found = []
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            match = _GENERATION.match(name)
            if match and match.group("base") == self.base:
                found.append((int(match.group("n")), name))
        return sorted(found)

    def current(self) -> Generation | None:
        """The newest complete generation, or None when nothing was ever indexed."""
        for number, name in reversed(self._generations()):
            chunks = self.client.get_collection(name, embedding_function=None)
            if (chunks.metadata or {}).get("complete"):
                sentences = self.client.get_collection(f"{name}_s", embedding_function=None)
                return Generation(self.client, self.base, number, chunks, sentences)
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

    def begin(self, embeddings_name: str, dimension: int) -> Generation:
        """Create an incomplete generation after the newest existing one."""
        existing = self._generations()
        number = (existing[-1][0] + 1) if existing else 1
        name = f"{self.base}_g{number}"
        metadata = {"complete": False, "generation": number, "embeddings": embeddings_name, "dimension": dimension, "created": time.time()}
        chunks = self.client.create_collection(name, configuration={"hnsw": {"space": "cosine"}}, metadata=metadata, embedding_function=None)
        sentences = self.client.create_collection(f"{name}_s", configuration={"hnsw": {"space": "cosine"}}, metadata=metadata, embedding_function=None)
        return Generation(self.client, self.base, number, chunks, sentences)

    def commit(self, generation: Generation) -> None:
        """Flag ``generation`` complete (the atomic switch), then retire older ones.

        The generation it replaces is kept until the next run: a request that started on it
        (a UI answer during an upload) finishes on it instead of failing.
        """
        replaced = self.current()
        metadata = {**generation.metadata, "complete": True, "committed": time.time()}
        generation.sentences.modify(metadata=metadata)
        generation.chunks.modify(metadata=metadata)
        self.cleanup(keep={generation.number, replaced.number if replaced else generation.number})

    def cleanup(self, keep: set[int] | None = None) -> None:
        """Drop every generation not in ``keep`` (default: the current one), incomplete ones too."""
        if keep is None:
            current = self.current()
            keep = {current.number} if current else set()
        for number, name in self._generations():
            if number not in keep:
                for collection_name in (name, f"{name}_s"):
                    try:
                        self.client.delete_collection(collection_name)
                    except Exception:  # already gone (another reader's view)
                        pass


@contextmanager
def index_lock(settings: Settings) -> Iterator[None]:
    """Exclusive lock of the index for writers on this machine (blocks until free)."""
    import fcntl

    path = Path(settings.index_dir)
    path.mkdir(parents=True, exist_ok=True)
    with (path / ".ingest.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_in_batches(collection, ids: list[str], vectors: np.ndarray, documents: list[str], metadatas: list[dict], batch: int = 500) -> None:
    for start in range(0, len(ids), batch):
        end = start + batch
        collection.add(
            ids=ids[start:end],
            embeddings=vectors[start:end].tolist(),
            documents=documents[start:end],
            metadatas=metadatas[start:end],
        )


def copy_records(source, target, where: dict | None, batch: int = 500) -> int:
    """Copy records (vectors included) matching ``where`` from one collection to another."""
    records = source.get(where=where, include=["embeddings", "documents", "metadatas"]) if where else source.get(include=["embeddings", "documents", "metadatas"])
    ids = list(records["ids"])
    if ids:
        add_in_batches(target, ids, np.asarray(records["embeddings"], dtype=np.float32), list(records["documents"]), list(records["metadatas"]), batch)
    return len(ids)


def in_filter(key: str, values: Iterable[str]) -> dict:
    values = list(values)
    return {key: values[0]} if len(values) == 1 else {key: {"$in": values}}
