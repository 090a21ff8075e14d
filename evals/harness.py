"""The evaluation core: load a question file, run a system on it, score it.

Shared by the CLI (``python -m evals``) and the CI guard (``tests/test_evals.py``):

    >>> from evals import load_questions, evaluate
    >>> result = evaluate(assistant, load_questions("evals/questions/train/note-and-barometer.yaml"), retrievers=("dense", "bm25", "hybrid"))
    >>> result.metrics["answer_accuracy"], result.retrieval["hybrid"]["hit@5"]

A *system* is anything with ``ask(question, history=...) -> Answer`` and
``retrieve(question, history=..., k=..., kind=...) -> passages`` (each passage exposes
``.chunk.doc_id`` and ``.chunk.text``): the note-rag ``Assistant`` and the naive LangChain
baseline of ``evals.baseline`` both qualify, so they are scored by the same code.

Metric definitions (also written at the top of every report, see ``DEFINITIONS``):

- a retrieved passage is *relevant* when it comes from the question's ``source`` document and
  contains at least one of the ``expect`` strings (case-insensitive, figures normalised:
  "21 %" == "21%" == "21 pour cent"). hit@k: a relevant passage is among the first k;
  MRR: mean of 1/rank of the first relevant passage (0 beyond the retrieval depth).
  Answerable questions with a source only. evidence@5 (stricter): every expected string
  appears somewhere in the first 5 passages, whatever their document.
- answer accuracy: answerable -> not abstained and ALL expected strings in the answer text;
  unanswerable -> abstained.
- citation accuracy (answerable with a source): not abstained and one cited passage comes
  from the source document and contains at least one expected string.
- abstention precision / recall: positive = the question should be abstained on
  (``answerable: false``); precision = right abstentions / abstentions, recall = right
  abstentions / unanswerable questions.
- unsupported-figure rate: share of non-abstained answers whose ``unsupported`` list (figures
  of the answer found in no cited passage) is not empty.
- latency: wall-clock seconds to the final answer (p50, p95); first-answer latency: to the first
  cited ``Answer`` of ``Assistant.stream``.
- written by the LLM: share of the final answers the LLM wrote (it passed every check).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import yaml

from assistant.figures import contains

DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions" / "train" / "note-and-barometer.yaml"
RETRIEVERS: tuple[str, ...] = ("dense", "bm25", "hybrid")
CATEGORIES: tuple[str, ...] = (
    "figure",
    "date",
    "duration",
    "who",
    "definition",
    "difference",
    "list",
    "table",
    "reason",
    "multi-passage",
    "comparison",
    "english",
    "follow-up",
    "overview",
    "out-of-corpus",
    "missing-fact",
)
DEFAULT_DEPTH = 20  # passages retrieved for hit@k / MRR (k = 1..DEFAULT_DEPTH)

DEFINITIONS: dict[str, str] = {
    "relevant passage": "a retrieved passage from the question's `source` document that contains at least one `expect` string "
    "(case-insensitive, figures normalised: « 21 % » = « 21% » = « 21 pour cent »)",
    "hit@k": "share of answerable questions (with a source) having a relevant passage among the first k retrieved "
    "(retrieval recall at k)",
    "selection misses": "share of answerable questions answered wrong (or declined) although a relevant passage was among "
    "the passages given to the reader (the first top_k): the answer quoted something else",
    "retrieval misses": "share of answerable questions answered wrong (or declined) with no relevant passage among "
    "the passages given to the reader",
    "MRR": "mean of 1/rank of the first relevant passage (0 if none in the first {depth})",
    "evidence@5": "share of answerable questions whose expected strings ALL appear in the first 5 passages (any document)",
    "answer accuracy": "answerable: not abstained and ALL `expect` strings in the answer text; unanswerable: abstained",
    "citation accuracy": "answerable questions with a source: a cited passage comes from the source document and contains "
    "at least one `expect` string (an abstention counts as wrong)",
    "abstention precision / recall": "positive = should abstain (`answerable: false`); precision = correct abstentions / "
    "abstentions, recall = correct abstentions / unanswerable questions (n/a when the denominator is 0)",
    "unsupported-figure rate": "share of non-abstained answers with a non-empty `unsupported` list (figures found in no cited passage)",
    "fallback rate": "share of answers produced by another mode than the one asked (e.g. local -> extractive on timeout)",
    "latency": "wall-clock seconds of one `ask` call (to the final answer), p50 / p95 over the questions",
    "first-answer latency": "wall-clock seconds from the call of `Assistant.stream` to its first cited `Answer`, p50 / p95",
    "written by the LLM": "share of the answers whose final text the LLM wrote (it passed every check and replaced the quote)",
    "tokens/s": "the LLM's generation speed (output tokens after the first / seconds after the first token), median over questions",
}


# --------------------------------------------------------------------------------------------
# questions


class QuestionFileError(ValueError):
    """A question file that does not follow the format (message names the entry)."""


@dataclass
class Question:
    id: str
    question: str
    expect: list[str]
    sources: tuple[str, ...]  # doc_ids holding the answer (one chapter may ship as .md, .html and .pdf)
    category: str
    answerable: bool
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def source(self) -> str | None:
        """The source documents as one label (None when the question has none)."""
        return " | ".join(self.sources) or None


def _as_history(raw: Any, where: str) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise QuestionFileError(f"{where}: `history` doit être une liste de {{role, content}}")
    turns = []
    for turn in raw:
        if isinstance(turn, str):
            turns.append({"role": "user", "content": turn})
        elif isinstance(turn, dict) and turn.get("content"):
            turns.append({"role": str(turn.get("role", "user")), "content": str(turn["content"])})
        else:
            raise QuestionFileError(f"{where}: tour d'historique invalide {turn!r} (attendu {{role, content}})")
    return turns


def load_questions(path: str | Path = DEFAULT_QUESTIONS) -> list[Question]:
    """Read a question file (YAML list of {id, question, expect, source, category, answerable, history})."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise QuestionFileError(f"fichier de questions introuvable : {path}") from error
    except yaml.YAMLError as error:
        raise QuestionFileError(f"{path} : YAML invalide ({error})") from error
    if isinstance(data, dict) and isinstance(data.get("questions"), list):
        data = data["questions"]
    if not isinstance(data, list) or not data:
        raise QuestionFileError(f"{path} : une liste non vide de questions est attendue")
    questions: list[Question] = []
    seen: set[str] = set()
    for number, entry in enumerate(data, start=1):
        where = f"{path.name}, entrée n°{number}"
        if not isinstance(entry, dict):
            raise QuestionFileError(f"{where} : un dictionnaire est attendu")
        qid = str(entry.get("id") or f"q{number:03d}")
        where = f"{path.name}, {qid}"
        if qid in seen:
            raise QuestionFileError(f"{where} : identifiant en double")
        seen.add(qid)
        text = entry.get("question")
        if not isinstance(text, str) or not text.strip():
            raise QuestionFileError(f"{where} : `question` manquante")
        expect = entry.get("expect") or []
        if isinstance(expect, (str, int, float)):
            expect = [expect]
        if not isinstance(expect, list):
            raise QuestionFileError(f"{where} : `expect` doit être une liste de chaînes")
        expect = [str(e) for e in expect if str(e).strip()]
        source = entry.get("source")
        if isinstance(source, list):
            sources = tuple(str(s) for s in source if s not in (None, "", "null"))
        else:
            sources = (str(source),) if source not in (None, "", "null") else ()
        answerable = entry.get("answerable")
        if answerable is None:
            answerable = bool(expect or sources)
        if not isinstance(answerable, bool):
            raise QuestionFileError(f"{where} : `answerable` doit valoir true ou false")
        category = str(entry.get("category") or ("out-of-corpus" if not answerable else "other"))
        questions.append(
            Question(
                id=qid,
                question=text.strip(),
                expect=expect,
                sources=sources,
                category=category,
                answerable=answerable,
                history=_as_history(entry.get("history"), where),
            )
        )
    return questions


def unreachable_expectations(questions: Sequence[Question], documents: dict[str, str]) -> list[tuple[str, str, str]]:
    """(question id, expected string, why) for expectations no quoting answer can ever meet.

    ``documents`` maps doc_id -> full text. Flags expected strings found in no document, and
    sources that are not in the corpus. (A string may still appear in the wrong context: the
    check is a floor, not a proof that the question is fair.)
    """
    problems = []
    for q in questions:
        for source in q.sources:
            if source not in documents:
                problems.append((q.id, source, f"source « {source} » is not an indexed document"))
        for expected in q.expect:
            if not any(contains(text, expected) for text in documents.values()):
                problems.append((q.id, expected, "found in no indexed document"))
    return problems


# --------------------------------------------------------------------------------------------
# scoring one question


class System(Protocol):
    def ask(self, question: str, history: Any = None, **kwargs: Any) -> Any: ...

    def retrieve(self, question: str, history: Any = None, **kwargs: Any) -> list[Any]: ...


def passage_doc_and_text(passage: Any) -> tuple[str, str]:
    """(doc_id, text) of a retrieved passage: a ScoredChunk, a StoredChunk or a LangChain Document."""
    chunk = getattr(passage, "chunk", passage)
    if hasattr(chunk, "page_content"):
        return str(chunk.metadata.get("doc_id", "")), chunk.page_content
    return str(getattr(chunk, "doc_id", "")), str(getattr(chunk, "text", ""))


def is_relevant(doc_id: str, text: str, question: Question) -> bool:
    """From the source document and holding at least one expected string."""
    if not question.sources or doc_id not in question.sources:
        return False
    return not question.expect or any(contains(text, e) for e in question.expect)


def first_relevant_rank(passages: Sequence[tuple[str, str]], question: Question) -> int | None:
    for rank, (doc_id, text) in enumerate(passages, start=1):
        if is_relevant(doc_id, text, question):
            return rank
    return None


def missing_strings(text: str, expected: Iterable[str]) -> list[str]:
    return [e for e in expected if not contains(text, e)]


def answer_is_correct(question: Question, text: str, abstained: bool) -> bool:
    if not question.answerable:
        return abstained
    return not abstained and not missing_strings(text, question.expect)


def citation_is_correct(question: Question, citations: Sequence[tuple[str, str]], abstained: bool) -> bool | None:
    """None when not applicable (unanswerable, or no source to check against)."""
    if not question.answerable or not question.source:
        return None
    if abstained:
        return False
    return any(is_relevant(doc_id, text, question) for doc_id, text in citations)


# --------------------------------------------------------------------------------------------
# results


@dataclass
class QuestionResult:
    id: str
    category: str
    question: str
    expected: list[str]
    source: str | None
    answerable: bool
    answer: str = ""
    abstained: bool = False
    cited_docs: list[str] = field(default_factory=list)
    cited_texts: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    mode_used: str = ""
    notice: str | None = None
    latency: float | None = None  # seconds to the final answer
    first_latency: float | None = None  # seconds to the first cited answer (Assistant.stream)
    written_by_llm: bool | None = None  # the final answer is the LLM's (not the quote it kept)
    tokens_per_s: float | None = None  # the LLM's generation speed on this question
    prompt_tokens: float | None = None
    correct: bool | None = None
    citation_ok: bool | None = None
    missing: list[str] = field(default_factory=list)
    ranks: dict[str, int | None] = field(default_factory=dict)  # retriever kind -> rank of first relevant
    evidence: dict[str, bool] = field(default_factory=dict)  # retriever kind -> all expected strings in top 5
    retrieved: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # kind -> top passages (doc_id, text)
    seen: list[tuple[str, str]] | None = None  # failed questions: the passages the answerer was given
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.correct is not None

    def diagnosis(self, top_k: int = 6, kind: str | None = None) -> str:
        """One line saying why this question failed (for the failure list of the report)."""
        if self.error:
            return f"erreur : {self.error}"
        kind = kind or next(iter(self.retrieved), None)
        rank = self.ranks.get(kind) if kind else None
        where = f"{kind} rank {rank}" if rank else (f"no relevant passage in {kind} top {len(self.retrieved.get(kind, []))}" if kind else "")
        if not self.answerable:
            docs = ", ".join(sorted(set(self.cited_docs))) or "no citation"
            return f"should abstain, answered citing {docs}"
        if self.abstained:
            reason = f" ({self.notice})" if self.notice else ""
            text = f"abstained{reason}"
            if self.seen is not None and self.expected:
                absent = [e for e in self.expected if not any(contains(t, e) for _, t in self.seen)]
                text += (
                    f"; {', '.join(absent)} not in the {len(self.seen)} passages given (retrieval)"
                    if absent
                    else f"; every expected string was in the {len(self.seen)} passages given (abstention threshold / selection)"
                )
            return f"{text}; {where}" if where else text
        parts = []
        if self.missing:
            if self.seen is not None:
                passages, given = self.seen, f"the {len(self.seen)} passages given to the answerer"
            else:
                passages = self.retrieved.get(kind, [])[:top_k] if kind else []
                given = f"the top-{top_k} {kind} passages"
            in_passages = [m for m in self.missing if any(contains(text, m) for _, text in passages)]
            out = [m for m in self.missing if m not in in_passages]
            if in_passages:
                parts.append(f"missing {', '.join(in_passages)} although in {given} (selection)")
            if out:
                parts.append(f"missing {', '.join(out)}, not in {given} (retrieval)")
        if self.citation_ok is False:
            parts.append(f"no cited passage from {self.source} holds an expected string (cited: {', '.join(self.cited_docs) or 'none'})")
        if self.unsupported:
            parts.append(f"unsupported figures {', '.join(self.unsupported)}")
        if where and (self.missing or self.citation_ok is False):
            parts.append(where)
        return "; ".join(parts) or "ok"


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in [0, 100])."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return data[low] + (data[high] - data[low]) * (position - low)


def answer_metrics(results: Sequence[QuestionResult], requested_mode: str | None = None) -> dict[str, Any]:
    answered = [r for r in results if r.answered]
    if not answered:
        return {"n": 0}
    answerable = [r for r in answered if r.answerable]
    unanswerable = [r for r in answered if not r.answerable]
    citable = [r for r in answered if r.citation_ok is not None]
    abstentions = [r for r in answered if r.abstained]
    true_abstentions = [r for r in abstentions if not r.answerable]
    spoken = [r for r in answered if not r.abstained]
    latencies = [r.latency for r in answered if r.latency is not None]
    fallbacks = [r for r in answered if requested_mode and r.mode_used and r.mode_used != requested_mode]
    firsts = [r.first_latency for r in answered if r.first_latency is not None]
    llm = requested_mode not in (None, "extractive", "naive")
    speeds = [r.tokens_per_s for r in answered if r.tokens_per_s]
    prompts = [r.prompt_tokens for r in answered if r.prompt_tokens]
    return {
        "n": len(answered),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "answer_accuracy": _ratio(sum(r.correct for r in answered), len(answered)),
        "answerable_accuracy": _ratio(sum(r.correct for r in answerable), len(answerable)),
        "citation_accuracy": _ratio(sum(bool(r.citation_ok) for r in citable), len(citable)),
        "abstention_precision": _ratio(len(true_abstentions), len(abstentions)),
        "abstention_recall": _ratio(len(true_abstentions), len(unanswerable)),
        "false_abstentions": sum(1 for r in answerable if r.abstained),
        "unsupported_rate": _ratio(sum(1 for r in spoken if r.unsupported), len(spoken)),
        "fallback_rate": _ratio(len(fallbacks), len(answered)) if requested_mode else None,
        "errors": sum(1 for r in answered if r.error),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "latency_mean": statistics.fmean(latencies) if latencies else None,
        "first_latency_p50": percentile(firsts, 50),
        "first_latency_p95": percentile(firsts, 95),
        "llm_share": _ratio(sum(1 for r in answered if r.written_by_llm), len(answered)) if llm else None,
        "tokens_per_s_p50": percentile(speeds, 50),
        "prompt_tokens_p50": percentile(prompts, 50),
        "prompt_tokens_max": max(prompts) if prompts else None,
    }


def retrieval_metrics(results: Sequence[QuestionResult], kind: str, depth: int = DEFAULT_DEPTH) -> dict[str, Any]:
    scored = [r for r in results if r.answerable and r.source and kind in r.ranks]
    if not scored:
        return {"n": 0}
    ranks = [r.ranks[kind] for r in scored]
    curve = [sum(1 for x in ranks if x is not None and x <= k) / len(scored) for k in range(1, depth + 1)]
    return {
        "n": len(scored),
        "hit@1": curve[0],
        "hit@5": curve[min(5, depth) - 1],
        "hit@10": curve[min(10, depth) - 1],
        f"hit@{depth}": curve[-1],
        "mrr": sum(1 / x for x in ranks if x) / len(scored),
        "evidence@5": sum(1 for r in scored if r.evidence.get(kind)) / len(scored),
        "curve": curve,
    }


def miss_rates(results: Sequence[QuestionResult], kind: str, top_k: int) -> dict[str, float | None]:
    """Where the wrong answers to answerable questions went wrong: the reader had a relevant
    passage and quoted something else (selection), or it had none (retrieval)."""
    scored = [r for r in results if r.answered and r.answerable and r.source and kind in r.ranks]
    wrong = [r for r in scored if not r.correct]
    given = [r for r in wrong if r.ranks[kind] is not None and r.ranks[kind] <= top_k]
    return {
        "selection_misses": _ratio(len(given), len(scored)),
        "retrieval_misses": _ratio(len(wrong) - len(given), len(scored)),
    }


@dataclass
class EvalResult:
    """One system on one question set: per-question results and the metrics derived from them."""

    name: str
    config: dict[str, Any]
    results: list[QuestionResult]
    depth: int = DEFAULT_DEPTH
    seconds: float = 0.0

    @property
    def requested_mode(self) -> str | None:
        return self.config.get("mode")

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = answer_metrics(self.results, self.requested_mode)
        main = self.config.get("retriever")
        if main and main in self.retrieval:
            for key in ("hit@1", "hit@5", f"hit@{self.depth}", "mrr", "evidence@5"):
                metrics[key] = self.retrieval[main].get(key)
            metrics.update(miss_rates(self.results, main, int(self.config.get("top_k") or 6)))
        return metrics

    @property
    def retrieval(self) -> dict[str, dict[str, Any]]:
        kinds = dict.fromkeys(k for r in self.results for k in r.ranks)
        return {kind: retrieval_metrics(self.results, kind, self.depth) for kind in kinds}

    def per_category(self) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[QuestionResult]] = defaultdict(list)
        for r in self.results:
            groups[r.category].append(r)
        order = [c for c in CATEGORIES if c in groups] + sorted(c for c in groups if c not in CATEGORIES)
        main = self.config.get("retriever")
        table = {}
        for category in order:
            group = groups[category]
            row = answer_metrics(group, self.requested_mode)
            row["n"] = len(group)
            if main:
                row["hit@5"] = retrieval_metrics(group, main, self.depth).get("hit@5")
            table[category] = row
        return table

    def diagnose(self, r: QuestionResult) -> str:
        return r.diagnosis(top_k=self.config.get("top_k") or 6, kind=self.config.get("retriever"))

    def failures(self) -> list[QuestionResult]:
        """Questions whose answer or citation is wrong, or that raised an error."""
        return [r for r in self.results if r.error or r.correct is False or r.citation_ok is False or r.unsupported]

    def to_dict(self, passages: bool = False) -> dict[str, Any]:
        questions = []
        for r in self.results:
            row = asdict(r)
            row["cited_texts"] = [t[:400] for t in r.cited_texts]
            if not passages:
                main = self.config.get("retriever")
                row["retrieved"] = {k: [d for d, _ in v] for k, v in r.retrieved.items() if k == main}
                row["seen"] = [d for d, _ in r.seen] if r.seen is not None else None
            if r.answered and (r.correct is False or r.citation_ok is False or r.error or r.unsupported):
                row["diagnosis"] = self.diagnose(r)
            questions.append(row)
        retrieval = {k: {key: v for key, v in m.items()} for k, m in self.retrieval.items()}
        return {
            "name": self.name,
            "config": self.config,
            "seconds": round(self.seconds, 2),
            "metrics": self.metrics,
            "retrieval": retrieval,
            "per_category": self.per_category(),
            "questions": questions,
        }


# --------------------------------------------------------------------------------------------
# running


def _progress(iterable: Sequence[Any], desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="q", file=sys.stderr, leave=False, dynamic_ncols=True)


def _error_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:200]


def _final_answer(system: Any, q: Question, kwargs: dict[str, Any], r: QuestionResult, t0: float) -> Any:
    """The final answer of ``system``; with a progressive ``stream``, also when the first came.

    The first ``Answer`` of ``Assistant.stream`` is the cited one a user reads at once; the
    last is final (what ``ask`` returns and what is scored).
    """
    stream = getattr(system, "stream", None)
    if stream is None:
        answer = system.ask(q.question, history=q.history, **kwargs)
        r.first_latency = time.perf_counter() - t0
        return answer
    answer = None
    for event in stream(q.question, history=q.history, **kwargs):
        if isinstance(event, str):
            continue
        if answer is None:
            r.first_latency = time.perf_counter() - t0
        answer = event
    if answer is None:
        raise RuntimeError("the stream ended without an answer")
    return answer


def evaluate(
    system: System,
    questions: Sequence[Question],
    *,
    name: str = "note-rag",
    mode: str | None = None,
    retrievers: Iterable[str] = ("hybrid",),
    answer: bool = True,
    depth: int = DEFAULT_DEPTH,
    config: dict[str, Any] | None = None,
    progress: bool = False,
) -> EvalResult:
    """Run ``system`` on ``questions``: answers (unless ``answer=False``) and retrieval ranks.

    ``mode`` is passed to ``system.ask`` (None: its default mode); ``retrievers`` are the
    ``kind`` values passed to ``system.retrieve`` (retrieval metrics for each). An exception on
    one question is recorded on that question (counted wrong) and the run goes on.
    """
    started = time.perf_counter()
    retrievers = tuple(retrievers)
    results: list[QuestionResult] = []
    for q in _progress(list(questions), name, progress):
        r = QuestionResult(
            id=q.id, category=q.category, question=q.question, expected=list(q.expect), source=q.source, answerable=q.answerable
        )
        for kind in retrievers:
            try:
                passages = [passage_doc_and_text(p) for p in system.retrieve(q.question, history=q.history, k=depth, kind=kind)]
            except Exception as error:  # noqa: BLE001 - recorded, the run continues
                passages = []
                r.error = r.error or f"retrieve({kind}) {_error_line(error)}"
            r.retrieved[kind] = passages
            r.ranks[kind] = first_relevant_rank(passages, q)
            r.evidence[kind] = bool(q.expect) and not missing_strings(" \n ".join(t for _, t in passages[:5]), q.expect)
        if answer:
            kwargs = {"mode": mode} if mode else {}
            t0 = time.perf_counter()
            try:
                ans = _final_answer(system, q, kwargs, r, t0)
            except Exception as error:  # noqa: BLE001
                r.latency = time.perf_counter() - t0
                r.error = _error_line(error)
                r.correct = False
                r.citation_ok = False if q.answerable and q.source else None
            else:
                r.latency = time.perf_counter() - t0
                r.answer = ans.text
                r.abstained = bool(ans.abstained)
                citations = [(c.doc_id, c.text) for c in ans.citations]
                r.cited_docs = [d for d, _ in citations]
                r.cited_texts = [t for _, t in citations]
                r.unsupported = list(ans.unsupported or [])
                r.mode_used = str(getattr(ans, "mode", "") or "")
                r.written_by_llm = bool(mode) and mode not in ("extractive", "naive") and r.mode_used == mode and not r.abstained
                timings = getattr(ans, "timings", None) or {}
                r.tokens_per_s = timings.get("tokens_per_s")
                r.prompt_tokens = timings.get("prompt_tokens")
                r.notice = getattr(ans, "notice", None)
                r.correct = answer_is_correct(q, ans.text, r.abstained)
                r.citation_ok = citation_is_correct(q, citations, r.abstained)
                r.missing = missing_strings(ans.text, q.expect) if q.answerable and not r.abstained else []
                if r.missing or r.citation_ok is False or (q.answerable and r.abstained):
                    try:  # what the answerer saw (default k and retriever), to tell retrieval from selection
                        r.seen = [passage_doc_and_text(p) for p in system.retrieve(q.question, history=q.history, k=None, kind=None)]
                    except Exception:  # noqa: BLE001 - diagnosis only
                        r.seen = None
        results.append(r)
    cfg = {"mode": mode if answer else None, "retrievers": list(retrievers), **(config or {})}
    top_k = getattr(getattr(system, "settings", None), "top_k", None)
    if top_k and "top_k" not in cfg:
        cfg["top_k"] = top_k
    if "retriever" not in cfg and retrievers:
        cfg["retriever"] = "hybrid" if "hybrid" in retrievers else retrievers[0]
    return EvalResult(name=name, config=cfg, results=results, depth=depth, seconds=time.perf_counter() - started)
