"""The Assistant: question analysis -> retrieval -> evidence selection -> answer -> grounding -> Answer.

Each stage is one module with one job: ``question`` (what is asked), ``retriever`` (hybrid
search), ``evidence`` (which units answer, or none: a fitted model), ``extractive`` or
``llm`` (writing the answer), ``grounding`` (checks any answer passes). This service only
composes them, and owns the policy every mode shares: validate the question, refuse injected
instructions, fall back to the extractive answer when an LLM is down, slow or answers without
a source. The UI, the CLI and the evals only call it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import replace
from typing import Any, Iterator

import numpy as np

from ingest.embeddings import NoteRagEmbeddings
from ingest.patterns import CITATION, dedupe_citations, has_citation
from ingest.settings import ANSWER_MODES, Settings, get_settings, offline_environment

from .extractive import abstention_text, compose, compose_overview
from .grounding import ground, replacement_problem, translation_problem
from .lexical import looks_like_injection, sanitize_passage
from .llm import (
    EvidenceUnit,
    LLMUnavailable,
    chat_model,
    evidence_messages,
    parse_reply,
    partial_answer,
    response_format,
    reply_schema,
    unit_header,
)
from .local_llm import runtime_installed as local_runtime_installed
from .models import Answer, Citation, Restart
from .overview import overview
from .question import Question, analyse, part_of
from .reader import Gathered, ReaderModel, Selection, decide, load_model, readings, spans
from .retriever import HybridRetriever, ScoredChunk

History = list[dict[str, Any]] | list[str] | None


class Assistant:
    """Ask questions about the indexed documents.

    >>> a = Assistant()
    >>> answer = a.ask("Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    >>> answer.text, [c.doc_id for c in answer.citations]
    """

    def __init__(
        self,
        index_dir: str | os.PathLike | None = None,
        mode: str | None = None,
        *,
        settings: Settings | None = None,
        embeddings: NoteRagEmbeddings | None = None,
    ):
        offline_environment()
        self.settings = (settings or get_settings()).with_overrides(index_dir=index_dir, mode=mode)
        self.retriever = HybridRetriever(self.settings, embeddings)
        self._models: dict[str, tuple[Any, str]] = {}
        self._models_lock = threading.Lock()

    # -- capabilities ---------------------------------------------------------------------------

    def available_modes(self) -> list[str]:
        """Modes that can answer here (the others would fall back to extractive)."""
        modes = ["extractive"]
        if local_runtime_installed():
            modes.append("local")
        if self.settings.openai_base_url or self.settings.openai_api_key:
            modes.append("openai")
        if "ollama_model" in self.settings.model_fields_set or "ollama_host" in self.settings.model_fields_set:
            modes.append("ollama")
        return modes

    def retrieve(
        self, question: str, history: History = None, filters: dict | None = None, *, k: int | None = None, kind: str | None = None
    ) -> list[ScoredChunk]:
        """The passages the answerer would see for ``question`` (``kind``: hybrid, dense or bm25).

        Exposed for evaluation: retrieval metrics measure exactly what answers are built from.
        """
        text, _ = self._validate(question)
        loaded = self.retriever.refresh()
        return self._search(analyse(text, history).asked, filters, k, kind, loaded)[1]

    def gather(self, question: str | Question, history: History = None, filters: dict | None = None, *, k: int | None = None, loaded=None) -> Gathered:
        """Retrieval and the reader's candidate spans for ``question``: everything selection decides from.

        Exposed for ``python -m evals calibrate``, which fits the reader on exactly this.
        """
        loaded = loaded or self.retriever.refresh()
        analysed = question if isinstance(question, Question) else analyse(self._validate(question)[0], history)
        vector, passages = self._search(analysed.asked, filters, k, None, loaded)
        gathered = Gathered(analysed, passages, self._spans(analysed, vector, passages, loaded), vector=vector)
        if len(analysed.parts) > 1:  # "quelle part X, et quelle part Y ?": each part on its own
            for index in range(len(analysed.parts)):
                part = part_of(analysed, index)
                part_vector, part_passages = self._search(part.asked, filters, 4, None, loaded)
                if index > 0:
                    # a later part is searched as written and read with the first part (its
                    # pronouns: « … et quand est-il sorti ? »)
                    _, with_first = self._search(f"{analysed.parts[0]} {part.asked}", filters, 4, None, loaded)
                    part_passages = _interleave(part_passages, with_first)
                gathered.parts.append((part, part_passages, self._spans(part, part_vector, part_passages, loaded)))
        return gathered

    def _search(self, query: str, filters: dict | None, k: int | None, kind: str | None, loaded) -> tuple[np.ndarray, list[ScoredChunk]]:
        vector = self.retriever.embeddings.embed_query_array(query)
        passages = self.retriever.search(
            query, k=k, filters=filters, kind=kind, lexical_query=self.retriever.expand_acronyms(query, loaded), query_vector=vector, loaded=loaded
        )
        return vector, passages

    def _spans(self, question: Question, vector: np.ndarray, passages: list[ScoredChunk], loaded):
        """The reader's spans over the retrieved passages and the chunk that follows each (a
        list, a reason or the steps a passage announces may go on there)."""
        retrieved = {p.chunk.id for p in passages}
        continuations: list[tuple[ScoredChunk, int]] = []
        for rank, passage in enumerate(passages):
            following = loaded.next_chunk(passage.chunk)
            if following is not None and following.id not in retrieved and following.version == passage.chunk.version:
                retrieved.add(following.id)
                continuations.append((replace(passage, chunk=following), rank))
        units = self.retriever.sentences([p.chunk.id for p in passages] + [c.chunk.id for c, _ in continuations], loaded)
        return spans(question, readings(question, vector, passages, units, continuations), loaded.idf, loaded.language)

    @property
    def reader_model(self) -> ReaderModel:
        """The fitted reader of the index's embedding backend (assistant/weights/<backend>.json)."""
        return load_model(self.retriever.embeddings.name)

    def _model(self, mode: str) -> tuple[Any, str]:
        with self._models_lock:  # the UI answers several questions at once
            if mode not in self._models:
                self._models[mode] = chat_model(self.settings, mode)
            return self._models[mode]

    # -- public API -----------------------------------------------------------------------------

    def ask(self, question: str, history: History = None, filters: dict | None = None, *, mode: str | None = None, k: int | None = None) -> Answer:
        """The whole answer at once."""
        answer: Answer | None = None
        for event in self.stream(question, history, filters, mode=mode, k=k):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self, question: str, history: History = None, filters: dict | None = None, *, mode: str | None = None, k: int | None = None
    ) -> Iterator[str | Answer]:
        """A progressive answer: a cited ``Answer`` at once, then, in an LLM mode, a written one.

        Events, in order:

        1. the extractive ``Answer`` (quoted, cited, checked), or an abstention, as soon as
           retrieval and selection are done (a fraction of a second): show it at once;
        2. in an LLM mode only, text deltas (``str``) of the answer the model is writing, to show
           as a draft beside the first answer;
        3. in an LLM mode only, the final ``Answer``: the model's, when it passes every check
           (``assistant.grounding.replacement_problem``), else the first answer again with a
           one-line ``notice`` saying why it stays (``fallback_from`` names the LLM mode).

        The last ``Answer`` yielded is final (``ask()`` returns it); an extractive-mode or
        abstained answer is final at once, and so is one whose quotes are in another language
        than the question (``assistant.grounding.translation_problem``). A ``Restart`` delta (an
        empty string) means "discard the draft streamed since the last ``Answer``": the model
        failed midway (connection dropped, timeout); the final ``Answer`` follows it. Deltas are
        never part of an ``Answer`` text: show ``Answer.text`` once it arrives.
        """
        started = time.perf_counter()
        mode = mode or self.settings.mode
        if mode not in ANSWER_MODES:
            raise ValueError(f"mode inconnu « {mode} » : choisissez parmi {', '.join(ANSWER_MODES)}")
        text, notices = self._validate(question)
        question_ = analyse(text, history)
        if looks_like_injection(text):
            notices.append("La question contient des consignes adressées à l'assistant : elles ne sont pas suivies.")
            yield self._abstention(text, question_, mode, None, notices, {"total": time.perf_counter() - started})
            return

        # The first answer never waits for a model: a follow-up is read with the conversation's
        # terms (question.analyse), as in extractive mode.
        retrieval_started = time.perf_counter()
        loaded = self.retriever.refresh()  # one index version for the whole answer
        gathered = self.gather(question_, filters=filters, k=k, loaded=loaded)
        summary = self._overview(question_, gathered, filters, loaded) if question_.overview else None
        selection = summary or decide(gathered, self._selection_model())
        timings = {"retrieval": time.perf_counter() - retrieval_started}

        if selection.abstain:
            timings["total"] = time.perf_counter() - started
            yield self._abstention(text, question_, mode, None, notices, timings, selection.reason)
            return
        first = self._extractive_answer(text, question_, selection, list(notices), dict(timings), started, overview=summary is not None)
        first.timings["first_answer"] = first.timings["total"]
        if mode == "extractive" or selection.unanswered or summary is not None:
            # a partial answer says what is missing, an overview is a list of quotes: they stay
            yield first
            return
        untranslatable = translation_problem(question_, selection)
        if untranslatable:  # the quote is final at once: no model is asked
            yield self._kept(first, mode, untranslatable, started)
            return
        yield replace(first, final=False, timings=dict(first.timings))

        streamed = False
        try:
            final: Answer | None = None
            for event in self._llm_answer(text, question_, gathered, loaded, selection, first, mode, notices, started):
                if isinstance(event, Answer):
                    final = event
                else:
                    streamed = streamed or bool(event)
                    yield event
            assert final is not None
            yield final
        except Exception as error:  # noqa: BLE001 - any outage keeps the first answer
            if streamed:
                yield Restart()
            yield self._kept(first, mode, f"le mode {mode} n'a pas pu répondre ({_reason(error)})", started)

    def _kept(self, first: Answer, mode: str, why: str, started: float, timings: dict[str, float] | None = None) -> Answer:
        """The first answer again, final, with the one-line notice of why the model's did not replace it."""
        notice = f"{why[0].upper()}{why[1:]} : réponse extractive conservée."
        merged = {**first.timings, **(timings or {}), "total": time.perf_counter() - started}
        return replace(
            first,
            notice=" ".join(filter(None, [first.notice, notice])),
            fallback_from=mode,
            timings=merged,
            final=True,
        )

    def _overview(self, question: Question, gathered: Gathered, filters: dict | None, loaded) -> Selection | None:
        return overview(question, gathered.vector, gathered.passages, filters, self.retriever, loaded)

    def _selection_model(self) -> ReaderModel:
        model = self.reader_model
        if self.settings.abstain_threshold is not None:  # an explicit override of the fitted threshold
            model = replace(model, abstain_below=self.settings.abstain_threshold)
        return model

    # -- steps --------------------------------------------------------------------------------

    def _validate(self, question: str) -> tuple[str, list[str]]:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("La question est vide : écrivez une question en toutes lettres.")
        question = " ".join(question.split())
        notices: list[str] = []
        limit = self.settings.max_question_chars
        if len(question) > limit:
            question = question[:limit].rsplit(" ", 1)[0]
            notices.append(f"Question tronquée à {limit} caractères.")
        return question, notices

    def _abstention(self, question: str, analysis: Question, mode: str, model: str | None, notices: list[str], timings: dict[str, float], reason: str = "") -> Answer:
        text = abstention_text(analysis.language)
        if reason:
            notices = [*notices, f"{reason[0].upper()}{reason[1:]}."]
        return Answer(
            question=question,
            text=text,
            abstained=True,
            mode=mode,
            model=model,
            notice=" ".join(notices) or None,
            timings=timings,
            language=analysis.language,
            asked=_asked(analysis),
        )

    def _citation(self, n: int, passage: ScoredChunk, highlights: list[str]) -> Citation:
        chunk = passage.chunk
        return Citation(
            n=n,
            doc_id=chunk.doc_id,
            title=chunk.title,
            kind=chunk.kind,
            doc_type=chunk.doc_type,
            year=chunk.year,
            page=chunk.page,
            section=chunk.section,
            text=chunk.text,
            score=round(passage.score, 6),
            source=chunk.source,
            chunk_id=chunk.id,
            file_path=chunk.file_path,
            highlights=highlights,
        )

    def _extractive_answer(
        self, question: str, analysis: Question, selection: Selection, notices: list[str], timings: dict[str, float], started: float, overview: bool = False
    ) -> Answer:
        highlights: dict[str, list[str]] = {}
        passages: dict[str, ScoredChunk] = {}
        for evidence in selection.evidence:  # dicts keep the order in which compose() quotes
            chunk_id = evidence.passage.chunk.id
            highlights.setdefault(chunk_id, []).append(evidence.text)
            passages[chunk_id] = evidence.passage
        ordered = list(passages)
        numbers = {chunk_id: i for i, chunk_id in enumerate(ordered, start=1)}
        text = compose_overview(selection, analysis.language, numbers) if overview else compose(selection, analysis.language, numbers)
        timings["total"] = time.perf_counter() - started
        return Answer(
            question=question,
            text=text,
            citations=[self._citation(numbers[c], passages[c], highlights[c]) for c in ordered],
            mode="extractive",
            notice=" ".join(notices) or None,
            timings=timings,
            language=analysis.language,
            asked=_asked(analysis),
        )

    def _llm_answer(
        self,
        question: str,
        analysis: Question,
        gathered: Gathered,
        loaded,
        selection: Selection,
        first: Answer,
        mode: str,
        notices: list[str],
        started: float,
    ) -> Iterator[str | Answer]:
        """Deltas of the model's draft, then the final Answer (the model's, or ``first`` kept).

        The model reads numbered units (``reading``): the retrieved passages' units, and may
        answer from any of them, or only the extractive selection and its neighbours (what the
        local model on two cores can read in a few seconds). It reads the question as the
        assistant read it (a follow-up rewritten with the conversation). Raises on an outage
        (the caller keeps ``first``). One attempt only: a reply that fails a check keeps the
        quoted answer rather than paying for a second slow generation.
        """
        timings = {k: v for k, v in first.timings.items() if k != "total"}
        model, model_name = self._model(mode)  # the local model loads here, on first use
        reading = self.settings.reading_of(mode)
        units = self._passage_units(gathered, selection, loaded) if reading == "passages" else self._evidence_units(selection, loaded)
        if not units:
            raise LLMUnavailable("aucun extrait à donner au modèle")
        messages = evidence_messages(analysis.asked, units, analysis.language)
        options = self._structured(mode, len(units))
        answer_started = time.perf_counter()
        raw: list[str] = []
        shown = ""
        usage: dict[str, Any] = {}
        for chunk in model.stream(messages, **options):
            delta = str(getattr(chunk, "content", "") or "")
            usage = dict(getattr(chunk, "usage_metadata", None) or {}) or usage
            if delta:
                if not raw:
                    timings["first_token"] = time.perf_counter() - answer_started
                raw.append(delta)
                draft = partial_answer("".join(raw))
                if len(draft) > len(shown) and draft.startswith(shown):
                    yield draft[len(shown) :]
                    shown = draft
            if time.perf_counter() - answer_started > self.settings.llm_timeout:
                raise TimeoutError(f"plus de {self.settings.llm_timeout:g} s")
        timings["answer"] = time.perf_counter() - answer_started
        if usage.get("output_tokens"):
            timings["output_tokens"] = float(usage["output_tokens"])
            timings["prompt_tokens"] = float(usage.get("input_tokens") or 0)
            generating = timings["answer"] - timings.get("first_token", 0.0)
            if generating > 0 and usage["output_tokens"] > 1:
                timings["tokens_per_s"] = (usage["output_tokens"] - 1) / generating
        timings["units"] = float(len(units))

        reply = parse_reply("".join(raw))
        if reply is None:
            yield self._kept(first, mode, "réponse du modèle illisible (tronquée ?)", started, timings)
            return
        text = reply.text.strip()
        listed = [u for u in reply.units if 1 <= u <= len(units)]
        if text and listed and not has_citation(text):  # cited in the list only: cite at the end
            text = f"{text} {''.join(f'[{u}]' for u in dict.fromkeys(listed))}"
        # each unit is read under its header (document, year, page): those count as said
        given = [f"{u.header} : {u.text}" for u in units]
        grounded = ground(text, given, analysis.language, self.settings.strict_figures, analysis.asked)
        # Reading the passages, the model may rightly answer from units the quote did not use:
        # only the checks that hold for any answer apply. Reading the selection, it rephrases the
        # quote and must keep what the quote says.
        core = {e.unit.id for e in selection.core_evidence}
        quoted = [u.n for u in units if u.unit_id in core] if reading == "selection" else []
        problem = replacement_problem(grounded, analysis, selection if reading == "selection" else None, quoted)
        if problem:
            yield self._kept(first, mode, f"la réponse rédigée n'a pas été retenue ({problem})", started, timings)
            return
        text, citations = self._unit_citations(grounded.text, grounded.cited, units)
        timings["total"] = time.perf_counter() - started
        yield Answer(
            question=question,
            text=text,
            citations=citations,
            unsupported=grounded.unsupported,
            mode=mode,
            model=model_name,
            notice=" ".join(notices) or None,
            timings=timings,
            language=analysis.language,
            asked=_asked(analysis),
        )

    def _structured(self, mode: str, n_units: int) -> dict[str, Any]:
        """Per-call options that constrain the reply to :func:`assistant.llm.reply_schema`.

        ``extra_body`` rather than langchain's ``response_format`` argument: the latter switches
        to the client's beta parse-and-stream API, which only some servers speak.
        """
        if mode == "ollama":
            return {"format": reply_schema(n_units)}
        if mode == "openai" and not self.settings.openai_response_format:
            return {}
        return {"extra_body": {"response_format": response_format(n_units)}}

    def _evidence_units(self, selection: Selection, loaded) -> list[EvidenceUnit]:
        """The selection's units and their neighbours, numbered (the "selection" reading).

        Passages in the order the extractive answer quotes them; within a passage, reading
        order; a neighbour is the unit just before or after a selected one in the same passage
        (the context a definition or a figure's subject often sits in).
        """
        selected = {e.unit.id for e in selection.evidence}
        passages: dict[str, ScoredChunk] = {}
        for evidence in selection.evidence:
            passages.setdefault(evidence.passage.chunk.id, evidence.passage)
        return self._numbered(passages, loaded, selected, self.NEIGHBOURS)

    def _passage_units(self, gathered: Gathered, selection: Selection, loaded) -> list[EvidenceUnit]:
        """Every unit of the retrieved passages, numbered (the "passages" reading): the model
        may answer from any of them. The chunks the selection continues into come right after
        the passage they continue, so a list cut by a page break reads whole."""
        passages: dict[str, ScoredChunk] = {}
        extra = {e.passage.chunk.id: e.passage for e in selection.evidence}
        for passage in gathered.passages:
            passages.setdefault(passage.chunk.id, passage)
            following = loaded.next_chunk(passage.chunk)
            if following is not None and following.id in extra:
                passages.setdefault(following.id, extra[following.id])
        for chunk_id, passage in extra.items():
            passages.setdefault(chunk_id, passage)
        return self._numbered(passages, loaded, {e.unit.id for e in selection.evidence}, None)

    def _numbered(self, passages: dict[str, ScoredChunk], loaded, selected: set[str], neighbours: int | None) -> list[EvidenceUnit]:
        """Units of ``passages`` (in that order, reading order within each), numbered from 1;
        with ``neighbours``, only the selected units and that many on each side. Sentences
        addressed to an AI are removed (passages are data)."""
        by_chunk: dict[str, list] = {}
        for record in self.retriever.sentences(list(passages), loaded):
            by_chunk.setdefault(record.chunk_id, []).append(record)
        units: list[EvidenceUnit] = []
        for chunk_id, passage in passages.items():
            ordered = sorted(by_chunk.get(chunk_id, []), key=lambda r: r.position)
            if neighbours is None:
                keep = set(range(len(ordered)))
            else:
                chosen = [i for i, r in enumerate(ordered) if r.id in selected]
                keep = {j for i in chosen for j in range(i - neighbours, i + neighbours + 1) if 0 <= j < len(ordered)}
            header = unit_header(passage.chunk, passage.chunk.page)
            for j in sorted(keep):
                clean = sanitize_passage(ordered[j].text).strip()
                if clean:
                    units.append(EvidenceUnit(len(units) + 1, chunk_id, clean, ordered[j].id in selected, header, passage, ordered[j].id))
        return units

    #: Units read on each side of a selected unit in the "selection" reading.
    NEIGHBOURS = 1

    def _unit_citations(self, text: str, cited_units: list[int], units: list[EvidenceUnit]) -> tuple[str, list[Citation]]:
        """Unit markers turned into passage citations numbered 1..m in order of first citation.

        The cited units become the highlights of their passage.
        """
        order: list[str] = []
        for n in cited_units:
            chunk_id = units[n - 1].chunk_id
            if chunk_id not in order:
                order.append(chunk_id)
        number = {chunk_id: i for i, chunk_id in enumerate(order, start=1)}
        passage_of = {u.chunk_id: u.passage for u in units}

        def to_passages(match: re.Match[str]) -> str:
            found = [number[units[int(x) - 1].chunk_id] for x in re.split(r"\s*[,;]\s*", match.group(1)) if 1 <= int(x) <= len(units)]
            return "".join(f"[{n}]" for n in dict.fromkeys(found))

        text = dedupe_citations(CITATION.sub(to_passages, text))
        citations = []
        for chunk_id in order:
            highlights = [units[n - 1].text for n in cited_units if units[n - 1].chunk_id == chunk_id]
            citations.append(self._citation(number[chunk_id], passage_of[chunk_id], highlights))
        return text, citations


def _asked(analysis: Question) -> str | None:
    """The rewritten question an Answer shows, when the assistant read the turn as another one."""
    return analysis.asked if analysis.rewritten else None


def _interleave(first: list[ScoredChunk], second: list[ScoredChunk]) -> list[ScoredChunk]:
    """The passages of two searches, alternately, each once."""
    result: list[ScoredChunk] = []
    seen: set[str] = set()
    for pair in zip(first, second):
        for passage in pair:
            if passage.chunk.id not in seen:
                seen.add(passage.chunk.id)
                result.append(passage)
    for passage in first[len(second):] + second[len(first):]:
        if passage.chunk.id not in seen:
            seen.add(passage.chunk.id)
            result.append(passage)
    return result


def _reason(error: BaseException) -> str:
    text = str(error).strip().split("\n")[0]
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return f"erreur {status} du service"
    chain = [error]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
        if len(chain) > 8:
            break
    if any("peer closed" in str(e) or "incomplete chunked" in str(e) or "RemoteProtocol" in type(e).__name__ for e in chain):
        return "connexion interrompue pendant la réponse"
    if "timeout" in name.lower() or "timed out" in text.lower():
        return "délai dépassé"
    if "connect" in name.lower() or "connection" in text.lower():
        return "service injoignable"
    return (text or name)[:160]
