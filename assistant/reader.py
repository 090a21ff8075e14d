"""The reader: which span of the retrieved passages answers the question, or none.

Candidates are *answer spans*, read in each document's order across chunk and page breaks:

- a unit (a sentence, a list with its lead-in, a table row);
- a unit with the one or two units after it: a topic sentence and the sentence that gives the
  figure, a claim and its reason, a quote and its signature, a name and the role under it;
- a lead-in (« … les étapes suivantes : ») with the list it announces, wherever the list goes
  on (the next chunk, the next page, under the next heading);
- a whole list cut into parts for length, or the rows of a table;
- a unit with the rest of its section (steps written as sentences, reasons in a paragraph).

Each span is described by signals that hold for any document: the multilingual embedding
similarity of the question to its units (units are embedded at ingest), the retrieval signals
of its passage, whether it carries the kind of answer asked (a figure, a date, a name, a
definition, a list, a reason), its structure (list, table, lead-in completed or left hanging,
fragment, crossing a heading), whether it says something the question does not already say (a
topic sentence restates the question), and lexical coverage of the question's terms as one
signal among others.

A linear ranker scores the spans of a question (a softmax gives each its share); a logistic
gate reads the best one to decide whether the documents answer at all. The weights, the
abstention threshold and the ratio at which a second span is quoted are fitted by ``python -m
evals calibrate`` on the training split and stored per embedding backend in
``assistant/weights/<backend>.json``: changing them means running that script, not editing
constants here.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ingest.patterns import NAMED_WORD, announces, ends_sentence, mostly_addresses, years_in
from ingest.store import StoredChunk

from .answer_kinds import ANSWER_KINDS, DAY_IN_TEXT, MEASURED, PLAN, carries, specific_kinds
from .fitted import load_fitted
from .lexical import passage_injection, present, tokens
from .question import Question
from .retriever import ScoredChunk, SentenceRecord

log = logging.getLogger(__name__)

FEATURES: tuple[str, ...] = (
    "sim_first", "sim_best", "sim_mean", "sim_gap", "sim_rank", "passage_dense", "passage_rank", "bm25",
    "coverage", "coverage_context", "own_coverage", "has_focus", "restates", "novelty",
    "kind_met", "asks_unmet", "first_unmet", "match_day", "match_who", "match_definition", "match_list", "match_reason",
    "defines_terms", "figure_near_terms", "plan_mismatch",
    "n_units", "length", "has_list", "has_row", "whole_list", "lead_in_done", "dangling", "fragment", "is_question",
    "crosses_chunk", "crosses_section", "short_first", "from_neighbour",
    "year_mismatch", "year_unknown", "previous_answer", "english", "other_language",
    # What a span's shape is worth depends on what is asked: a list question wants the lead-in
    # and its items, a figure question one sentence. Products of the kind asked and the shape
    # let a linear ranker learn both.
    "list_units", "list_whole", "list_lead", "reason_units", "definition_units", "measured_units", "who_short",
    # A span whose first unit does not hold what is asked and whose next units do: the topic
    # sentence and the figure, the advice and its reason, the lead-in and its items.
    "completes_kind", "reason_open", "list_open",
)
# Signals that compare the question's words with the span's: undefined across languages.
LEXICAL = ("coverage", "coverage_context", "own_coverage", "has_focus", "restates", "novelty", "figure_near_terms", "bm25", "defines_terms")
# What the answerability gate reads: the best span's signals, and how far it stands out.
# ``typed_gap``: how far the best span holding the kind of answer asked scores below the best
# span overall (the topic is there, the fact asked may not be).
GATE_FEATURES: tuple[str, ...] = (
    "top_score", "top_margin", "typed_gap", "no_typed", "sim_best", "passage_dense", "coverage_context", "own_coverage",
    "has_focus", "english", "other_language", "year_unknown", "unknown_name", "dense_spread",
)
# A signal of the question against the whole index (the same for all its spans): whether a
# name, an acronym or a number it writes is nowhere in the documents (« ANSSI », « 2031 »): the
# fact asked cannot be there. (The share of its common words the documents never use depends on
# how many documents are indexed, one guide or a hundred: it is not read.)

# Span shapes, bounded so that an answer stays short: a window of up to three units, a list or a
# table of up to twelve parts, a section's run of up to six units, never more than 1,500
# characters (about the length of a long paragraph: what a reader takes in at a glance).
MAX_WINDOW = 3
MAX_PARTS = 12
MAX_SECTION_UNITS = 6
MAX_SPAN_CHARS = 1500
# A unit shorter than this is a line rather than a sentence (a name, a title): it says little
# alone. (A structural signal; the ranker weighs it.)
SHORT_UNIT = 60
# At most this many spans in one answer: the best one, another year's or another document's.
MAX_SPANS = 3


# -- reading order -------------------------------------------------------------------------------


@dataclass
class Reading:
    """A unit of a passage, where it stands in its document, and what it holds."""

    record: SentenceRecord
    passage: ScoredChunk  # the chunk it belongs to, with the retrieval scores of its passage
    rank: int  # rank of the retrieved passage it belongs to (or continues)
    retrieved: bool  # its chunk was retrieved (else it continues one)
    similarity: float
    kinds: dict[str, bool]
    terms: frozenset[str]

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def chunk(self):
        return self.passage.chunk


@dataclass
class Span:
    """Consecutive units of one document that may answer, with their signals and share."""

    units: list[Reading]
    shape: str  # unit | window | list | table | section
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the ranker's linear score
    probability: float = 0.0  # share of the softmax over the question's spans
    year_ok: bool = True

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.units)

    @property
    def quoted(self) -> str:
        """The span as an answer quotes it: the parts of a list cut for length say their
        lead-in once (« Les règles sont : a ; b. c ; d. » rather than the lead-in twice)."""
        parts: list[str] = []
        previous_lead: str | None = None
        for unit in self.units:
            lead = _lead(unit.text) if unit.record.kind == "list" else None
            if lead is not None and lead == previous_lead:
                parts.append(unit.text.partition(":")[2].strip())
            else:
                parts.append(unit.text)
            previous_lead = lead
        return " ".join(parts)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(u.record.id for u in self.units)

    @property
    def anchor(self) -> Reading:
        return self.units[0]

    @property
    def rank(self) -> int:
        return self.anchor.rank

    def overlaps(self, other: "Span") -> bool:
        return bool(set(self.key) & set(other.key))


@dataclass
class Evidence:
    """One quoted unit and the passage (chunk) it is cited in."""

    unit: SentenceRecord
    passage: ScoredChunk

    @property
    def text(self) -> str:
        return self.unit.text


def _runs(readings: list[Reading]) -> list[list[Reading]]:
    """The units in reading order, cut into runs of consecutive chunks of one document version."""
    ordered = sorted(readings, key=lambda r: (r.chunk.doc_id, r.chunk.version or "", r.chunk.position, r.record.position))
    runs: list[list[Reading]] = []
    for reading in ordered:
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and last.chunk.doc_id == reading.chunk.doc_id
            and last.chunk.version == reading.chunk.version
            and reading.chunk.position - last.chunk.position in (0, 1)
        ):
            runs[-1].append(reading)
        else:
            runs.append([reading])
    return runs


def _lead(text: str) -> str | None:
    """What the parts of a list cut for length share: the text up to its first colon."""
    head, colon, _ = text.partition(":")
    return head.strip() if colon and len(head.strip()) >= 20 else None


def _spans_at(run: list[Reading], i: int) -> list[tuple[list[Reading], str]]:
    """The spans that start at unit ``i`` of a run."""
    anchor = run[i]
    found: list[tuple[list[Reading], str]] = [([anchor], "unit")]
    # a lead-in with what it announces, or a list cut for length: the list's parts that follow
    if announces(anchor.text) or anchor.record.kind == "list":
        # the parts of one list share their lead-in; the list a lead-in announces has its own
        head = _lead(anchor.text) if anchor.record.kind == "list" and not announces(anchor.text) else None
        parts = [anchor]
        for following in run[i + 1 :]:
            if len(parts) > MAX_PARTS or following.record.kind not in ("list", "row"):
                break
            if head is None and following.record.kind == "list" and len(parts) == 1:
                head = _lead(following.text)
            if head is not None and _lead(following.text) != head:
                break
            parts.append(following)
        if len(parts) > 1:
            found.append((parts, "list"))
    if anchor.record.kind == "row":
        rows = [anchor]
        for following in run[i + 1 :]:
            if len(rows) >= MAX_PARTS or following.record.kind != "row":
                break
            rows.append(following)
        if len(rows) > 1:
            found.append((rows, "table"))
    # windows after the lists and tables: a window holding the same units as a list is that list
    for width in range(2, MAX_WINDOW + 1):
        if i + width <= len(run):
            found.append((run[i : i + width], "window"))
    section = [anchor]
    for following in run[i + 1 :]:
        if len(section) >= MAX_SECTION_UNITS or following.chunk.section != anchor.chunk.section:
            break
        section.append(following)
    if len(section) > MAX_WINDOW:
        found.append((section, "section"))
    return [(units, shape) for units, shape in found if sum(len(u.text) + 1 for u in units) <= MAX_SPAN_CHARS or shape == "unit"]


# -- signals -------------------------------------------------------------------------------------


def _weights(question: Question, idf: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """IDF weights of the question's terms, and of the terms the user typed this turn.

    A word the documents never use is covered by no unit: a name, an acronym or a number
    (« ANSSI », « 2025 ») then says the fact asked is not there, and weighs as the rarest word;
    a common word (« freins » where the documents say « obstacles ») is the reader's wording, and
    is left to the dense signals, which read meaning rather than words.
    """
    default = max(idf.values()) if idf else 1.0
    named = set(tokens(" ".join(NAMED_WORD.findall(question.asked))))
    weigh = lambda terms: {t: idf.get(t, default) for t in terms if t in idf or t in named}  # noqa: E731
    return weigh(question.terms), weigh(question.own_terms)


def _coverage(weights: dict[str, float], found: set[str] | frozenset[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if present(t, found)) / total if total else 0.0


def _defines(text: str, weights: dict[str, float]) -> float:
    """How much of the question's subject a text names before the words that define it.

    A definition puts the term first and then says what it is (« Un registre est une liste
    tenue à jour… », « Registre : … »): French and English word order.
    """
    from .answer_kinds import DEFINITION_IN_TEXT

    cue = DEFINITION_IN_TEXT.search(text)
    return _coverage(weights, set(tokens(text[: cue.end()]))) if cue else 0.0


def _figure_near(text: str, terms: set[str], before: int = 6, after: int = 3) -> bool:
    """A figure with one of the question's terms a few words before or after it (« 12
    communes », « les régions … (30 %) »): the figure counts what was asked about."""
    raw = re.findall(r"\d[\d.,]*\s?%?|[^\W\d_]+", text)
    stems = [None if w[0].isdigit() else (tokens(w) or [""])[0] for w in raw]
    for i, stem in enumerate(stems):
        if stem is None:
            window = {s for s in stems[max(0, i - before) : i] + stems[i + 1 : i + 1 + after] if s}
            if any(present(t, window) for t in terms if not t[0].isdigit()):
                return True
    return False


def _quotable(text: str) -> bool:
    """A unit long enough to say something: a sentence, or a short line that holds a figure or a
    date (« August 2019 » under a title, « 12 % » in a call-out); a bare word or a stray
    symbol says nothing, and a line of web addresses points elsewhere."""
    if mostly_addresses(text):
        return False  # a footnote's link or a list of sources: where to read, not what is said
    return len(text) >= 12 or (len(text) >= 4 and any(c.isdigit() for c in text))


def readings(
    question: Question,
    query_vector: np.ndarray,
    passages: list[ScoredChunk],
    units: list[SentenceRecord],
    continuations: list[tuple[ScoredChunk, int]] = (),
) -> list[Reading]:
    """The units of the retrieved passages (and of the chunks that continue them), with what
    each holds and its similarity to the question."""
    rank_of = {p.chunk.id: i for i, p in enumerate(passages)}
    passage_of = {p.chunk.id: p for p in passages}
    for following, parent in continuations:
        if following.chunk.id not in passage_of:
            rank_of[following.chunk.id], passage_of[following.chunk.id] = parent, following
    retrieved = {p.chunk.id for p in passages}
    kept = [u for u in units if u.chunk_id in passage_of and _quotable(u.text) and not passage_injection(u.text)]
    if not kept:
        return []
    similarities = np.stack([u.vector for u in kept]) @ np.asarray(query_vector, dtype=np.float32)
    return [
        Reading(
            record=unit,
            passage=passage_of[unit.chunk_id],
            rank=rank_of[unit.chunk_id],
            retrieved=unit.chunk_id in retrieved,
            similarity=float(similarity),
            kinds={kind: carries(unit.text, kind, unit.kind) for kind in ANSWER_KINDS},
            terms=frozenset(tokens(unit.text)),
        )
        for unit, similarity in zip(kept, similarities)
    ]


def _year_fit(asked: list[int], text: str, chunk) -> tuple[bool, bool]:
    """(whether a span may answer a question naming ``asked`` years, whether its year is known).

    A figure of another year or edition is not the figure asked for: a span whose own words,
    passage or heading name only other years, or whose document is of another year and names
    none of the asked ones, does not answer. A span that says nothing of its year (an undated
    guide) may still answer; the ranker weighs that it is unknown.
    """
    if not asked:
        return True, True
    named = set(years_in(text)) or set(years_in(f"{chunk.section} {chunk.text}"))
    if named & set(asked) or (chunk.year is not None and chunk.year in asked):
        return True, True
    if named or chunk.year is not None:
        return False, True
    return True, False


def spans(question: Question, found: list[Reading], idf: dict[str, float], language_of: Callable[[StoredChunk], str]) -> list[Span]:
    """Every candidate span of the readings, with its signals (``language_of``: a passage's
    language, as the index read it once)."""
    if not found:
        return []
    runs = _runs(found)
    anchors = [r for r in found if r.retrieved]
    best_similarity = max((r.similarity for r in anchors), default=0.0)
    order = sorted({r.similarity for r in anchors}, reverse=True)
    position = {value: i for i, value in enumerate(order)}
    weights, own = _weights(question, idf)
    focus = max((t for t in question.terms if t in idf), key=lambda t: (idf[t], t), default=None)
    dense_floor = min((p.dense_score for p in (r.passage for r in anchors) if p.dense_score is not None), default=0.0)
    bm25_top = max((r.passage.bm25_score or 0.0 for r in anchors), default=0.0) or 1.0
    said = set(tokens(question.previous_answer)) if question.previous_answer else set()
    quoted = {r.record.id for r in found if said and r.terms and len(r.terms & said) / len(r.terms) >= 0.8}
    english = question.language == "en"
    named_terms = set(tokens(" ".join(NAMED_WORD.findall(question.asked))))
    unknown_name = float(any(t not in idf for t in named_terms))
    asks_plan = bool(PLAN.search(question.asked))
    specific = specific_kinds(question.asks)
    asked_terms = set(tokens(question.asked))
    term_set = set(weights) | set(own)

    result: list[Span] = []
    seen: set[tuple[str, ...]] = set()
    for run in runs:
        for i, anchor in enumerate(run):
            if not anchor.retrieved:
                continue  # a continuing chunk's units complete a span, never start one
            for units, shape in _spans_at(run, i):
                span = Span(units, shape)
                if span.key in seen:
                    continue
                seen.add(span.key)
                result.append(span)

    for span in result:
        units = span.units
        text = span.text
        chunk = span.anchor.chunk
        first = units[0]
        similarities = [u.similarity for u in units]
        kinds = {kind: any(u.kinds[kind] for u in units) for kind in ANSWER_KINDS}
        if "list" in question.asks and len(units) > 1:
            kinds["list"] = True  # several units are several things
        start = chunk.text.find(first.text)
        before = chunk.text[max(0, start - 240) : start] if start > 0 else ""
        context = set(tokens(f"{chunk.section} {chunk.title} {before}"))
        span_terms = frozenset().union(*(u.terms for u in units))
        span.year_ok, year_known = _year_fit(question.years, text, chunk)
        matched = lambda kind: float(kind in question.asks and kinds[kind])  # noqa: E731
        first_terms = first.terms
        features = {
            "sim_first": first.similarity,
            "sim_best": max(similarities),
            "sim_mean": sum(similarities) / len(similarities),
            "sim_gap": max(similarities) - best_similarity,
            "sim_rank": 1.0 / (1 + position.get(first.similarity, len(order))) if first.retrieved else 0.0,
            "passage_dense": span.anchor.passage.dense_score if span.anchor.passage.dense_score is not None else dense_floor,
            "passage_rank": 1.0 / (1 + span.rank),
            "bm25": (span.anchor.passage.bm25_score or 0.0) / bm25_top,
            "coverage": _coverage(weights, span_terms),
            "coverage_context": _coverage(weights, span_terms | context),
            "own_coverage": _coverage(own, span_terms | context),
            "has_focus": float(focus is None or present(focus, span_terms | context)),
            # a topic sentence restates the question: most of its words are the question's
            "restates": len(first_terms & asked_terms) / len(first_terms) if first_terms else 0.0,
            "novelty": math.log1p(len(span_terms - asked_terms)),
            "kind_met": float(bool(specific) and any(kinds[k] for k in specific)),
            "asks_unmet": float(bool(specific) and not any(kinds[k] for k in specific)),
            "first_unmet": float(bool(specific) and not any(first.kinds[k] for k in specific) and any(kinds[k] for k in specific)),
            "match_day": float("date" in question.asks and bool(DAY_IN_TEXT.search(text))),
            "match_who": matched("who"),
            "match_definition": matched("definition"),
            "match_list": matched("list"),
            "match_reason": matched("reason"),
            "defines_terms": _defines(first.text, weights) if "definition" in question.asks else 0.0,
            "figure_near_terms": float(kinds["quantity"] and _figure_near(text, term_set)),
            "plan_mismatch": float(kinds["quantity"] and asks_plan != bool(PLAN.search(text))),
            "n_units": float(len(units)),
            "length": math.log1p(len(text)) / math.log(600),
            "has_list": float(any(u.record.kind == "list" for u in units)),
            "has_row": float(any(u.record.kind == "row" for u in units)),
            "whole_list": float(span.shape in ("list", "table")),
            "lead_in_done": float(any(announces(u.text) for u in units[:-1])),
            "dangling": float(announces(units[-1].text)),
            "fragment": float(any(not ends_sentence(u.text) and not announces(u.text) and u.record.kind == "sentence" and len(u.text) < 80 for u in units)),
            "is_question": float(any(u.text.rstrip().endswith("?") for u in units)),
            "crosses_chunk": float(len({u.chunk.id for u in units}) > 1),
            "crosses_section": float(len({u.chunk.section for u in units}) > 1),
            "short_first": float(len(first.text) < SHORT_UNIT),
            "from_neighbour": float(any(not u.retrieved for u in units)),
            "year_mismatch": float(not span.year_ok),
            "year_unknown": float(bool(question.years) and not year_known),
            "previous_answer": float(any(u.record.id in quoted for u in units)),
            "english": float(english),
            # the passage is written in another language than the question (a French question
            # over an English guide): its words cannot match the question's
            "other_language": float(language_of(chunk) != question.language),
            "unknown_name": unknown_name,
        }
        several = float(len(units))
        features.update({
            "list_units": several if "list" in question.asks else 0.0,
            "list_whole": features["whole_list"] if "list" in question.asks else 0.0,
            "list_lead": features["lead_in_done"] if "list" in question.asks else 0.0,
            "reason_units": several if "reason" in question.asks else 0.0,
            "definition_units": several if "definition" in question.asks else 0.0,
            "measured_units": several if question.asks & MEASURED else 0.0,
            "who_short": features["short_first"] if "who" in question.asks else 0.0,
            "completes_kind": float(any(not first.kinds[k] and any(u.kinds[k] for u in units[1:]) for k in question.asks)),
            "reason_open": float("reason" in question.asks and not first.kinds["reason"] and len(units) > 1),
            "list_open": float("list" in question.asks and first.record.kind not in ("list", "row") and len(units) > 1),
        })
        if features["other_language"]:
            # The question's words and the passage's are in two languages: lexical signals say
            # nothing there, they are read as average rather than as absent.
            for name in LEXICAL:
                features[name] = math.nan
        span.features = features
    return result


# -- the fitted model ----------------------------------------------------------------------------


@dataclass
class ReaderModel:
    """The fitted ranker, gate and thresholds (``python -m evals calibrate``).

    - The ranker is a linear score over FEATURES (standardised); within one question a softmax
      of the scores gives each span its share.
    - The gate is a logistic model over GATE_FEATURES of the best span: the probability that
      the documents answer at all. Under ``abstain_below`` the assistant abstains.
    - ``extra_support``: another span (not overlapping) is quoted beside the best one when the
      gate, reading it as if it were the best, gives it this support: it answers on its own, and
      a loosely related passage stays out however few spans there are; ``extend_ratio``: a
      longer span that starts with a quoted one replaces it when its share reaches this fraction
      of that span's, and another span whose share reaches this fraction of the best's is quoted
      beside it.
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
    extra_support: float
    extend_ratio: float
    meta: dict = field(default_factory=dict)

    VERSION = 4

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return standardise(rows, self.mean, self.scale) @ self.weights

    def answerable(self, gate_row_: np.ndarray) -> float:
        z = float(standardise(gate_row_, self.gate_mean, self.gate_scale) @ self.gate_weights + self.gate_bias)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        rounded = lambda values: [round(float(v), 6) for v in values]  # noqa: E731
        return {
            "version": self.VERSION,
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
            "extra_support": round(float(self.extra_support), 4),
            "extend_ratio": round(float(self.extend_ratio), 4),
            **self.meta,
        }

    @classmethod
    def from_json(cls, data: dict) -> "ReaderModel":
        if data.get("version") != cls.VERSION or tuple(data["features"]) != FEATURES or tuple(data["gate_features"]) != GATE_FEATURES:
            raise ValueError("poids du lecteur obsolètes : relancez « python -m evals calibrate »")
        array = lambda key: np.asarray(data[key], dtype=np.float64)  # noqa: E731
        known = {"version", "backend", "features", "mean", "scale", "weights", "gate_features", "gate_mean", "gate_scale", "gate_weights",
                 "gate_bias", "abstain_below", "extra_support", "extend_ratio"}
        return cls(
            backend=data["backend"], mean=array("mean"), scale=array("scale"), weights=array("weights"),
            gate_mean=array("gate_mean"), gate_scale=array("gate_scale"), gate_weights=array("gate_weights"),
            gate_bias=float(data["gate_bias"]), abstain_below=float(data["abstain_below"]), extra_support=float(data["extra_support"]),
            extend_ratio=float(data["extend_ratio"]), meta={k: v for k, v in data.items() if k not in known},
        )


# A signal further than this many standard deviations from its training mean is read at that
# distance: the fit saw next to no candidates beyond it, so a linear weight there is an
# extrapolation (a new document's long list, a question with three times the usual candidates),
# and one extreme signal would decide alone.
CLIP_SD = 3.0


def standardise(rows: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(rows - mean) / scale, bounded to ±CLIP_SD, an undefined signal (NaN) read as the average one."""
    return np.clip(np.nan_to_num((rows - mean) / scale, nan=0.0), -CLIP_SD, CLIP_SD)


@lru_cache(maxsize=8)
def load_model(backend: str) -> ReaderModel:
    """The fitted model of ``backend`` (the default backend's, with a warning, when it has none)."""
    return ReaderModel.from_json(load_fitted(backend, what="poids du lecteur"))


def feature_matrix(found: list[Span]) -> np.ndarray:
    return np.array([[s.features[name] for name in FEATURES] for s in found], dtype=np.float64).reshape(len(found), len(FEATURES))


def score(found: list[Span], model: ReaderModel) -> list[Span]:
    """Spans with their score and softmax share, best first (ties: the better passage, the
    earlier unit, the shorter span)."""
    if found:
        values = model.scores(feature_matrix(found))
        shares = np.exp(values - values.max())
        shares /= shares.sum()
        for span, value, share in zip(found, values, shares):
            span.score, span.probability = float(value), float(share)
    return sorted(found, key=lambda s: (-s.score, s.rank, s.anchor.record.position, len(s.units)))


def gate_row(usable: list[Span]) -> np.ndarray:
    """What the gate reads: the best usable span's signals, how far it stands out from the next
    span that does not overlap it, how far below it the best span holding the kind of answer
    asked scores (the topic is there, the fact asked may not be), and whether no span holds it
    at all (a figure asked, none in any passage)."""
    best = usable[0]
    rival = next((s for s in usable[1:] if not s.overlaps(best)), None)
    margin = best.score - rival.score if rival is not None else 1.0
    # When no span holds it, the gap is 0 and ``no_typed`` says so: a gap measured to the weakest
    # span would grow with the number of candidates, far beyond what the fit saw, and a linear
    # gate would read that distance as certainty that the documents do not answer.
    typed = next((s for s in usable if not s.features["asks_unmet"]), None)
    gap = best.score - typed.score if typed is not None else 0.0
    # How far the best span's passage stands above the passages retrieved with it: a question
    # the documents answer has a passage that stands out; one they do not answer meets passages
    # that are all about as close (the same topic, not the fact asked).
    dense = {s.anchor.chunk.id: s.features["passage_dense"] for s in usable}
    spread = best.features["passage_dense"] - sum(dense.values()) / len(dense)
    values = {
        "top_score": best.score, "top_margin": margin, "typed_gap": gap, "no_typed": float(typed is None), "dense_spread": spread,
        **best.features,
    }
    return np.array([values[name] for name in GATE_FEATURES], dtype=np.float64)


def usable_spans(question: Question, ranked: list[Span]) -> tuple[list[Span], str]:
    """(the spans that may answer, why none may).

    A figure of another year is not the figure asked for: spans of another year are set aside.
    Whether a span holds the kind of answer asked (a figure, a date, a name) is a signal the
    ranker and the gate weigh, not a filter: kinds are read from the text by patterns, which
    miss a duration written as a word (« indéfiniment »), so a pattern decides nothing alone.
    """
    if not ranked:
        return [], "aucun passage pertinent"
    pool = [s for s in ranked if s.year_ok] if question.years else ranked
    if not pool:
        return [], f"aucun passage ne porte sur {', '.join(map(str, question.years))}"
    return pool, ""


# -- selection -----------------------------------------------------------------------------------


@dataclass
class Selection:
    """The spans an answer quotes (best first, then in reading order), or an abstention."""

    spans: list[Span]
    abstain: bool
    reason: str = ""
    support: float = 0.0  # the gate's probability that the documents answer
    unanswered: list[str] = field(default_factory=list)  # parts of a compound question left unanswered
    # The spans that answer (the best one, each year's, each part's), as against those quoted
    # beside them as related passages: a written answer must keep what these say.
    core: list[Span] = field(default_factory=list)

    @property
    def evidence(self) -> list[Evidence]:
        """Every quoted unit, in quoting order, with the passage it is cited in."""
        return _units_of(self.spans)

    @property
    def core_evidence(self) -> list[Evidence]:
        """The units of the spans that answer (all quoted spans when none is told apart)."""
        return _units_of(self.core or self.spans)


def _units_of(found: list[Span]) -> list[Evidence]:
    seen: set[str] = set()
    units: list[Evidence] = []
    for span in found:
        for unit in span.units:
            if unit.record.id not in seen:
                seen.add(unit.record.id)
                units.append(Evidence(unit.record, unit.passage))
    return units


def select(question: Question, ranked: list[Span], model: ReaderModel, max_spans: int = MAX_SPANS) -> Selection:
    """The spans to quote, or an abstention with its reason."""
    usable, reason = usable_spans(question, ranked)
    if not usable:
        return Selection([], True, reason)
    support = model.answerable(gate_row(usable))
    if support < model.abstain_below:
        return Selection([], True, "les passages trouvés ne répondent pas à la question", support)
    chosen, core = choose(question, usable, model, max_spans)
    return Selection(chosen, False, "", support, core=core)


def choose(question: Question, usable: list[Span], model: ReaderModel, max_spans: int = MAX_SPANS) -> tuple[list[Span], list[Span]]:
    """The spans an answer quotes (in reading order) and those of them that answer, once the
    gate let it answer (``usable``: best first).

    - The best span, or a longer span that starts with it whose share comes close
      (``extend_ratio``): the claim and the reason after it, the lead-in and all its list.
    - A question naming several years compares them: each year's best span.
    - Other spans, not overlapping, whose share comes close to the best's (``extend_ratio``) or
      that answer on their own (the gate's support, reading each as the best, reaches
      ``extra_support``), each extended the same way.
    """
    best = usable[0]

    def extended(span: Span) -> Span:
        if "list" in question.asks and all(u.record.kind == "list" for u in span.units):
            # A list cut into parts for length (ours, not the author's): asked for a list, the
            # answer is the whole list, whichever of its parts scored best.
            whole = [s for s in usable if s.shape == "list" and set(span.key) < set(s.key) and all(u.record.kind == "list" for u in s.units)]
            if whole:
                return max(whole, key=lambda s: len(s.key))
        longer = [s for s in usable if s.key[: len(span.key)] == span.key and len(s.key) > len(span.key)]
        if announces(span.units[-1].text):
            # A lead-in left hanging (« … les informations suivantes : ») says that the answer
            # follows: the items it announces are quoted with it, whatever their share.
            items = [s for s in longer if all(u.record.kind in ("list", "row") for u in s.units[len(span.units):])]
            if items:
                return items[0]
        longer = [s for s in longer if s.probability >= model.extend_ratio * span.probability]
        return longer[0] if longer else span

    chosen = [extended(best)]
    for year in question.years if len(question.years) > 1 else ():
        if not any(s.anchor.chunk.year == year or str(year) in s.text for s in chosen):
            of_year = next((s for s in usable if (s.anchor.chunk.year == year or str(year) in s.text) and not any(s.overlaps(c) for c in chosen)), None)
            if of_year is not None:
                chosen.append(of_year)
    core = list(chosen)
    for span in usable[1:]:
        if len(chosen) >= max_spans:
            break
        # Read as if it were the best: among the spans it would have led, those scoring no
        # higher. With the spans that outrank it kept in, its margin and its gap to the first
        # span holding the kind asked come out negative, values the gate never met on a best
        # span (both are at least 0 there), and it would read that gap as support.
        # A span whose share comes close to the best's (``extend_ratio``, as for a longer span)
        # is quoted too: the ranker could not tell which of the two answers.
        close = span.probability >= model.extend_ratio * best.probability
        if not close and model.answerable(gate_row([span, *(s for s in usable if s is not span and s.score <= span.score)])) < model.extra_support:
            continue
        if any(span.overlaps(c) or _same_text(span.text, c.text) for c in chosen):
            continue
        span = extended(span)
        if not any(span.overlaps(c) for c in chosen):
            chosen.append(span)
    if question.asks & {"list", "reason"}:
        core = list(chosen)  # items and reasons may be spread over several spans: all answer
    return _reading_order(chosen), core


def _same_text(a: str, b: str) -> bool:
    """Two quotes that say the same thing (a chapter indexed as PDF and as HTML)."""
    fold = lambda t: " ".join(re.findall(r"\w+", t.lower()))  # noqa: E731
    fa, fb = fold(a), fold(b)
    return fa == fb or (min(len(fa), len(fb)) > 40 and (fa in fb or fb in fa))


def _reading_order(chosen: list[Span]) -> list[Span]:
    """Spans grouped by document (newest edition first when they differ, else best document
    first), in text order within a document."""
    first_seen: dict[str, int] = {}
    for i, span in enumerate(chosen):
        first_seen.setdefault(span.anchor.chunk.doc_id, i)
    several_years = len({s.anchor.chunk.year for s in chosen}) > 1
    return sorted(
        chosen,
        key=lambda s: (
            -(s.anchor.chunk.year or 0) if several_years else 0,
            first_seen[s.anchor.chunk.doc_id],
            s.anchor.chunk.position,
            s.anchor.record.position,
        ),
    )


@dataclass
class Gathered:
    """Everything selection needs about one question, computed once (retrieval and spans).

    The assistant decides from it with the fitted model; ``python -m evals calibrate`` fits the
    model on it, so the fit sees exactly what answers are made from.
    """

    question: Question
    passages: list[ScoredChunk]
    spans: list[Span]
    parts: list[tuple[Question, list[ScoredChunk], list[Span]]] = field(default_factory=list)
    vector: np.ndarray | None = None  # the question's embedding


def decide(gathered: Gathered, model: ReaderModel) -> Selection:
    """The answer's spans for a question: per part for a compound question, else as a whole."""
    if gathered.parts:
        return merge_parts([(q.asked, select(q, score(s, model), model, max_spans=1)) for q, _, s in gathered.parts])
    return select(gathered.question, score(gathered.spans, model), model)


def merge_parts(parts: list[tuple[str, Selection]]) -> Selection:
    """One answer for a compound question: each part's best span, and the parts left unanswered."""
    chosen: list[Span] = []
    unanswered: list[str] = []
    for text, selection in parts:
        if selection.abstain or not selection.spans:
            unanswered.append(text)
            continue
        best = (selection.core or selection.spans)[0]
        if not any(best.overlaps(c) for c in chosen):
            chosen.append(best)
    if not chosen:
        supports = [s.support for _, s in parts]
        return Selection([], True, "les passages trouvés ne répondent à aucune partie de la question", max(supports, default=0.0))
    return Selection(chosen, False, "", min(s.support for _, s in parts if not s.abstain), unanswered, core=list(chosen))

