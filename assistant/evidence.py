"""Evidence selection: which units of the retrieved passages answer the question, or none.

Every quotable unit (sentence, list with its lead-in, table row) of the retrieved passages is
a candidate. Each is described by signals that carry meaning across wording and language —
the multilingual embedding similarity of the question to the unit and to its passage, BM25,
the coverage of the question's key terms, whether the unit holds the kind of answer asked (a
figure, a date, a name, a definition, a list, a reason), the follow-up context. Lexical matching is one
signal among others, never a gate.

A linear ranker scores the candidates of a question (a softmax gives each its share), and a
logistic gate reads the best one's signals to decide whether the documents answer at all.
Their weights, the abstention threshold and the two ratios that decide how many units are
quoted are fitted by ``python -m evals calibrate`` on the training questions and stored
per embedding backend in ``assistant/weights/<backend>.json``: changing the embedding model
means running that script, not editing constants.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .figures import find_figures
from .fitted import load_fitted
from .lexical import passage_injection, present, tokens
from .question import ANSWER_KINDS, DISTINCT_KINDS, Question
from .retriever import ScoredChunk, SentenceRecord

log = logging.getLogger(__name__)

# A unit shorter than this ("Alexandre Lallet", a name on its own line) says little alone: the
# unit after it (the person's title, what the label introduces) is quoted with it.
SHORT_UNIT = 60
# Kinds of answer whose presence in a unit is read reliably from its text (digits, number
# words, units, dates): a question asking for one is never answered by a unit holding none.
MEASURED = frozenset({"quantity", "percent", "money", "duration", "date"})

FEATURES: tuple[str, ...] = (
    "dense", "dense_gap", "dense_rank", "dense_passage", "bm25", "rank",
    "coverage", "coverage_context", "coverage_gap", "own_coverage", "has_focus",
    "match_quantity", "match_percent", "match_money", "match_duration", "match_date", "match_day",
    "match_who", "match_definition", "match_list", "match_reason", "asks_unmet", "figure_near_terms",
    "is_question", "is_fragment", "length", "year_mismatch", "kind_list", "kind_row",
    "previous_answer", "near_previous", "english", "english_dense", "plan_mismatch", "defines_terms",
)

# Signals that compare the question's words with the unit's (undefined across languages).
LEXICAL = ("coverage", "coverage_context", "coverage_gap", "own_coverage", "has_focus", "figure_near_terms", "bm25", "defines_terms")

# -- what a unit carries (French and English typography and grammar, for any document) -------

_NUMBER_WORDS = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|soixante|cent|"
    r"mille|millions?|milliards?|dizaines?|douzaines?|centaines?|milliers?|two|three|four|five|six|seven|eight|nine|ten|"
    r"hundreds?|thousands?|millions?|billions?|dozens?"
)
QUANTITY_IN_WORDS = re.compile(
    rf"\b(?:plusieurs\s+(?:{_NUMBER_WORDS})|des\s+(?:dizaines|centaines|milliers|millions)|une?\s+(?:dizaine|vingtaine|centaine|"
    rf"quinzaine|trentaine|cinquantaine)|la\s+moitié|(?:un|le)\s+tiers|deux\s+tiers|(?:un|le)\s+quart|trois\s+quarts|"
    rf"la\s+(?:majorité|plupart|totalité)|(?:un|une|deux|trois|quatre|neuf)\s+(?:\w+\s+)?sur\s+(?:deux|trois|quatre|cinq|dix)|"
    rf"(?:{_NUMBER_WORDS})\b|half|a\s+third|a\s+quarter|most|majority)",
    re.IGNORECASE,
)
PERCENT_IN_TEXT = re.compile(
    r"\d\s?%|pour\s?cent|la\s+moitié|(?:un|le)\s+tiers|deux\s+tiers|(?:un|le)\s+quart|trois\s+quarts|"
    r"\b(?:un|une|deux|trois|quatre|neuf)\s+(?:\w+\s+)?sur\s+(?:deux|trois|quatre|cinq|dix)\b|la\s+majorité|half\b",
    re.IGNORECASE,
)
MONEY_IN_TEXT = re.compile(r"€|\beuros?\b|\bEUR\b|\bM€|\bk€|\$", re.IGNORECASE)
_PERIOD = r"jours?|mois|ans|années?|semaines?|heures?|minutes?|trimestres?|semestres?|days?|months?|years?|weeks?|hours?|quarters?"
_WEEKDAYS = r"lundis?|mardis?|mercredis?|jeudis?|vendredis?|samedis?|dimanches?|soirs?|matins?|nuits?|mondays?|tuesdays?|wednesdays?|thursdays?|fridays?|saturdays?|sundays?|nights?|mornings?|evenings?"
# A period, or a frequency (« tous les mois », « chaque année », « mensuel », « weekly »): French
# and English ways of writing time, in any document.
DURATION_IN_TEXT = re.compile(
    rf"\b(?:\d+|{_NUMBER_WORDS}|quelques|un|une)\s+(?:{_PERIOD})\b|\b\d+\s?h\b|"
    rf"\b(?:tou(?:s|tes)\s+les(?:\s+(?:\d+|{_NUMBER_WORDS}))?|chaque|par|every|each|per|once\s+a)\s+(?:{_PERIOD}|{_WEEKDAYS}|an)\b|"
    r"\b(?:quotidien\w*|hebdomadaire\w*|mensuel\w*|bimestriel\w*|trimestriel\w*|semestriel\w*|annuel\w*|"
    r"daily|weekly|monthly|quarterly|yearly|annually)\b",
    re.IGNORECASE,
)
_MONTHS = "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|january|february|march|april|may|june|july|august|september|october|november|december"
# A day or a month, not just a year: "quand"/"à quelle date" is answered by "le 12 novembre 2024"
# rather than by a sentence that merely mentions 2024.
_DAY = rf"(?:\d{{1,2}}(?:er)?\s+(?:{_MONTHS})|(?:{_MONTHS})\s+\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
DAY_IN_TEXT = re.compile(rf"\b{_DAY}\b", re.IGNORECASE)
DATE_IN_TEXT = re.compile(rf"\b(?:{_DAY}|(?:19|20)\d\d)\b", re.IGNORECASE)
NAME_IN_TEXT = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Þ][a-zà-ÿ]+(?:[\s-](?:de\s|du\s|des\s)?[A-ZÀ-Þ][a-zà-ÿ]+)+|\b[A-Z]{2,}\b")
DEFINITION_IN_TEXT = re.compile(
    r"\b(?:est|sont)\s+(?:un|une|des|le|la|les|l['’])\s|\bdésigne|\bsignifie|\bconsiste|\bcorrespond\s+à|c['’]est[- ]à[- ]dire|"
    r"\bse\s+définit|\bon\s+entend|\bappelé|\bis\s+an?\b|\bmeans\b|\brefers\s+to|\(\s*[A-Z]{2,}\s*\)|^[^:]{2,60}\s:\s",
    re.IGNORECASE,
)
REASON_IN_TEXT = re.compile(
    r"\b(?:car|parce\s+que|afin\s+de|afin\s+que|pour\s+(?:que|\w+er\b)|en\s+raison|grâce\s+à|permet(?:tent|tra)?\s+(?:de|d['’])|"
    r"dans\s+le\s+but|objectif|because|so\s+that|in\s+order\s+to|due\s+to|allows?)\b",
    re.IGNORECASE,
)
# Plans and intentions ("prévoient de", "d'ici un an", "dans les douze prochains mois") against
# what is already done: French and English tense and modality.
PLAN = re.compile(
    r"\b(prévoi\w*|prévu\w*|envisag\w*|comptent|intention\w*|projet\w*\s+de|vont|va\s+\w+er|à\s+venir|d['’]ici|"
    r"(?:\w+\s+)?prochain\w*\s+mois|dans\s+l['’]année|l['’]an\s+prochain|plan\w*|expect\w*|intend\w*|will\b|next\s+(?:year|\d+|twelve))",
    re.IGNORECASE,
)
_ENDS_SENTENCE = re.compile(r"[.!?…»)\]\"]\s*$")


def carries(text: str, kind: str, unit_kind: str = "sentence") -> bool:
    """Whether ``text`` holds an answer of ``kind`` (one of ``question.ANSWER_KINDS``)."""
    match kind:
        case "quantity":
            # The numbers of a date ("le 12 novembre 2024") count nothing.
            counted = DATE_IN_TEXT.sub(" ", text)
            return any(not (1950 <= f.value <= 2100 and not f.is_percent) for f in find_figures(counted)) or bool(QUANTITY_IN_WORDS.search(counted))
        case "percent":
            return bool(PERCENT_IN_TEXT.search(text))
        case "money":
            return bool(MONEY_IN_TEXT.search(text)) and bool(find_figures(text) or QUANTITY_IN_WORDS.search(text))
        case "duration":
            return bool(DURATION_IN_TEXT.search(text))
        case "date":
            return bool(DATE_IN_TEXT.search(text))
        case "who":
            return bool(NAME_IN_TEXT.search(text))
        case "definition":
            return bool(DEFINITION_IN_TEXT.search(text))
        case "list":
            return unit_kind in ("list", "row") or text.count(";") >= 2 or text.count(",") >= 3
        case "reason":
            return bool(REASON_IN_TEXT.search(text))
    return False


# -- the fitted model ----------------------------------------------------------------------------

# What the answerability gate reads: the best candidate's signals, and how far it stands out.
# ``typed_gap``: how far the best unit holding the kind of answer asked scores below the best unit
# overall — the topic is there, but the fact asked for may not be (« quel pourcentage … selon le
# sondage X » over a sentence that names the survey and gives no figure).
GATE_FEATURES: tuple[str, ...] = (
    "top_score", "top_margin", "typed_gap", "dense", "coverage_context", "own_coverage", "has_focus", "asks_unmet", "dense_passage", "english",
)


@dataclass
class EvidenceModel:
    """Two fitted parts: a ranker that picks the unit that answers, a gate that says whether it does.

    - The ranker is a linear score over FEATURES (standardised); within one question a softmax
      of the scores gives each candidate its share (``Candidate.probability``).
    - The gate is a logistic model over GATE_FEATURES of the best candidate: the probability
      that the documents answer at all. Under ``abstain_below`` the assistant abstains.
    - ``extra_ratio`` and ``next_ratio``: another unit is quoted when its share reaches this
      fraction of the best one's (``next_ratio``: the unit right after the best one, what a
      sentence ending in ":" or a topic sentence announces).
    """

    backend: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    gate_mean: np.ndarray
    gate_scale: np.ndarray
    gate_weights: np.ndarray
    gate_bias: float
    abstain_below: float
    extra_ratio: float
    next_ratio: float
    meta: dict = field(default_factory=dict)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return standardise(rows, self.mean, self.scale) @ self.weights

    def answerable(self, gate_row: np.ndarray) -> float:
        z = float(standardise(gate_row, self.gate_mean, self.gate_scale) @ self.gate_weights + self.gate_bias)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        rounded = lambda values: [round(float(v), 6) for v in values]  # noqa: E731
        return {
            "version": 2,
            "backend": self.backend,
            "features": list(FEATURES),
            "mean": rounded(self.mean),
            "scale": rounded(self.scale),
            "weights": rounded(self.weights),
            "gate_features": list(GATE_FEATURES),
            "gate_mean": rounded(self.gate_mean),
            "gate_scale": rounded(self.gate_scale),
            "gate_weights": rounded(self.gate_weights),
            "gate_bias": round(float(self.gate_bias), 6),
            "abstain_below": round(float(self.abstain_below), 4),
            "extra_ratio": round(float(self.extra_ratio), 4),
            "next_ratio": round(float(self.next_ratio), 4),
            **self.meta,
        }

    @classmethod
    def from_json(cls, data: dict) -> "EvidenceModel":
        if data.get("version") != 2 or tuple(data["features"]) != FEATURES or tuple(data["gate_features"]) != GATE_FEATURES:
            raise ValueError("poids d'évidence obsolètes : relancez « python -m evals calibrate »")
        array = lambda key: np.asarray(data[key], dtype=np.float64)  # noqa: E731
        known = {"version", "backend", "features", "mean", "scale", "weights", "gate_features", "gate_mean", "gate_scale", "gate_weights", "gate_bias", "abstain_below", "extra_ratio", "next_ratio"}
        return cls(
            backend=data["backend"], mean=array("mean"), scale=array("scale"), weights=array("weights"),
            gate_mean=array("gate_mean"), gate_scale=array("gate_scale"), gate_weights=array("gate_weights"),
            gate_bias=float(data["gate_bias"]), abstain_below=float(data["abstain_below"]), extra_ratio=float(data["extra_ratio"]),
            next_ratio=float(data["next_ratio"]), meta={k: v for k, v in data.items() if k not in known},
        )


def standardise(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(rows - mean) / scale, an undefined signal (NaN) read as the average one."""
    return np.nan_to_num((rows - mean) / scale, nan=0.0)


@lru_cache(maxsize=8)
def load_model(backend: str) -> EvidenceModel:
    """The fitted model of ``backend`` (the default backend's, with a warning, when it has none)."""
    return EvidenceModel.from_json(load_fitted(backend, what="poids d'évidence"))


# -- candidates and their features --------------------------------------------------------------


@dataclass
class Candidate:
    """A unit that may answer, with the signals that describe it and its probability."""

    unit: SentenceRecord
    passage: ScoredChunk
    rank: int
    features: dict[str, float]
    probability: float = 0.0  # share of the softmax over the question's candidates
    score: float = 0.0  # the ranker's linear score
    year_ok: bool = True
    # A unit of the chunk that continues a retrieved passage: quoted only as what a chosen unit
    # announces (its successor, the rest of its list), never chosen on its own.
    continues: bool = False

    @property
    def text(self) -> str:
        return self.unit.text


# Names, acronyms and numbers: a capital letter past the first word, or a digit (French and
# English typography).
_NAMED = re.compile(r"(?<!^)(?<![.?!]\s)\b\w*[A-ZÀ-Þ0-9]\w*")


def _weights(question: Question, idf: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """IDF weights of the question's terms, and of the previous turn's (follow-ups).

    A follow-up's own words ("Et les métropoles ?") weigh as much as all the context words
    together: the answer has to be about métropoles, not just about the previous topic.

    A word the documents never use is covered by no unit: a name, an acronym or a number (« IPSOS »,
    « ANSSI », « 2025 ») then says the fact asked is not there, and weighs as the rarest word; a
    common word (« freins » where the documents say « obstacles ») is the reader's wording, and
    is left to the dense signals, which read meaning rather than words.
    """
    default = max(idf.values()) if idf else 1.0
    named = set(tokens(" ".join(_NAMED.findall(question.text))))
    own = {t: idf.get(t, default) for t in question.terms if t in idf or t in named}
    context = {t: idf.get(t, 1.0) for t in question.context_terms}
    if context and own:
        scale = sum(own.values()) / sum(context.values())
        context = {t: w * min(1.0, scale) for t, w in context.items()}
    return own, context


def _coverage(weights: dict[str, float], found: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if present(t, found)) / total if total else 0.0


def _defines(text: str, own: dict[str, float]) -> float:
    """How much of the question's subject a unit names before the words that define it.

    A definition puts the term first and then says what it is (« Un jeu de données est un
    ensemble de ressources… », « Le RNCP (Répertoire national…) », « Schéma : … »): French and
    English word order, whatever the document. A unit that only mentions the term further on
    speaks about it without defining it.
    """
    cue = DEFINITION_IN_TEXT.search(text)
    return _coverage(own, set(tokens(text[: cue.end()]))) if cue else 0.0


def candidates(
    question: Question,
    query_vector: np.ndarray,
    passages: list[ScoredChunk],
    units: list[SentenceRecord],
    idf: dict[str, float],
    continuations: list[tuple[ScoredChunk, int]] = (),
) -> list[Candidate]:
    """Every quotable unit of the passages, with its features.

    ``continuations``: the chunks that follow retrieved passages in their section (with the
    rank of the passage they continue), whose units may finish what a passage starts. They
    carry their passage's retrieval signals and are marked ``continues``: they complete a chosen
    unit and are not candidates of their own (``ranked_units``), so the fitted ranker and gate
    see exactly the retrieved passages' units.
    """
    if not passages or not units:
        return []
    rank_of = {p.chunk.id: i for i, p in enumerate(passages)}
    passage_of = {p.chunk.id: p for p in passages}
    for following, parent in continuations:
        if following.chunk.id not in passage_of:
            rank_of[following.chunk.id], passage_of[following.chunk.id] = parent, following
    own, context = _weights(question, idf)
    both = {**own, **context}
    # The question's most specific word that the documents use (highest IDF): « IPSOS » in « quel
    # pourcentage … selon le sondage IPSOS ? ». A unit whose text and context lack it answers
    # about something else, however close its topic.
    focus = max((t for t in question.terms if t in idf), key=lambda t: (idf[t], t), default=None)
    dense_floor = min((p.dense_score for p in passages if p.dense_score is not None), default=0.0)
    bm25_top = max((p.bm25_score or 0.0 for p in passages), default=0.0) or 1.0
    said = set(tokens(question.previous_answer)) if question.previous_answer else set()
    quoted = {u.id for u in units if said and (t := set(tokens(u.text))) and len(t & said) / len(t) >= 0.8}
    quoted_chunks = {u.chunk_id for u in units if u.id in quoted}
    english = question.language == "en"
    asks_plan = bool(PLAN.search(question.text))
    specific = question.asks & DISTINCT_KINDS
    if specific & {"percent", "money", "duration"}:
        specific -= {"quantity"}  # "quel montant" is answered by an amount, not by any number
    similarities = np.array([float(np.dot(query_vector, u.vector)) for u in units])
    retrieved = [i for i, u in enumerate(units) if u.chunk_id in rank_of and passage_of[u.chunk_id] is passages[rank_of[u.chunk_id]]]
    best_similarity = float(similarities[retrieved].max()) if retrieved else 0.0
    result: list[Candidate] = []
    for unit, similarity in zip(units, similarities):
        passage = passage_of.get(unit.chunk_id)
        if passage is None or len(unit.text) < 12 or passage_injection(unit.text):
            continue
        chunk = passage.chunk
        start = chunk.text.find(unit.text)
        before = chunk.text[max(0, start - 240) : start] if start > 0 else ""
        around = set(tokens(f"{chunk.section} {chunk.title} {before}"))
        own_terms = set(tokens(unit.text))
        text = unit.text
        year_ok = not question.years or chunk.year in question.years or any(str(y) in text for y in question.years)
        kinds = {kind: carries(text, kind, unit.kind) for kind in ANSWER_KINDS}
        matched = lambda kind: float(kind in question.asks and kinds[kind])  # noqa: E731
        features = {
            "dense": similarity,
            "dense_gap": similarity - best_similarity,
            "dense_passage": passage.dense_score if passage.dense_score is not None else dense_floor,
            "bm25": (passage.bm25_score or 0.0) / bm25_top,
            "rank": 1.0 / (1 + rank_of[chunk.id]),
            "coverage": _coverage(both, own_terms),
            "coverage_context": _coverage(both, own_terms | around),
            "own_coverage": _coverage(own, own_terms | around),
            "has_focus": float(focus is None or present(focus, own_terms | around)),
            "match_quantity": matched("quantity"),
            "match_percent": matched("percent"),
            "match_money": matched("money"),
            "match_duration": matched("duration"),
            "match_date": matched("date"),
            "match_day": float("date" in question.asks and bool(DAY_IN_TEXT.search(text))),
            "match_who": matched("who"),
            "match_definition": matched("definition"),
            "match_list": matched("list"),
            "match_reason": matched("reason"),
            "asks_unmet": float(bool(specific) and not any(kinds[k] for k in specific)),
            "is_question": float(text.rstrip().endswith("?")),
            "is_fragment": float(not _ENDS_SENTENCE.search(text) and len(text) < 80),
            "length": math.log1p(len(text)) / math.log(600),
            "year_mismatch": float(not year_ok),
            "kind_list": float(unit.kind == "list"),
            "kind_row": float(unit.kind == "row"),
            "previous_answer": float(unit.id in quoted),
            "near_previous": float(unit.chunk_id in quoted_chunks and unit.id not in quoted),
            "english": float(english),
            "english_dense": similarity if english else 0.0,
            "plan_mismatch": float(kinds["quantity"] and asks_plan != bool(PLAN.search(text))),
            "figure_near_terms": float(kinds["quantity"] and _figure_near(text, set(own) | set(context))),
            "defines_terms": _defines(text, own) if "definition" in question.asks else 0.0,
        }
        if english:
            # The question's words and the documents' are in two languages: lexical coverage
            # says nothing there, it is read as average rather than as absent.
            for name in LEXICAL:
                features[name] = math.nan
        continues = passage is not passages[rank_of[chunk.id]]
        result.append(Candidate(unit=unit, passage=passage, rank=rank_of[chunk.id], features=features, year_ok=year_ok, continues=continues))
    # Signals relative to the other candidates of the same question: which unit stands out.
    # (over the retrieved passages' units: a continuing unit is placed among them)
    chosen_alone = ranked_units(result)
    order = sorted(chosen_alone, key=lambda c: -c.features["dense"])
    best_coverage = max((c.features["coverage_context"] for c in chosen_alone), default=0.0) if not english else math.nan
    for position, candidate in enumerate(order):
        candidate.features["dense_rank"] = 1.0 / (1 + position)
    for candidate in result:
        if candidate.continues:
            candidate.features["dense_rank"] = 1.0 / (1 + sum(c.features["dense"] > candidate.features["dense"] for c in chosen_alone))
    for candidate in result:
        candidate.features["coverage_gap"] = candidate.features["coverage_context"] - best_coverage  # NaN stays NaN
    return result


def _figure_near(text: str, terms: set[str], before: int = 6, after: int = 3) -> bool:
    """A figure with one of the question's key terms a few words before or after it ("25
    départements", "les métropoles … (44 %)"): the figure counts what was asked about."""
    raw = re.findall(r"\d[\d.,]*\s?%?|[^\W\d_]+", text)
    stems = [None if w[0].isdigit() else (tokens(w) or [""])[0] for w in raw]
    for i, stem in enumerate(stems):
        if stem is None:
            window = {s for s in stems[max(0, i - before) : i] + stems[i + 1 : i + 1 + after] if s}
            if any(present(t, window) for t in terms if not t[0].isdigit()):
                return True
    return False


def feature_matrix(found: list[Candidate]) -> np.ndarray:
    return np.array([[c.features[name] for name in FEATURES] for c in found], dtype=np.float64).reshape(len(found), len(FEATURES))


def score(found: list[Candidate], model: EvidenceModel) -> list[Candidate]:
    """Candidates with their score and softmax share, best first."""
    if found:
        scores = model.scores(feature_matrix(found))
        shares = np.exp(scores - scores.max())
        shares /= shares.sum()
        for candidate, value, share in zip(found, scores, shares):
            candidate.score, candidate.probability = float(value), float(share)
    return sorted(found, key=lambda c: (-c.score, c.rank, c.unit.position))


def gate_row(usable: list[Candidate], best_score: float | None = None) -> np.ndarray:
    """What the answerability gate reads: the best usable candidate's signals, how far it stands
    out, and how far below the best candidate overall (``best_score``) it scores."""
    best = usable[0]
    margin = best.score - usable[1].score if len(usable) > 1 else 1.0
    gap = max(0.0, best_score - best.score) if best_score is not None else 0.0
    values = {"top_score": best.score, "top_margin": margin, "typed_gap": gap, **best.features}
    return np.array([values[name] for name in GATE_FEATURES], dtype=np.float64)


def ranked_units(found: list[Candidate]) -> list[Candidate]:
    """The candidates that may be chosen on their own: the retrieved passages' units."""
    return [c for c in found if not c.continues]


def usable_candidates(question: Question, ranked: list[Candidate]) -> tuple[list[Candidate], list[Candidate], str]:
    """(the candidates that may answer, those of the right year, why none may).

    A figure of another year is not the figure asked for. A question asking for a figure, a
    date or a name is answered by a unit that holds one, when the passages have any (the gate
    then weighs how far below the best unit it scores); true of any question.
    """
    ranked = ranked_units(ranked)
    if not ranked:
        return [], [], "aucun passage pertinent"
    pool = [c for c in ranked if c.year_ok] if question.years else ranked
    if not pool:
        return [], [], f"aucun passage ne porte sur {', '.join(map(str, question.years))}"
    typed = [c for c in pool if not c.features["asks_unmet"]]
    if typed:
        return typed, pool, ""
    if question.asks & MEASURED:
        # The topic is there but not the figure, amount, duration or date asked for ("quelle
        # amende…" over documents that give none): answering would quote something else.
        return [], pool, "aucun passage ne donne le chiffre ou la date demandés"
    return pool, pool, ""


# -- selection -----------------------------------------------------------------------------------


@dataclass
class Selection:
    evidence: list[Candidate]
    abstain: bool
    reason: str = ""
    support: float = 0.0  # probability of the best unit
    unanswered: list[str] = field(default_factory=list)  # parts of a compound question left unanswered


def _same(a: str, b: str) -> bool:
    fold = lambda t: " ".join(re.findall(r"\w+", t.lower()))  # noqa: E731
    fa, fb = fold(a), fold(b)
    return fa == fb or (min(len(fa), len(fb)) > 40 and (fa in fb or fb in fa))


def select(question: Question, ranked: list[Candidate], model: EvidenceModel, max_units: int = 3) -> Selection:
    """The units to quote (best first), or an abstention with its reason."""
    usable, pool, reason = usable_candidates(question, ranked)
    if not usable:
        return Selection([], True, reason)
    best = usable[0]
    support = model.answerable(gate_row(usable, pool[0].score))
    if support < model.abstain_below:
        return Selection([], True, "les passages trouvés ne répondent pas à la question", support)
    chosen = [best]
    following = successor(best, ranked)
    # A sentence that names what is asked for without giving it ("Les obstacles … sont assez
    # similaires à ceux de l'an dernier.") announces the sentences that follow it: for a
    # question asking for a list or reasons, they are quoted with it.
    announces = bool(question.asks & {"list", "reason"}) and not any(
        carries(best.text, kind, best.unit.kind) for kind in question.asks & {"list", "reason"}
    )
    # A question asking for a list, whose best unit names the topic without listing anything
    # (« … il est nécessaire de réfléchir en amont à la meilleure structure »): the list that
    # follows it in its section is what the section gives as the answer, lead-in and items.
    listed = _list_after(best, ranked) if announces and "list" in question.asks else None
    if listed is not None:
        chosen.append(listed)
    elif following is not None and (
        following.probability >= model.next_ratio * best.probability or len(best.text) < SHORT_UNIT or announces
    ):
        chosen.append(following)  # what the best unit announces: the items, the figures after a topic sentence
        if announces and (second := successor(following, ranked)) is not None:
            chosen.append(second)
    # A list too long for one unit was cut into parts that each repeat its lead-in
    # (ingest.structure.list_units): a question asking for a list gets the other parts of
    # that list too (same lead-in, edition and section), all of them: one list, cut only for
    # length. (A compound question's parts quote one unit each: ``merge_parts``.)
    quoted_list = next((c for c in chosen if c.unit.kind == "list"), None) if "list" in question.asks else None
    if quoted_list is not None and (head := _lead_in(quoted_list.text)):
        for part in sorted((c for c in ranked if c.unit.kind == "list" and _lead_in(c.text) == head
                            and _same_edition(c, quoted_list) and c.passage.chunk.section == quoted_list.passage.chunk.section),
                           key=_place):
            if part not in chosen and not any(_same(part.text, c.text) for c in chosen):
                chosen.append(part)
        max_units = max(max_units, len(chosen))
    # A question naming several years compares them ("a-t-il changé entre 2023 et 2024 ?"):
    # each year's best unit is quoted, when the passages have one.
    for year in question.years if len(question.years) > 1 else ():
        if not any(c.passage.chunk.year == year for c in chosen):
            of_year = next((c for c in usable if c.passage.chunk.year == year), None)
            if of_year is not None:
                chosen.append(of_year)
    for candidate in usable[1:]:
        if len(chosen) >= max_units:
            break
        if candidate in chosen or any(_same(candidate.text, c.text) for c in chosen):
            continue
        if candidate.probability >= model.extra_ratio * best.probability:
            chosen.append(candidate)
    return Selection(_reading_order(chosen), False, "", support)


def _same_edition(a: Candidate, b: Candidate) -> bool:
    return a.passage.chunk.doc_id == b.passage.chunk.doc_id and a.passage.chunk.version == b.passage.chunk.version


def _place(c: Candidate) -> tuple[int, int]:
    """Where a unit stands in its document: its chunk, then its place in the chunk."""
    return c.passage.chunk.position, c.unit.position


def _list_after(unit: Candidate, ranked: list[Candidate]) -> Candidate | None:
    """The first list unit after ``unit`` in its section, in its chunk or the next one (same
    document and edition), if the retrieved or continuing passages hold it."""
    chunk = unit.passage.chunk
    after = [
        c for c in ranked
        if c.unit.kind == "list" and _same_edition(c, unit) and c.passage.chunk.section == chunk.section
        and c.passage.chunk.position <= chunk.position + 1 and _place(c) > _place(unit)
    ]
    return min(after, key=_place, default=None)


def _lead_in(text: str) -> str | None:
    """What a list unit's parts share: the text up to its first colon (« … sont les suivantes : »)."""
    head, colon, _ = text.partition(":")
    return head.strip() if colon and len(head.strip()) >= 20 else None


def successor(unit: Candidate, ranked: list[Candidate]) -> Candidate | None:
    """The candidate right after ``unit`` in its document, if it is one: the next unit of its
    chunk or, when ``unit`` ends its chunk, the first unit of the chunk that continues it."""
    chunk = unit.passage.chunk
    same_doc = [c for c in ranked if _same_edition(c, unit)]
    later = [c for c in same_doc if c.unit.chunk_id == unit.unit.chunk_id and c.unit.position > unit.unit.position]
    if later:
        nearest = min(later, key=lambda c: c.unit.position)
        return nearest if nearest.unit.position == unit.unit.position + 1 else None
    opening = [c for c in same_doc if c.passage.chunk.position == chunk.position + 1]
    nearest = min(opening, key=lambda c: c.unit.position, default=None)
    return nearest if nearest is not None and nearest.unit.position == 0 else None


def _reading_order(chosen: list[Candidate]) -> list[Candidate]:
    """Quotes grouped by document (newest edition first, best document first otherwise), in text order."""
    first_seen: dict[str, int] = {}
    for i, c in enumerate(chosen):
        first_seen.setdefault(c.passage.chunk.doc_id, i)
    multiple_years = len({c.passage.chunk.year for c in chosen}) > 1
    return sorted(
        chosen,
        key=lambda c: (
            -(c.passage.chunk.year or 0) if multiple_years else 0,
            first_seen[c.passage.chunk.doc_id],
            c.passage.chunk.position,
            c.unit.position,
        ),
    )


@dataclass
class Gathered:
    """Everything selection needs about one question, computed once (retrieval and features).

    The assistant decides from it with the fitted model; ``python -m evals calibrate`` fits the
    model on it, so the fit sees exactly what answers are made from.
    """

    question: Question
    passages: list[ScoredChunk]
    candidates: list[Candidate]
    parts: list[tuple[Question, list[ScoredChunk], list[Candidate]]] = field(default_factory=list)

    @property
    def all_passages(self) -> list[ScoredChunk]:
        result, seen = list(self.passages), {p.chunk.id for p in self.passages}
        for _, passages, _ in self.parts:
            for passage in passages:
                if passage.chunk.id not in seen:
                    seen.add(passage.chunk.id)
                    result.append(passage)
        return result


def decide(gathered: Gathered, model: EvidenceModel) -> Selection:
    """The answer's units for a question: per part for a compound question, else as a whole."""
    if gathered.parts:
        return merge_parts([(q.text, select(q, score(c, model), model, max_units=1)) for q, _, c in gathered.parts])
    return select(gathered.question, score(gathered.candidates, model), model)


def merge_parts(parts: list[tuple[str, Selection]]) -> Selection:
    """One answer for a compound question: each part's best unit, and the parts left unanswered."""
    chosen: list[Candidate] = []
    unanswered: list[str] = []
    for text, selection in parts:
        if selection.abstain or not selection.evidence:
            unanswered.append(text)
            continue
        best = max(selection.evidence, key=lambda c: c.score)
        if all(best.unit.id != c.unit.id for c in chosen):
            chosen.append(best)
    supports = [s.support for _, s in parts]
    if not chosen:
        return Selection([], True, "les passages trouvés ne répondent à aucune partie de la question", max(supports, default=0.0))
    return Selection(chosen, False, "", min(s.support for _, s in parts if not s.abstain), unanswered)
