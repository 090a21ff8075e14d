"""Overview answers: « Résume ce guide », « Quels sont les chiffres clés de la note ? ».

A reader asking for the gist wants a few cited claims, not the one sentence closest to the
words « chiffres clés ». The overview quotes at most seven units of the documents in scope, in
the documents' order: for « chiffres clés », units that give a figure (each says what it
measures); otherwise the sentences that best represent the document. Every point is a quote,
cited like any other answer.

Why it holds for any document: a unit that represents its document is close to the mean of the
document's unit embeddings (its centroid); a unit close to the question speaks of what the
question names (a topic, « sur les transports »); both are cosines of the same embeddings,
so they are added on one scale. Points are taken from different sections so that the overview
covers the document instead of repeating its longest section.
"""

from __future__ import annotations

import numpy as np

from ingest.patterns import ends_sentence, mostly_addresses

from .answer_kinds import carries
from .question import Question
from .reader import Reading, Selection, Span
from .retriever import ScoredChunk

#: At most this many points: an overview a reader takes in at once (the issue's bound).
MAX_POINTS = 7
#: A point is a sentence of reasonable length (not a heading, not a paragraph-long list).
MIN_CHARS, MAX_CHARS = 50, 400
#: The first chunks of a document read for an overview (a long report's first 400 passages).
MAX_CHUNKS = 400


def wants_figures(question: Question) -> bool:
    """« chiffres clés », « key figures »: the figures, not a summary in words."""
    return bool(question.asks & {"quantity", "percent", "money"})


def scope(passages: list[ScoredChunk], filters: dict | None, query_vector: np.ndarray, embed_titles) -> list[str]:
    """The documents an overview covers: those the filters name, else the retrieved document
    the question names best.

    A question names a document by its title or its subject (« résume l'article de la DINUM sur
    l'IA dans les services publics »): each document of the retrieved passages is scored by its
    best passage's similarity to the question plus its title's, both cosines of the same
    embeddings. The best passage alone may sit in another document on the same subject;
    counting passages would favour the longest document.
    """
    named = (filters or {}).get("doc_id")
    if named:
        return [named] if isinstance(named, str) else list(named)
    if not passages:
        return []
    best: dict[str, float] = {}
    titles: dict[str, str] = {}
    floor = min((p.dense_score for p in passages if p.dense_score is not None), default=0.0)
    for p in passages:
        similarity = p.dense_score if p.dense_score is not None else floor
        best[p.chunk.doc_id] = max(best.get(p.chunk.doc_id, similarity), similarity)
        titles.setdefault(p.chunk.doc_id, p.chunk.title or p.chunk.doc_id)
    documents = list(best)
    title_vectors = np.asarray(embed_titles([titles[d] for d in documents]), dtype=np.float32)
    named_by = title_vectors @ np.asarray(query_vector, dtype=np.float32)
    scores = [best[d] + float(named_by[i]) for i, d in enumerate(documents)]
    return [documents[int(np.argmax(scores))]]


def overview(question: Question, query_vector: np.ndarray, passages: list[ScoredChunk], filters: dict | None, retriever, loaded) -> Selection | None:
    """The overview of the documents in scope, or None when they give nothing to quote."""
    documents = scope(passages, filters, query_vector, retriever.embeddings.embed_documents_array)
    if not documents:
        return None
    versions = {p.chunk.doc_id: p.chunk.version for p in passages}
    chunks = [c for c in loaded.chunks if c.doc_id in documents and (c.doc_id not in versions or c.version == versions[c.doc_id])]
    chunks = sorted(chunks, key=lambda c: (documents.index(c.doc_id), c.position))[: MAX_CHUNKS * len(documents)]
    by_id = {c.id: c for c in chunks}
    # a point states something: a sentence, not a heading, a lead-in, a question or a footnote's link
    units = [
        u for u in retriever.sentences([c.id for c in chunks], loaded)
        if MIN_CHARS <= len(u.text) <= MAX_CHARS and ends_sentence(u.text) and not u.text.rstrip().endswith("?") and not mostly_addresses(u.text)
    ]
    figures = wants_figures(question)
    if figures:
        units = [u for u in units if carries(u.text, "percent") or carries(u.text, "quantity")]
    if not units:
        return None
    vectors = np.stack([u.vector for u in units]).astype(np.float32)
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    score = vectors @ centroid + vectors @ np.asarray(query_vector, dtype=np.float32)
    # One point per section first; a document with few sections (a designed PDF read without
    # its headings) then gives one point per passage, and key figures set side by side (a
    # report's call-outs share a passage) fill what is left.
    chosen: list[int] = []
    ranked = [int(i) for i in np.argsort(-score, kind="stable")]
    for place_of in (lambda c: (c.doc_id, c.section), lambda c: (c.doc_id, c.id), None):
        taken = {place_of(by_id[units[i].chunk_id]) for i in chosen} if place_of else set()
        for i in ranked:
            if len(chosen) >= MAX_POINTS:
                break
            place = place_of(by_id[units[i].chunk_id]) if place_of else None
            if i in chosen or (place_of and place in taken):
                continue
            taken.add(place)
            chosen.append(i)
    chosen.sort(key=lambda i: (documents.index(by_id[units[i].chunk_id].doc_id), by_id[units[i].chunk_id].position, units[i].position))
    points = []
    for i in chosen:
        unit = units[i]
        passage = ScoredChunk(by_id[unit.chunk_id], float(score[i]))
        reading = Reading(unit, passage, 0, True, float(score[i]), {}, frozenset())
        points.append(Span([reading], "unit", score=float(score[i])))
    return Selection(points, False, "", 1.0)
