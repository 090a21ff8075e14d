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
from .lexical import PLAN, QuestionAnalysis, passage_injection, tokens
from .retriever import ScoredChunk, SentenceRecord

# Weights and threshold, set on evals/questions-holdout.yaml (see README "Evaluation").
W_DENSE = 0.30
W_COVERAGE = 0.25
W_TYPE = 0.20  # the sentence holds the kind of thing asked: a figure, a date, a name, a definition
W_CONTEXT = 0.08  # the surrounding passage covers the question (pronouns: "ces partenaires…")
W_RANK = 0.06
YEAR_PENALTY = 0.25
QUESTION_PENALTY = 0.2
FRAGMENT_PENALTY = 0.08
TENSE_PENALTY = 0.06
W_CONTINUITY = 0.06
ABSTAIN_SUPPORT = 0.37  # below: the documents do not speak about what is asked
DENSE_FLOOR, DENSE_SPAN = 0.78, 0.15  # e5 cosine similarities live in a narrow band
SHORT_SENTENCE = 60  # a shorter quote ("Alexandre Lallet") is completed by the next sentence

PERCENT_QUESTION = re.compile(r"pourcentage|proportion|part\b|taux|percentage|share|rate", re.IGNORECASE)
_MONTHS = "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
DATE_IN_TEXT = re.compile(rf"\b(\d{{1,2}}(?:er)?\s+(?:{_MONTHS})(?:\s+\d{{4}})?|(?:{_MONTHS})\s+\d{{4}}|(?:en|depuis|durant|dès)\s+(?:19|20)\d\d|(?:19|20)\d\d)\b", re.IGNORECASE)
NAME_IN_TEXT = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Þ][a-zà-ÿ]+(?:[\s-][A-ZÀ-Þ][a-zà-ÿ]+)+|\b[A-Z]{2,}\b")
_FIGURE_TOKEN = re.compile(r"^\d[\d.,]*%?$")


def _figure_next_to_terms(text: str, key_terms: list[str], before: int = 6, after: int = 3) -> bool:
    """A figure with one of the question's key terms a few words before or after it."""
    wanted = {t for t in key_terms if not t[0].isdigit()}
    if not wanted:
        return False
    raw = re.findall(r"\d[\d.,]*\s?%?|[^\W\d_]+", text.replace("\u202f", " "))
    stems = [None if _FIGURE_TOKEN.match(w.replace(" ", "")) else (tokens(w) or [""])[0] for w in raw]
    for i, stem in enumerate(stems):
        if stem is None:
            window = [s for s in stems[max(0, i - before) : i] + stems[i + 1 : i + 1 + after] if s]
            if any(_present(t, set(window)) for t in wanted):
                return True
    return False


DEFINITION_IN_TEXT = re.compile(r"\(|c['’]est[- ]à[- ]dire|\bsoit\b|:|désigne|signifie|entendu|définie?s?\s+comme", re.IGNORECASE)


@dataclass
class Evidence:
    """A candidate sentence with the signals that scored it."""

    sentence: SentenceRecord
    passage: ScoredChunk
    rank: int
    dense: float
    coverage: float  # of the question's key terms by the sentence (its section counts half)
    passage_coverage: float  # of the key terms by the whole passage, section and title
    covered: set[str]
    has_figure: bool
    year_ok: bool
    score: float = 0.0
    reasons: dict[str, float] = field(default_factory=dict)
    continuation: str | None = None  # next sentence, quoted too when this one is very short


@dataclass
class Selection:
    evidence: list[Evidence]
    abstain: bool
    reason: str = ""
    support: float = 0.0


def term_weights(analysis: QuestionAnalysis, idf: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """IDF weights of the question's terms, and of the previous turn's (follow-ups).

    A follow-up's own words ("Et les métropoles ?") must weigh as much as all the context words
    together: the answer has to be about métropoles, not just about the previous topic.
    """
    default = max(idf.values()) if idf else 1.0
    weights = {t: idf.get(t, default) for t in analysis.key_terms}
    context = {t: idf.get(t, 1.0) for t in analysis.context_terms}
    if context:
        scale = (sum(weights.values()) or 1.0) / sum(context.values())
        context = {t: w * min(1.0, scale) for t, w in context.items()}
    return weights, context


def _present(term: str, terms: set[str]) -> bool:
    """Exact stem, or one stem prefixing the other ("stock" / "stockag", "héberg" / "hébergé")."""
    if term in terms:
        return True
    if len(term) < 4 or term[0].isdigit():
        return False
    return any(len(other) >= 4 and (other.startswith(term) or term.startswith(other)) for other in terms)


def _coverage(weights: dict[str, float], context: dict[str, float], terms: set[str], around: set[str], around_weight: float) -> tuple[float, set[str]]:
    total = sum(weights.values()) + sum(context.values())
    if not total:
        return 0.0, set()
    covered = {t for t in weights if _present(t, terms)}
    gained = sum(weights[t] for t in covered)
    gained += around_weight * sum(w for t, w in weights.items() if t not in covered and _present(t, around))
    in_text = {t for t in context if _present(t, terms)}
    gained += sum(context[t] for t in in_text) + around_weight * sum(w for t, w in context.items() if t not in in_text and _present(t, around))
    return gained / total, covered


def _type_match(analysis: QuestionAnalysis, text: str, figures: list, percent_wanted: bool) -> float:
    """How well the sentence holds the kind of answer asked for (0..1)."""
    score = 0.0
    if analysis.asks_figure and figures:
        score = 1.0 if (not percent_wanted or any(f.is_percent for f in figures)) else 0.5
        # "combien de départements" is best answered by "25 départements", "quelle part des
        # métropoles" by "les métropoles … (44 %)": a figure next to what the question counts
        if _figure_next_to_terms(text, analysis.key_terms):
            score += 0.5
    if analysis.asks_date:
        match = DATE_IN_TEXT.search(text)
        score = max(score, (1.0 if not re.fullmatch(r"(?:19|20)\d\d", match.group(0)) else 0.4) if match else 0.0)
    if analysis.asks_who:
        score = max(score, 1.0 if NAME_IN_TEXT.search(text) else 0.0)
    if analysis.asks_definition:
        acronyms = re.findall(r"\b[A-Z]{2,}\b", analysis.text)
        expanded = any(re.search(rf"\({re.escape(a)}\b|\b{re.escape(a)}\s*\(", text) for a in acronyms)
        score = max(score, 1.5 if expanded else (0.4 if DEFINITION_IN_TEXT.search(text) else 0.0))
    return score


def score_sentences(
    analysis: QuestionAnalysis,
    query_vector: np.ndarray,
    passages: list[ScoredChunk],
    sentences: list[SentenceRecord],
    idf: dict[str, float],
) -> list[Evidence]:
    rank_of = {p.chunk.id: i for i, p in enumerate(passages)}
    passage_of = {p.chunk.id: p for p in passages}
    weights, context = term_weights(analysis, idf)
    percent_wanted = bool(PERCENT_QUESTION.search(analysis.text))
    by_chunk: dict[str, list[SentenceRecord]] = {}
    for sentence in sentences:
        by_chunk.setdefault(sentence.chunk_id, []).append(sentence)
    for group in by_chunk.values():
        group.sort(key=lambda s: s.position)
    passage_terms = {cid: set(tokens(f"{p.chunk.section} {p.chunk.title} {p.chunk.text}")) for cid, p in passage_of.items()}
    # A follow-up ("Et les métropoles ?") usually reads on from where the previous answer was
    # quoted: sentences next to it gain, the quoted sentences themselves are not repeated.
    said = set(tokens(analysis.previous_answer)) if analysis.previous_answer else set()
    anchors = {
        s.id for s in sentences if said and (terms := set(tokens(s.text))) and len(terms & said) / len(terms) >= 0.8
    }
    anchor_chunks = {s.chunk_id for s in sentences if s.id in anchors}
    evidence: list[Evidence] = []
    for sentence in sentences:
        passage = passage_of.get(sentence.chunk_id)
        if passage is None or passage_injection(sentence.text) or len(sentence.text) < 15:
            continue
        chunk = passage.chunk
        group = by_chunk[chunk.id]
        preceding = next((s.text for s in group if s.position == sentence.position - 1), "")
        # the section, the title and the previous sentence ("…recours à l'IA. Les métropoles
        # sont les plus en pointe (44 %)") give a sentence the context its words leave implicit
        around = set(tokens(f"{chunk.section} {chunk.title} {preceding}"))
        coverage, covered = _coverage(weights, context, set(tokens(sentence.text)), around, 0.5)
        passage_coverage, _ = _coverage(weights, context, passage_terms[chunk.id], set(), 0.0)
        figures = [f for f in find_figures(sentence.text) if not (1950 <= f.value <= 2100 and not f.is_percent)]
        year_ok = not analysis.years or chunk.year in analysis.years or any(str(y) in sentence.text for y in analysis.years)
        dense = float(np.dot(query_vector, sentence.vector))
        dense_norm = min(1.0, max(0.0, (dense - DENSE_FLOOR) / DENSE_SPAN))
        rank = rank_of[chunk.id]
        following = next((s.text for s in group if s.position == sentence.position + 1), None)
        reasons = {
            "dense": W_DENSE * dense_norm,
            "coverage": W_COVERAGE * coverage,
            "type": W_TYPE * _type_match(analysis, f"{sentence.text} {following or ''}" if len(sentence.text) < SHORT_SENTENCE else sentence.text, figures, percent_wanted),
            "context": W_CONTEXT * passage_coverage,
            "rank": W_RANK / (1 + rank),
            "year": 0.0 if year_ok else -YEAR_PENALTY,
            # a question printed in a report (survey item, rhetorical) is not an answer
            "question": -QUESTION_PENALTY if sentence.text.rstrip().endswith("?") else 0.0,
            "follow-up": (-W_CONTINUITY if sentence.id in anchors else (W_CONTINUITY if chunk.id in anchor_chunks else 0.0)),
            # "avait défini" is not answered by "a prévu de définir", nor the reverse
            "tense": -TENSE_PENALTY if bool(PLAN.search(analysis.text)) != bool(PLAN.search(sentence.text)) and figures else 0.0,
            # a title or a call to action ("Découvrir la note 2024") rarely answers anything
            "fragment": -FRAGMENT_PENALTY if not re.search(r"[.!?…»)\]]\s*$", sentence.text) else 0.0,
        }
        evidence.append(
            Evidence(
                sentence=sentence,
                passage=passage,
                rank=rank,
                dense=dense,
                coverage=coverage,
                passage_coverage=passage_coverage,
                covered=covered,
                has_figure=bool(figures),
                year_ok=year_ok,
                score=sum(reasons.values()),
                reasons=reasons,
                continuation=following if len(sentence.text) < SHORT_SENTENCE else None,
            )
        )
    return sorted(evidence, key=lambda e: -e.score)


def select(analysis: QuestionAnalysis, evidence: list[Evidence], idf: dict[str, float], threshold: float | None = None, max_sentences: int = 3) -> Selection:
    """Pick the answer sentences, or decide to abstain (and say why)."""
    threshold = ABSTAIN_SUPPORT if threshold is None else threshold
    if not evidence:
        return Selection([], True, "aucun passage pertinent")
    usable = [e for e in evidence if e.year_ok] if analysis.years else evidence
    if not usable:
        return Selection([], True, f"aucun passage ne porte sur {', '.join(map(str, analysis.years))}")
    best = usable[0]
    # Support: the best passage's coverage of the question, blended with the best sentence's.
    support = max(0.5 * e.passage_coverage + 0.5 * e.coverage for e in usable[:8])
    if support < threshold:
        return Selection([], True, "les passages trouvés ne traitent pas de la question", support)
    if analysis.asks_figure and not any(e.has_figure and e.coverage >= threshold * 0.6 for e in usable[:8]):
        return Selection([], True, "aucun chiffre ne répond à la question dans les passages", support)
    if analysis.asks_figure and not best.has_figure:
        best = next(e for e in usable if e.has_figure and e.coverage >= threshold * 0.6)

    weights, _ = term_weights(analysis, idf)
    total = sum(weights.values()) or 1.0
    chosen = [best]
    covered = set(best.covered)
    for candidate in usable:
        if len(chosen) >= max_sentences:
            break
        if candidate in chosen or any(candidate.sentence.text == c.sentence.text for c in chosen):
            continue
        gain = sum(weights.get(t, 0.0) for t in candidate.covered - covered) / total
        other_doc = all(candidate.passage.chunk.doc_id != c.passage.chunk.doc_id for c in chosen)
        # another fact the question asks for…
        another_fact = gain >= 0.15 and candidate.score >= best.score * 0.75
        # …or the same fact from another document or edition (newest shown first)
        shared = len(candidate.covered & best.covered) / (len(best.covered) or 1)
        other_edition = (
            other_doc
            and not analysis.years
            and shared >= 0.6
            and candidate.score >= best.score * 0.7
            and (candidate.has_figure or not analysis.asks_figure)
            # the same measure, not a plan beside a result ("51 % vont lancer" vs "27 % ont eu recours")
            and bool(PLAN.search(candidate.sentence.text)) == bool(PLAN.search(best.sentence.text))
        )
        if another_fact or other_edition:
            chosen.append(candidate)
            covered |= candidate.covered
    if len({c.passage.chunk.doc_id for c in chosen}) > 1:
        chosen.sort(key=lambda e: (-(e.passage.chunk.year or 0), -e.score))
    return Selection(chosen, False, "", support)


def merge_parts(whole: Selection, parts: list[Selection]) -> Selection:
    """One sentence per sub-question of a compound question, in the order they were asked."""
    chosen: list[Evidence] = []
    for part in parts:
        if part.abstain or not part.evidence:
            continue
        best = part.evidence[0]
        if all(best.sentence.id != c.sentence.id for c in chosen):
            chosen.append(best)
    if len(chosen) < 2:
        return whole
    return Selection(chosen, False, "", whole.support)


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
        quoted = f"{evidence.sentence.text} {evidence.continuation}" if evidence.continuation else evidence.sentence.text
        quote = f"« {quoted} » [{n}]"
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
