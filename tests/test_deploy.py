"""Deployment: several writers on one real Chroma server, the write lease, the reader's cache.

Writers are real processes (``python -m ingest``) with their own index folders, as on
different machines, against one real ``chroma run`` on a loopback port. The lease is made short
(``NOTE_RAG_LEASE_SECONDS``) so that waiting for a dead writer takes seconds.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.index_cache import SUFFIX
from ingest import build_index
from ingest.settings import get_settings
from ingest.store import IndexStore, LeaseLost, ServerLease

from .conftest import ANNOUNCEMENT, PYTHON, REPO, subprocess_env
from .test_ingest import DOC_A, DOC_B, current_chunks, write_corpus

DOC_C = "# Mobilité\n\nLes intercommunalités publient les horaires de leurs bus en temps réel. Les usagers consultent ces données sur leur téléphone.\n"
QUESTION_A = "Qui aide les collectivités à répondre aux incidents ?"
QUESTION_B = "Qu'est-ce que les régions partagent ?"
LEASE = "3"


def ingest(path: Path, index_dir: Path, url: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "ingest", str(path), "--index", str(index_dir), "--quiet"],
        cwd=REPO,
        env=subprocess_env(NOTE_RAG_CHROMA_URL=url, NOTE_RAG_LEASE_SECONDS=LEASE, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(process: subprocess.Popen, marker: str, timeout: float = 180) -> str:
    """Read the process's stderr up to the end of the line holding ``marker`` (it keeps running)."""
    seen = ""
    deadline = time.time() + timeout
    while marker not in seen and time.time() < deadline and process.poll() is None:
        seen += process.stderr.readline()
    assert marker in seen, seen[-2000:]
    return seen


def documents(url: str, index_dir: Path) -> set[str]:
    return set(IndexStore(get_settings(chroma_url=url, index_dir=index_dir)).require_current().entries)


def cited(url: str, index_dir: Path, question: str) -> str:
    from assistant import Assistant

    answer = Assistant(settings=get_settings(chroma_url=url, index_dir=index_dir)).ask(question)
    assert not answer.abstained, answer.notice
    return answer.citations[0].doc_id


@pytest.mark.slow
def test_two_machines_ingesting_at_once_into_one_server_both_documents_answer(tmp_path, chroma_server):
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    first = ingest(tmp_path / "a.md", tmp_path / "machine-1", chroma_server)
    second = ingest(tmp_path / "b.md", tmp_path / "machine-2", chroma_server)
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert documents(chroma_server, tmp_path / "machine-3") == {"a", "b"}
    # a third machine, which wrote nothing, answers from both documents
    assert cited(chroma_server, tmp_path / "machine-3", QUESTION_A) == "a"
    assert cited(chroma_server, tmp_path / "machine-3", QUESTION_B) == "b"
    store = IndexStore(get_settings(chroma_url=chroma_server, index_dir=tmp_path / "machine-3"))
    assert not [n for n in store._names() if n.endswith("_lease")], "the lease is given back"
    assert not (tmp_path / "machine-1" / "chroma").exists(), "nothing of the index is written locally"


@pytest.mark.slow
def test_a_writer_killed_while_holding_the_lease_holds_others_up_only_until_it_expires(tmp_path, chroma_server):
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    (tmp_path / "c.md").write_text(DOC_C, encoding="utf-8")
    first = ingest(tmp_path / "a.md", tmp_path / "machine-1", chroma_server)
    assert first.wait(timeout=300) == 0, first.stderr.read()

    # machine 1 writes c, and is killed with the lease held, its records written, nothing published
    doomed = ingest(tmp_path / "c.md", tmp_path / "machine-1", chroma_server, NOTE_RAG_CRASH_TEST_PAUSE="300")
    wait_for(doomed, "pausing before commit")
    waiting = ingest(tmp_path / "b.md", tmp_path / "machine-2", chroma_server)
    told = wait_for(waiting, "index occupé")  # machine 2 takes its turn: it waits
    assert "machine-1" in told, told
    assert documents(chroma_server, tmp_path / "reader") == {"a"}, "readers never see the unpublished c"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)

    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert "expiré" in err, err
    assert documents(chroma_server, tmp_path / "reader") == {"a", "b"}
    assert cited(chroma_server, tmp_path / "reader", QUESTION_B) == "b"
    # the dead writer's records were dropped once machine 2 published
    generation = IndexStore(get_settings(chroma_url=chroma_server, index_dir=tmp_path / "reader")).require_current()
    assert generation.chunks.count() == generation.count()


@pytest.mark.slow
def test_a_writer_frozen_past_its_lease_publishes_nothing(tmp_path, chroma_server):
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    frozen = ingest(tmp_path / "a.md", tmp_path / "machine-1", chroma_server, NOTE_RAG_CRASH_TEST_PAUSE="10")
    wait_for(frozen, "pausing before commit")
    frozen.send_signal(signal.SIGSTOP)  # a laptop put to sleep: no heartbeat either
    try:
        other = ingest(tmp_path / "b.md", tmp_path / "machine-2", chroma_server)
        out, err = other.communicate(timeout=300)
        assert other.returncode == 0, err
    finally:
        frozen.send_signal(signal.SIGCONT)
    out, err = frozen.communicate(timeout=120)
    assert frozen.returncode == 2 and "bail" in err and "relancez" in err, err
    assert documents(chroma_server, tmp_path / "reader") == {"b"}


def test_waiters_on_a_dead_lease_take_turns_never_two_at_once(tmp_path, chroma_server):
    """Several waiters see the same expired lease at once: exactly one holds it at any time."""
    settings = get_settings(chroma_url=chroma_server, index_dir=tmp_path, lease_seconds=1.0)
    store = IndexStore(settings)
    store.client.create_collection(f"{store.base}_lease", metadata={"holder": "dead", "beat": 0, "host": "crashed"}, embedding_function=None)
    holders, peak, order = [0], [0], []
    guard = threading.Lock()

    def write(name: str) -> None:
        lease = ServerLease(IndexStore(settings).client, store.base, settings)
        lease.acquire()
        with guard:
            holders[0] += 1
            peak[0] = max(peak[0], holders[0])
        time.sleep(0.3)
        lease.check()
        with guard:
            holders[0] -= 1
            order.append(name)
        lease.release()

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(order) == ["w0", "w1", "w2", "w3"] and peak[0] == 1


def test_a_lease_taken_over_is_noticed_by_its_former_holder(tmp_path, chroma_server):
    settings = get_settings(chroma_url=chroma_server, index_dir=tmp_path, lease_seconds=1.0)
    store = IndexStore(settings)
    stale = ServerLease(store.client, store.base, settings)
    stale.acquire()
    stale._stop.set()  # fault injection: its heartbeat stops, the process lives on
    stale._thread.join()
    fresh = ServerLease(store.client, store.base, settings)
    fresh.acquire()  # after about a second: the lease expired
    with pytest.raises(LeaseLost, match="relancez"):
        stale.check()
    stale.release()  # must not remove the new holder's lease
    fresh.check()
    fresh.release()


def test_a_writer_that_loses_the_publishing_race_merges_instead_of_dropping(tmp_path, chroma_server):
    """Two writers past the lock (a stale lease) publish from the same generation: nothing is lost."""
    from ingest.chunking import chunk_document
    from ingest.embeddings import get_embeddings
    from ingest.loaders import load_document
    from ingest.pipeline import _embed

    settings = get_settings(chroma_url=chroma_server, index_dir=tmp_path / "w")
    for name, text in (("a", DOC_A), ("b", DOC_B), ("c", DOC_C)):
        (tmp_path / f"{name}.md").write_text(text, encoding="utf-8")
    assert build_index([tmp_path / "a.md"], settings=settings, progress=False).ok
    backend = get_embeddings("e5-small")
    one, two = IndexStore(settings), IndexStore(settings)
    base_one, base_two = one.current(), two.current()

    def changes(store: IndexStore, name: str) -> dict:
        chunks = chunk_document(load_document(tmp_path / f"{name}.md"), name, settings.chunk_size, settings.chunk_overlap)
        vectors, sentences, _ = _embed(chunks, backend, settings, False)
        return store.stage(chunks, vectors, sentences, backend.name, backend.dimension, "test")

    published_one, _ = one.publish(base_one, changes(one, "b"), backend.name, backend.dimension)
    published_two, replaced = two.publish(base_two, changes(two, "c"), backend.name, backend.dimension)
    assert published_two.number == published_one.number + 1 and replaced.number == published_one.number
    two.retire(published_two, replaced)
    assert documents(chroma_server, tmp_path / "r") == {"a", "b", "c"}
    assert {c.doc_id for c in IndexStore(settings).require_current().all_chunks()} == {"a", "b", "c"}


def test_full_ingest_on_a_shared_server_keeps_another_machines_documents(tmp_path, chroma_server):
    (tmp_path / "x.md").write_text(DOC_C, encoding="utf-8")
    machine_1 = get_settings(chroma_url=chroma_server, index_dir=tmp_path / "machine-1")
    assert build_index([tmp_path / "x.md"], settings=machine_1, progress=False).ok
    corpus = tmp_path / "corpus-2"
    write_corpus(corpus, [("doc-b", DOC_B)])
    machine_2 = get_settings(chroma_url=chroma_server, index_dir=tmp_path / "machine-2", corpus_dir=corpus)
    report = build_index(settings=machine_2, progress=False)
    assert report.ok and not [d for d in report.documents if d.status == "removed"]
    assert documents(chroma_server, tmp_path / "reader") == {"x", "doc-b"}
    # machine 2's own documents still go when its corpus drops them
    write_corpus(corpus, [("doc-a", DOC_A)])
    (corpus / "doc-b.md").unlink()
    build_index(settings=machine_2, progress=False)
    assert documents(chroma_server, tmp_path / "reader") == {"x", "doc-a"}


# --------------------------------------------------------------------------------------------
# readers: the cache of each generation, the first index layout


def test_a_reader_starts_from_its_cache_and_reads_only_a_new_document(tmp_path):
    from assistant import Assistant

    index_dir = tmp_path / "index"
    for name, text in (("a", DOC_A), ("b", DOC_B), ("c", DOC_C)):
        (tmp_path / f"{name}.md").write_text(text, encoding="utf-8")
    build_index([tmp_path / "a.md", tmp_path / "b.md"], index_dir=index_dir, progress=False)
    reader = Assistant(index_dir=index_dir)
    assert reader.retriever.refresh().source == "built"
    reader.retriever.cache.flush()  # written in the background
    assert Assistant(index_dir=index_dir).retriever.refresh().source == "disk", "a second start reads the cache"
    versions = {p.name for p in (index_dir / "cache").rglob(f"versions/*{SUFFIX}")}
    assert len(versions) == 2

    build_index([tmp_path / "c.md"], index_dir=index_dir, progress=False)
    answer = reader.ask("Que publient les intercommunalités en temps réel ?")  # the running reader moves on
    assert answer.citations and answer.citations[0].doc_id == "c"
    added = {p.name for p in (index_dir / "cache").rglob(f"versions/*{SUFFIX}")} - versions
    assert len(added) == 1, "only the new document was read and stemmed"


def test_the_cached_lexical_index_scores_exactly_as_bm25s(tmp_path):
    """Assembled from a previous generation (in memory, or its file), with a document changed
    and one added, BM25 ranks as a fresh bm25s index of the same chunks would."""
    import bm25s

    from assistant import Assistant
    from assistant.lexical import tokens

    index_dir = tmp_path / "index"
    for name, text in (("a", DOC_A), ("b", DOC_B)):
        (tmp_path / f"{name}.md").write_text(text, encoding="utf-8")
    build_index([ANNOUNCEMENT, tmp_path / "a.md", tmp_path / "b.md"], index_dir=index_dir, progress=False)
    running = Assistant(index_dir=index_dir)
    running.retriever.refresh()
    running.retriever.cache.flush()
    (tmp_path / "b.md").write_text(DOC_B.replace("catalogue commun", "lac de données partagé"), encoding="utf-8")
    (tmp_path / "c.md").write_text(DOC_C, encoding="utf-8")
    build_index([tmp_path / "b.md", tmp_path / "c.md"], index_dir=index_dir, progress=False)

    def restarted():
        """A reader started now, whose machine cached only the previous generation."""
        running.retriever.cache.flush()
        generation = running.retriever.refresh().generation
        for path in (index_dir / "cache").rglob(f"g{generation.number}-{generation.uid}{SUFFIX}"):
            path.unlink()
        return Assistant(index_dir=index_dir).retriever.refresh()

    for loaded in (running.retriever.refresh(), restarted()):
        assert loaded.source == "built" and {c.doc_id for c in loaded.chunks} == {"note-conjoncture-2024-annonce", "a", "b", "c"}
        reference = bm25s.BM25()
        reference.index([tokens(c.embedding_text()) or ["∅"] for c in loaded.chunks], show_progress=False)
        for question in ("cyberattaque collectivités", "catalogue commun", "lac de données", "bus temps réel données données"):
            assert np.allclose(loaded.bm25.get_scores(tokens(question)), reference.get_scores(tokens(question)), atol=1e-5), question
        assert "catalogu" not in loaded.idf, "a stem no chunk holds any more has no IDF"


def test_an_index_of_the_first_layout_is_read_then_migrated(tmp_path):
    """An index written before generations listed document versions keeps working."""
    from assistant import Assistant
    from ingest.chunking import chunk_document
    from ingest.embeddings import get_embeddings
    from ingest.loaders import load_document
    from ingest.pipeline import _embed, fingerprint, Target
    from ingest.store import chunk_metadata

    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    settings = get_settings(index_dir=index_dir)
    backend = get_embeddings("e5-small")
    chunks = chunk_document(load_document(tmp_path / "a.md"), fingerprint(Target(tmp_path / "a.md"), settings), settings.chunk_size, settings.chunk_overlap)
    vectors, (ids, sentence_vectors, texts, metas), _ = _embed(chunks, backend, settings, False)
    client = IndexStore(settings).client
    meta = {"complete": True, "generation": 1, "embeddings": backend.name, "dimension": backend.dimension, "created": 0.0}
    old = client.create_collection("note_rag_g1", configuration={"hnsw": {"space": "cosine"}}, metadata=meta, embedding_function=None)
    old.add(ids=[c.id for c in chunks], embeddings=vectors, documents=[c.text for c in chunks], metadatas=[chunk_metadata(c) for c in chunks])
    old_s = client.create_collection("note_rag_g1_s", configuration={"hnsw": {"space": "cosine"}}, metadata=meta, embedding_function=None)
    old_s.add(ids=ids, embeddings=sentence_vectors, documents=texts, metadatas=metas)

    assert Assistant(index_dir=index_dir).ask(QUESTION_A).citations[0].doc_id == "a"
    report = build_index([tmp_path / "a.md", tmp_path / "b.md"], index_dir=index_dir, progress=False)
    assert report.ok and {d.status for d in report.documents} == {"unchanged", "added"}
    generation = IndexStore(settings).require_current()
    assert not generation.legacy and set(generation.entries) == {"a", "b"}
    assert Assistant(index_dir=index_dir).ask(QUESTION_B).citations[0].doc_id == "b"
    assert {c.doc_id for c in current_chunks(index_dir)} == {"a", "b"}


class _Planted:
    """What a malicious cache file would hold: loading it with Python's object serialisation
    opens (creates) ``marker``, standing for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_cache_file_planted_in_the_index_folder_runs_no_code(tmp_path):
    """Files that would run code when loaded, under every name the reader cache reads or read
    before (``.cache`` now, ``.pkl`` formerly), are refused: the reader rebuilds and answers."""
    import pickle

    from assistant import Assistant

    index_dir = tmp_path / "index"
    for name, text in (("a", DOC_A), ("b", DOC_B)):
        (tmp_path / f"{name}.md").write_text(text, encoding="utf-8")
    build_index([tmp_path / "a.md", tmp_path / "b.md"], index_dir=index_dir, progress=False)
    first = Assistant(index_dir=index_dir)
    first.retriever.refresh()
    first.retriever.cache.flush()
    written = sorted((index_dir / "cache").rglob(f"*{SUFFIX}"))
    assert len(written) == 3, written  # the generation and its two document versions

    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Planted(marker))
    pickle.loads(pickle.dumps(_Planted(tmp_path / "proof")))
    assert (tmp_path / "proof").exists(), "the payload does run code when loaded that way"
    for path in written:
        path.write_bytes(payload)  # the names read now
        path.with_suffix(".pkl").write_bytes(payload)  # the names the first format read
    generation = first.retriever.refresh().generation
    assert (first.retriever.cache.root / f"g{generation.number}-{generation.uid}.pkl").exists()

    reader = Assistant(index_dir=index_dir)
    assert reader.ask(QUESTION_A).citations[0].doc_id == "a"
    assert reader.retriever.refresh().source == "built", "the planted files were not used"
    reader.retriever.cache.flush()
    assert not marker.exists(), "a planted cache file ran code"
    assert Assistant(index_dir=index_dir).retriever.refresh().source == "disk", "the cache was rewritten, in its own format"
    assert not marker.exists()


def test_a_damaged_cache_file_is_rebuilt_not_used(tmp_path):
    """A cache file cut short (a full disk) or whose arrays do not fit together is read again from Chroma."""
    from assistant import Assistant
    from assistant.index_cache import _read, _write

    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    build_index([tmp_path / "a.md"], index_dir=index_dir, progress=False)
    first = Assistant(index_dir=index_dir)
    first.retriever.refresh()
    first.retriever.cache.flush()
    generation_file = next(p for p in (index_dir / "cache").rglob(f"g*{SUFFIX}"))
    meta, arrays = _read(generation_file)
    arrays["bm25_indices"] = arrays["bm25_indices"] + 10_000  # rows past the last chunk
    _write(generation_file, meta, arrays)
    for path in (index_dir / "cache").rglob(f"versions/*{SUFFIX}"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reader = Assistant(index_dir=index_dir)
    assert reader.ask(QUESTION_A).citations[0].doc_id == "a"
    assert reader.retriever.refresh().source == "built"


# --------------------------------------------------------------------------------------------
# logins


def test_every_login_costs_one_scrypt_known_user_or_not(monkeypatch, tmp_path):
    """The single-account setting (user:password) is hashed when read: a wrong password for a
    known user and any password for an unknown one both go through the same scrypt."""
    from assistant import auth

    calls: list[tuple[int, int, int, int]] = []
    real = auth._scrypt

    def counted(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
        calls.append((n, r, p, length))
        return real(password, salt, n, r, p, length)

    monkeypatch.setattr(auth, "_scrypt", counted)
    users = auth.load_users("alice:cheval-correct-1")
    assert calls == [(auth.N, auth.R, auth.P, 32)], "hashed once, when the setting is read"
    assert "cheval-correct-1" not in repr(users), "the password is not kept in clear"
    for name, password, accepted in (
        ("alice", "cheval-correct-1", True),
        ("alice", "mauvais-mot-de-passe", False),
        ("mallory", "cheval-correct-1", False),
        ("", "", False),
    ):
        calls.clear()
        assert users(name, password) is accepted
        assert calls == [(auth.N, auth.R, auth.P, 32)], (name, calls)
