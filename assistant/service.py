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
import threading
import time
from dataclasses import replace
from typing import Any, Iterator

import numpy as np

from ingest.embeddings import NoteRagEmbeddings
from ingest.settings import ANSWER_MODES, Settings, get_settings, offline_environment

from .evidence import EvidenceModel, Gathered, Selection, candidates, decide, load_model
from .extractive import abstention_text, compose
from .grounding import ground, renumber, reply_problem
from .lexical import looks_like_injection, sanitize_passage
from .llm import LLMUnavailable, chat_model, condense_messages, passage_header, system_and_user
from .local_llm import runtime_installed as local_runtime_installed
from .models import Answer, Citation, Restart
from .question import Question, analyse, part_of, turns
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
        return self._search(analyse(text, history), filters, k, kind, loaded)[1]

    def gather(self, question: str | Question, history: History = None, filters: dict | None = None, *, k: int | None = None, loaded=None) -> Gathered:
        """Retrieval and evidence features for ``question``: everything selection decides from.

        Exposed for ``python -m evals calibrate``, which fits the evidence model on exactly this.
        """
        loaded = loaded or self.retriever.refresh()
        analysed = question if isinstance(question, Question) else analyse(self._validate(question)[0], history)
        vector, passages = self._search(analysed, filters, k, None, loaded)
        gathered = Gathered(analysed, passages, self._candidates(analysed, vector, passages, loaded))
        if len(analysed.parts) > 1:  # "quelle part X, et quelle part Y ?": each part on its own
            for index in range(len(analysed.parts)):
                part = part_of(analysed, index)
                part_vector, part_passages = self._search(part, filters, 4, None, loaded)
                if part.previous and index > 0:
                    # A later part is searched as written too: read with the first part, its
                    # query is mostly the first part's, and finds the first part's passages.
                    alone = replace(part, previous=None)
                    part_vector, own_passages = self._search(alone, filters, 4, None, loaded)
                    part_passages = _interleave(own_passages, part_passages)
                gathered.parts.append((part, part_passages, self._candidates(part, part_vector, part_passages, loaded)))
        return gathered

    def _search(self, question: Question, filters: dict | None, k: int | None, kind: str | None, loaded) -> tuple[np.ndarray, list[ScoredChunk]]:
        query = question.retrieval_query
        vector = self.retriever.embeddings.embed_query_array(query)
        passages = self.retriever.search(
            query, k=k, filters=filters, kind=kind, lexical_query=self.retriever.expand_acronyms(query, loaded), query_vector=vector, loaded=loaded
        )
        return vector, passages

    def _candidates(self, question: Question, vector: np.ndarray, passages: list[ScoredChunk], loaded):
        units = self.retriever.sentences([p.chunk.id for p in passages], loaded)
        return candidates(question, vector, passages, units, loaded.idf)

    @property
    def evidence_model(self) -> EvidenceModel:
        """The fitted model of the index's embedding backend (assistant/weights/<backend>.json)."""
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
        """Text deltas as they are produced, then the final, grounded ``Answer``.

        The final text may differ from the concatenated deltas (invalid markers removed,
        fallback to extractive): show ``Answer.text`` once it arrives. A ``Restart`` delta
        (an empty string) means the text streamed so far is abandoned.
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

        model_name = None
        if mode != "extractive" and question_.is_follow_up:
            try:  # an LLM rewrites the follow-up as a question that stands alone
                model, model_name = self._model(mode)
                standalone = self._condense(model, text, turns(history))
                if standalone and standalone != text:
                    question_ = analyse(standalone)
            except Exception:  # the answer step will report the outage and fall back
                pass
        retrieval_started = time.perf_counter()
        loaded = self.retriever.refresh()  # one index version for the whole answer
        gathered = self.gather(question_, filters=filters, k=k, loaded=loaded)
        selection = decide(gathered, self._selection_model())
        timings = {"retrieval": time.perf_counter() - retrieval_started}

        if selection.abstain:
            timings["total"] = time.perf_counter() - started
            yield self._abstention(text, question_, mode, model_name, notices, timings, selection.reason)
            return
        if mode != "extractive":
            streamed = False
            try:
                for event in self._llm_answer(text, question_, gathered.all_passages, selection, mode, notices, timings, started):
                    streamed = streamed or bool(isinstance(event, str) and event)
                    yield event
                return
            except Exception as error:  # noqa: BLE001 - any outage falls back
                notices.append(f"Le mode {mode} n'a pas pu répondre ({_reason(error)}) : réponse extractive à la place.")
                if streamed:
                    yield Restart()
        answer = self._extractive_answer(text, question_, selection, notices, timings, started)
        answer.fallback_from = None if mode == "extractive" else mode
        yield answer.text
        yield answer

    def _selection_model(self) -> EvidenceModel:
        model = self.evidence_model
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

    def _condense(self, model: Any, question: str, turns: list[dict[str, str]]) -> str | None:
        reply = model.invoke(condense_messages(question, turns))
        text = str(getattr(reply, "content", reply)).strip().strip('"« »').split("\n")[0].strip()
        return text if 5 <= len(text) <= 500 else None

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
        )

    def _citation(self, n: int, passage: ScoredChunk, highlights: list[str]) -> Citation:
        chunk = passage.chunk
        return Citation(
            n=n,
            doc_id=chunk.doc_id,
            title=chunk.title,
            kind=chunk.kind,
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

    def _extractive_answer(self, question: str, analysis: Question, selection: Selection, notices: list[str], timings: dict[str, float], started: float) -> Answer:
        highlights: dict[str, list[str]] = {}
        passages: dict[str, ScoredChunk] = {}
        for evidence in selection.evidence:  # dicts keep the order in which compose() quotes
            chunk_id = evidence.passage.chunk.id
            highlights.setdefault(chunk_id, []).append(evidence.text)
            passages[chunk_id] = evidence.passage
        ordered = list(passages)
        numbers = {chunk_id: i for i, chunk_id in enumerate(ordered, start=1)}
        text = compose(selection, analysis.language, numbers)
        timings["total"] = time.perf_counter() - started
        return Answer(
            question=question,
            text=text,
            citations=[self._citation(numbers[c], passages[c], highlights[c]) for c in ordered],
            mode="extractive",
            notice=" ".join(notices) or None,
            timings=timings,
            language=analysis.language,
        )

    def _llm_answer(
        self,
        question: str,
        analysis: Question,
        passages: list[ScoredChunk],
        selection: Selection,
        mode: str,
        notices: list[str],
        timings: dict[str, float],
        started: float,
    ) -> Iterator[str | Answer]:
        model, model_name = self._model(mode)
        given = self._llm_context(passages, selection, mode)
        citations = [self._citation(i, p, []) for i, (p, _) in enumerate(given, start=1)]
        texts = [text for _, text in given]
        messages = system_and_user(analysis.text, citations, texts, analysis.language)
        answer_started = time.perf_counter()
        parts: list[str] = []
        for chunk in model.stream(messages):
            delta = str(getattr(chunk, "content", "") or "")
            if delta:
                if not parts:
                    timings["first_token"] = time.perf_counter() - answer_started
                parts.append(delta)
                yield delta
            if time.perf_counter() - answer_started > self.settings.llm_timeout:
                raise TimeoutError(f"plus de {self.settings.llm_timeout:g} s")
        timings["answer"] = time.perf_counter() - answer_started
        # the model read each passage under its header (title, year, page): those count as said
        given_texts = [f"{passage_header(c)}\n{t}" for c, t in zip(citations, texts)]
        grounded = ground("".join(parts), given_texts, analysis.language, self.settings.strict_figures, analysis.text)
        problem = reply_problem(grounded, analysis, selection, mode)
        if problem:
            raise LLMUnavailable(problem)
        if grounded.abstained:
            timings["total"] = time.perf_counter() - started
            yield self._abstention(question, analysis, mode, model_name, notices, timings)
            return
        best_unit = {e.passage.chunk.id: e.text for e in reversed(selection.evidence)}
        chosen = []
        for new_n, old_n in enumerate(grounded.cited, start=1):
            citation = citations[old_n - 1]
            citation.n = new_n
            citation.highlights = [best_unit[citation.chunk_id]] if citation.chunk_id in best_unit else []
            chosen.append(citation)
        timings["total"] = time.perf_counter() - started
        yield Answer(
            question=question,
            text=renumber(grounded.text, grounded.cited),
            citations=chosen,
            unsupported=grounded.unsupported,
            mode=mode,
            model=model_name,
            notice=" ".join(notices) or None,
            timings=timings,
            language=analysis.language,
        )

    def _llm_context(self, passages: list[ScoredChunk], selection: Selection, mode: str) -> list[tuple[ScoredChunk, str]]:
        """The passages given to the model, with the text it reads for each.

        Passages holding the selected units come first. Sentences addressed to an AI are
        removed (passages are data). The local 1.5B model reads its prompt at ~40 tokens/s on
        two cores and copies figures faithfully only from short contexts: it gets just the
        selected units of those passages (measured: adding their neighbours made it pick a
        neighbouring figure, "34 % prévoient" for "38 % ont défini").
        """
        chosen: dict[str, list[str]] = {}
        for evidence in selection.evidence:
            chosen.setdefault(evidence.passage.chunk.id, []).append(evidence.text)
        first = [p for p in passages if p.chunk.id in chosen]
        first.sort(key=lambda p: list(chosen).index(p.chunk.id))
        if mode == "local":
            return [(p, sanitize_passage(" ".join(chosen[p.chunk.id]))) for p in first]
        ordered = first + [p for p in passages if p.chunk.id not in chosen]
        return [(p, sanitize_passage(p.chunk.text)) for p in ordered]


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
    if "timeout" in name.lower() or "timed out" in text.lower():
        return "délai dépassé"
    if "connect" in name.lower() or "connection" in text.lower():
        return "service injoignable"
    return (text or name)[:160]
