"""The Assistant: question -> retrieval -> extractive or LLM answer -> grounded Answer.

It composes the components (retriever, extractive answerer, chat models) and owns the policy
that every mode shares: validate the question, refuse injected instructions, understand
follow-ups, abstain when the documents do not answer, fall back to the extractive answer when
an LLM is down, slow or answers without a source. The UI, the CLI and the evals only call it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterator

from ingest.embeddings import NoteRagEmbeddings
from ingest.settings import ANSWER_MODES, Settings, get_settings, offline_environment
from ingest.text import split_sentences

from .extractive import Selection, compose, merge_parts, score_sentences, select
from .figures import find_figures
from .local_llm import runtime_installed as local_runtime_installed
from .lexical import QuestionAnalysis, analyse, is_follow_up, key_terms, looks_like_injection, sanitize_passage, split_compound
from .llm import (
    ABSTAIN_EN,
    ABSTAIN_FR,
    LLMUnavailable,
    chat_model,
    condense_messages,
    ground,
    passage_header,
    renumber,
    system_and_user,
)
from .models import Answer, Citation, Restart
from .retriever import HybridRetriever, ScoredChunk

History = list[dict[str, Any]] | list[str] | None


def _turns(history: History) -> list[dict[str, str]]:
    """History as role/content dicts (plain strings are earlier user questions)."""
    turns: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, str):
            turns.append({"role": "user", "content": item})
        elif isinstance(item, dict) and item.get("content"):
            turns.append({"role": str(item.get("role", "user")), "content": str(item["content"])})
        elif isinstance(item, (list, tuple)) and len(item) == 2:  # (question, answer) pairs
            turns.append({"role": "user", "content": str(item[0])})
            if item[1]:
                turns.append({"role": "assistant", "content": str(item[1])})
    return turns


def _previous_question(question: str, turns: list[dict[str, str]]) -> str | None:
    """The last user question, when ``question`` is an elliptic follow-up of it."""
    previous = next((t["content"] for t in reversed(turns) if t["role"] == "user"), None)
    return previous if previous and is_follow_up(question) else None


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
        question, _ = self._validate(question)
        loaded = self.retriever.refresh()
        return self._retrieve(question, _previous_question(question, _turns(history)), filters, k, kind, loaded)[2]

    def _retrieve(self, question: str, previous: str | None, filters: dict | None, k: int | None, kind: str | None, loaded):
        analysis = analyse(question, previous)
        query = f"{previous} {question}" if previous else question
        query_vector = self.retriever.embeddings.embed_query_array(query)
        passages = self.retriever.search(
            query, k=k, filters=filters, kind=kind, lexical_query=analysis.lexical_query, query_vector=query_vector, loaded=loaded
        )
        return analysis, query_vector, passages

    def _compound(self, parts, previous, whole: Selection, passages, sentences, filters, loaded):
        """Answer each sub-question of "quelle part X, et quelle part Y ?" with its own sentence.

        Each part is retrieved and scored on its own (later parts keep the first one as context,
        for their pronouns); the passages found for the parts join the answer's passages.
        """
        merged = list(passages)
        known = {p.chunk.id for p in merged}
        selections = []
        for index, part in enumerate(parts):
            context = previous if index == 0 else parts[0]
            analysis, vector, found = self._retrieve(part, context, filters, 4, None, loaded)
            fresh = [p for p in found if p.chunk.id not in known]
            if fresh:
                merged.extend(fresh)
                known.update(p.chunk.id for p in fresh)
                sentences = sentences + self.retriever.sentences([p.chunk.id for p in fresh], loaded)
            evidence = score_sentences(analysis, vector, merged, sentences, loaded.idf)
            selections.append(select(analysis, evidence, loaded.idf, 0.0, max_sentences=1))
        return merge_parts(whole, selections), merged

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
        question, notices = self._validate(question)
        turns = _turns(history)
        previous = _previous_question(question, turns)

        if looks_like_injection(question):
            analysis = analyse(question)
            notices.append("La question contient des consignes adressées à l'assistant : elles ne sont pas suivies.")
            yield self._abstention(question, analysis, mode, None, notices, {"total": time.perf_counter() - started})
            return

        standalone = question
        model_name = None
        if mode != "extractive" and previous:
            try:
                model, model_name = self._model(mode)
                standalone = self._condense(model, question, turns) or question
                previous = None if standalone != question else previous
            except Exception:  # the answer step will report the outage and fall back
                pass
        retrieval_started = time.perf_counter()
        loaded = self.retriever.refresh()  # one index version for the whole answer
        analysis, query_vector, passages = self._retrieve(standalone, previous, filters, k, None, loaded)
        if previous:
            analysis.previous_answer = next((t["content"] for t in reversed(turns) if t["role"] == "assistant"), None)
        sentences = self.retriever.sentences([p.chunk.id for p in passages], loaded)
        evidence = score_sentences(analysis, query_vector, passages, sentences, loaded.idf)
        selection = select(analysis, evidence, loaded.idf, self.settings.abstain_threshold)
        parts = split_compound(standalone)
        if not selection.abstain and len(parts) > 1:
            selection, passages = self._compound(parts, previous, selection, passages, sentences, filters, loaded)
        timings = {"retrieval": time.perf_counter() - retrieval_started}

        if selection.abstain:
            timings["total"] = time.perf_counter() - started
            yield self._abstention(question, analysis, mode, model_name, notices, timings, selection.reason)
            return
        if mode != "extractive":
            streamed = False
            try:
                for event in self._llm_answer(question, standalone, analysis, passages, selection, mode, notices, timings, started):
                    streamed = streamed or bool(isinstance(event, str) and event)
                    yield event
                return
            except Exception as error:  # noqa: BLE001 - any outage falls back
                notices.append(f"Le mode {mode} n'a pas pu répondre ({_reason(error)}) : réponse extractive à la place.")
                if streamed:
                    yield Restart()
        answer = self._extractive_answer(question, analysis, selection, notices, timings, started)
        answer.fallback_from = None if mode == "extractive" else mode
        yield answer.text
        yield answer

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

    def _abstention(self, question: str, analysis: QuestionAnalysis, mode: str, model: str | None, notices: list[str], timings: dict[str, float], reason: str = "") -> Answer:
        text = ABSTAIN_EN if analysis.language == "en" else ABSTAIN_FR
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

    def _extractive_answer(self, question: str, analysis: QuestionAnalysis, selection: Selection, notices: list[str], timings: dict[str, float], started: float) -> Answer:
        highlights: dict[str, list[str]] = {}
        passages: dict[str, ScoredChunk] = {}
        for evidence in selection.evidence:  # dicts keep the order in which compose() quotes
            chunk_id = evidence.passage.chunk.id
            highlights.setdefault(chunk_id, []).extend([evidence.sentence.text] + ([evidence.continuation] if evidence.continuation else []))
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
        standalone: str,
        analysis: QuestionAnalysis,
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
        messages = system_and_user(standalone, citations, texts, analysis.language)
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
        grounded = ground("".join(parts), given_texts, analysis.language, self.settings.strict_figures, standalone)
        problem = _reply_problem(grounded, analysis, selection, mode)
        if problem:
            raise LLMUnavailable(problem)
        if grounded.abstained:
            timings["total"] = time.perf_counter() - started
            yield self._abstention(question, analysis, mode, model_name, notices, timings)
            return
        best_sentence = {e.passage.chunk.id: e.sentence.text for e in reversed(selection.evidence)}
        chosen = []
        for new_n, old_n in enumerate(grounded.cited, start=1):
            citation = citations[old_n - 1]
            citation.n = new_n
            citation.highlights = [best_sentence[citation.chunk_id]] if citation.chunk_id in best_sentence else []
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

        Passages holding the selected sentences come first. Sentences addressed to an AI are
        removed (passages are data). The local 1.5B model reads its prompt at ~40 tokens/s on
        two cores and copies figures faithfully only from short contexts: it gets just the
        selected sentences of those passages (measured: adding their neighbours made it pick a
        neighbouring figure, "34 % prévoient" for "38 % ont défini").
        """
        chosen: dict[str, list[str]] = {}
        for evidence in selection.evidence:
            quoted = [evidence.sentence.text] + ([evidence.continuation] if evidence.continuation else [])
            chosen.setdefault(evidence.passage.chunk.id, []).extend(quoted)
        first = [p for p in passages if p.chunk.id in chosen]
        first.sort(key=lambda p: list(chosen).index(p.chunk.id))
        if mode == "local":
            return [(p, sanitize_passage(" ".join(chosen[p.chunk.id]))) for p in first]
        ordered = first + [p for p in passages if p.chunk.id not in chosen]
        return [(p, sanitize_passage(p.chunk.text)) for p in ordered]


def _reply_problem(grounded, analysis: QuestionAnalysis, selection: Selection, mode: str) -> str | None:
    """Why a model reply must give way to the extractive answer (None: keep it).

    Measured on the eval set, the local 1.5B model declines questions the passages answer twice
    as often as it rightly declines, and misreads figures ("28 % des métropoles" became "28
    métropoles"): its refusals and its unsupported figures send the reader to the extractive
    answer. A larger remote model's refusal is trusted, its unsupported figures are flagged.
    """
    if grounded.abstained:
        return "le modèle local n'a pas trouvé la réponse dans les passages" if mode == "local" else None
    if not grounded.cited:
        return "réponse sans source"
    if mode == "local" and grounded.unsupported:
        return f"chiffre absent des sources : {', '.join(grounded.unsupported)}"
    asked = {f.value for f in find_figures(analysis.text)}
    new_figures = [f for f in find_figures(grounded.text) if f.value not in asked]
    if analysis.asks_figure and not new_figures and any(e.has_figure for e in selection.evidence):
        return "réponse sans le chiffre demandé"
    said = set(key_terms(grounded.text)) - set(analysis.key_terms) - set(analysis.context_terms)
    if len(said) < 2 and not new_figures:
        return "réponse qui reprend la question"
    return None


def _reason(error: BaseException) -> str:
    text = str(error).strip().split("\n")[0]
    name = type(error).__name__
    if "timeout" in name.lower() or "timed out" in text.lower():
        return "délai dépassé"
    if "connect" in name.lower() or "connection" in text.lower():
        return "service injoignable"
    return (text or name)[:160]
