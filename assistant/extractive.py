"""Extractive answers: quote the one to three sentences that answer, cite them, or abstain.

No LLM: every word of the answer outside the short French (or English) frame is a verbatim
quote, so figures cannot be wrong. Sentences are scored on
- their embedding similarity to the question (computed at indexing time for the sentence),
- the coverage of the question's key terms (IDF-weighted; the passage's section counts half),
- carrying a figure when the question asks for one (captions repeating the survey question
  outscore the sentence holding the answer otherwise),
- the rank of their passage, and agreement with a year/edition named in the question.
The same signals decide abstention: low key-term coverage, no figure for a "combien" question,
or no passage of the requested year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .figures import find_figures
from .lexical import QuestionAnalysis, passage_injection, tokens
from .retriever import ScoredChunk, SentenceRecord

# Weights and threshold, measured on evals/questions-holdout.yaml (see README "Évaluation").
W_DENSE = 0.45
W_COVERAGE = 0.40
W_FIGURE = 0.12
W_RANK = 0.06
YEAR_PENALTY = 0.25
ABSTAIN_COVERAGE = 0.34  # below: the documents do not speak about what is asked
DENSE_FLOOR, DENSE_SPAN = 0.78, 0.15  # e5 cosine similarities live in a narrow band

PERCENT_QUESTION = re.compile(r"pourcentage|proportion|part\b|taux|percentage|share|proportion|rate", re.IGNORECASE)


@dataclass
class Evidence:
    """A candidate sentence with the signals that scored it."""

    sentence: SentenceRecord
    passage: ScoredChunk
    rank: int
    dense: float
    coverage: float
    covered: set[str]
    has_figure: bool
    year_ok: bool
    score: float = 0.0
    reasons: dict[str, float] = field(default_factory=dict)


@dataclass
class Selection:
    evidence: list[Evidence]
    abstain: bool
    reason: str = ""
    support: float = 0.0


def idf_weights(analysis: QuestionAnalysis, idf: dict[str, float]) -> dict[str, float]:
    default = max(idf.values()) if idf else 1.0
    return {t: idf.get(t, default) for t in analysis.key_terms}


def score_sentences(
    analysis: QuestionAnalysis,
    query_vector: np.ndarray,
    passages: list[ScoredChunk],
    sentences: list[SentenceRecord],
    idf: dict[str, float],
) -> list[Evidence]:
    rank_of = {p.chunk.id: i for i, p in enumerate(passages)}
    passage_of = {p.chunk.id: p for p in passages}
    weights = idf_weights(analysis, idf)
    context_weights = {t: 0.5 * idf.get(t, 1.0) for t in analysis.context_terms}
    total = sum(weights.values()) + sum(context_weights.values())
    percent_wanted = bool(PERCENT_QUESTION.search(analysis.text))
    evidence: list[Evidence] = []
    for sentence in sentences:
        passage = passage_of.get(sentence.chunk_id)
        if passage is None or passage_injection(sentence.text) or len(sentence.text) < 15:
            continue
        chunk = passage.chunk
        sentence_terms = set(tokens(sentence.text))
        around = set(tokens(f"{chunk.section} {chunk.title}"))
        covered = {t for t in weights if t in sentence_terms}
        gained = sum(weights[t] for t in covered)
        gained += 0.5 * sum(weights[t] for t in weights if t not in covered and t in around)
        gained += sum(w for t, w in context_weights.items() if t in sentence_terms or t in around)
        coverage = gained / total if total else 0.0
        figures = [f for f in find_figures(sentence.text) if not (1950 <= f.value <= 2100 and not f.is_percent)]
        has_figure = bool(figures)
        year_ok = (
            not analysis.years
            or chunk.year in analysis.years
            or any(str(y) in sentence.text for y in analysis.years)
        )
        dense = float(np.dot(query_vector, sentence.vector))
        dense_norm = min(1.0, max(0.0, (dense - DENSE_FLOOR) / DENSE_SPAN))
        figure_bonus = 0.0
        if analysis.asks_figure:
            figure_bonus = 1.0 if has_figure and (not percent_wanted or any(f.is_percent for f in figures)) else (0.5 if has_figure else 0.0)
        rank = rank_of[chunk.id]
        reasons = {
            "dense": W_DENSE * dense_norm,
            "coverage": W_COVERAGE * coverage,
            "figure": W_FIGURE * figure_bonus,
            "rank": W_RANK / (1 + rank),
            "year": 0.0 if year_ok else -YEAR_PENALTY,
        }
        evidence.append(
            Evidence(
                sentence=sentence,
                passage=passage,
                rank=rank,
                dense=dense,
                coverage=coverage,
                covered=covered,
                has_figure=has_figure,
                year_ok=year_ok,
                score=sum(reasons.values()),
                reasons=reasons,
            )
        )
    return sorted(evidence, key=lambda e: -e.score)


def select(analysis: QuestionAnalysis, evidence: list[Evidence], idf: dict[str, float], threshold: float | None = None, max_sentences: int = 3) -> Selection:
    """Pick the answer sentences, or decide to abstain (and say why)."""
    threshold = ABSTAIN_COVERAGE if threshold is None else threshold
    if not evidence:
        return Selection([], True, "aucun passage pertinent")
    usable = [e for e in evidence if e.year_ok] if analysis.years else evidence
    if not usable:
        return Selection([], True, f"aucun passage ne porte sur {', '.join(map(str, analysis.years))}")
    best = usable[0]
    support = max(e.coverage for e in usable[:5])
    if support < threshold:
        return Selection([], True, "les passages trouvés ne traitent pas de la question", support)
    if analysis.asks_figure and not any(e.has_figure and e.coverage >= threshold * 0.8 for e in usable[:6]):
        return Selection([], True, "aucun chiffre ne répond à la question dans les passages", support)
    if analysis.asks_figure and not best.has_figure:
        best = next(e for e in usable if e.has_figure and e.coverage >= threshold * 0.8)

    weights = idf_weights(analysis, idf)
    chosen = [best]
    covered = set(best.covered)
    for candidate in usable:
        if len(chosen) >= max_sentences:
            break
        if candidate in chosen or any(candidate.sentence.text == c.sentence.text for c in chosen):
            continue
        new_terms = candidate.covered - covered
        gain = sum(weights.get(t, 0.0) for t in new_terms) / (sum(weights.values()) or 1.0)
        other_doc = all(candidate.passage.chunk.doc_id != c.passage.chunk.doc_id for c in chosen)
        close = candidate.score >= best.score - 0.06
        # another fact the question asks for, or the same fact from another document/edition
        if (gain >= 0.2 and candidate.score >= best.score * 0.75) or (
            other_doc and close and candidate.coverage >= best.coverage * 0.9 and (candidate.has_figure or not analysis.asks_figure)
        ):
            chosen.append(candidate)
            covered |= candidate.covered
    # Most recent edition first when several documents answer.
    if len({c.passage.chunk.doc_id for c in chosen}) > 1:
        chosen.sort(key=lambda e: (-(e.passage.chunk.year or 0), -e.score))
    return Selection(chosen, False, "", support)


_KIND_FR = {
    "note": "la note de conjoncture",
    "annonce": "l'annonce de la note de conjoncture",
    "barometre": "le baromètre de l'Observatoire Data Publica",
    "temoignage": "le témoignage",
}
_KIND_EN = {
    "note": "the economic outlook note",
    "annonce": "the announcement of the outlook note",
    "barometre": "the Observatoire Data Publica barometer",
    "temoignage": "the testimony",
}


def source_label(kind: str, year: int | None, title: str, language: str) -> str:
    table = _KIND_EN if language == "en" else _KIND_FR
    label = table.get(kind)
    if label is None:
        return f"« {title} »"
    return f"{label} {year}" if year else label


def compose(selection: Selection, language: str, numbers: dict[str, int]) -> str:
    """The answer text: each quote introduced by its source, followed by its [n] marker."""
    lines: list[str] = []
    previous_doc: str | None = None
    for evidence in selection.evidence:
        chunk = evidence.passage.chunk
        n = numbers[chunk.id]
        quote = f"« {evidence.sentence.text} » [{n}]"
        if chunk.doc_id == previous_doc:
            lines.append(quote)
            continue
        label = source_label(chunk.kind, chunk.year, chunk.title, language)
        if language == "en":
            intro = f"According to {label}:" if not lines else f"{label[0].upper()}{label[1:]} states:"
        else:
            intro = f"D'après {label} :" if not lines else f"{label[0].upper()}{label[1:]} indique :"
        lines.append(f"{intro} {quote}")
        previous_doc = chunk.doc_id
    return "\n\n".join(lines)
