"""The web UI (ui.py): a real index, a real Gradio server, a real Chromium, real API clients.

The servers run in background threads of the test process (``ui.launch(...,
prevent_thread_lock=True)`` on a free loopback port), each over its own index built once per
session: uploads change an index, so these tests never touch the indexes of other modules.
Browser tests are marked ``browser`` and skip only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

from evals.procs import stop, wait_http

from .fake_llm import FakeLLMServer, figures_reader
from .conftest import (
    AI_USE_PARAPHRASE,
    ANNOUNCEMENT,
    SCREENSHOTS,
    BAROMETER_PDF,
    BAROMETER_RMD,
    PYTHON,
    REPO,
    free_port,
    metropolises_ai_share,
    subprocess_env,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_COPY = Path("/tmp/note-rag-ui.png")
ANSWER_TIMEOUT_MS = 120_000
# What Gradio writes in English unless told otherwise (the upload box, its progress, the footer).
ENGLISH = ["Drop File Here", "Click to Upload", "Uploading", "Use via API", "Built with Gradio", "Liked", "Disliked"]

# Questions whose figure is written in the corpus (announcement 2024 / barometer 2023).
KNOWN_FIGURES = [
    ("Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?", "17%"),
    ("Quelle part des collectivités a déjà eu recours à l'IA en 2023 ?", "27%"),
    ("Qu'est-ce qu'un CSIRT ?", "Computer Security Incident Response Team"),
    ("Quelle part des collectivités de plus de 3 500 habitants a expérimenté un projet de gestion par la donnée ?", "59%"),
    ("Combien de collectivités se seront lancées dans un projet d'intelligence artificielle dans les douze prochains mois ?", "51%"),
    ("Quelle part des répondants pensent que leur structure n'est probablement pas exposée aux attaques cyber ?", "6%"),
]


# --------------------------------------------------------------------------------------------
# fixtures: indexes, servers, browser


def _build(index_dir: Path, **kwargs) -> Path:
    from ingest import build_index
    from ingest.settings import get_settings

    report = build_index(settings=get_settings(index_dir=index_dir, **kwargs.pop("settings", {})), progress=False, **kwargs)
    assert report.ok, [d.error for d in report.failed]
    return index_dir


@pytest.fixture(scope="session")
def ui_index(tmp_path_factory) -> Path:
    """The corpus of corpus/sources.toml (announcement + barometer, shipped in corpus/)."""
    return _build(tmp_path_factory.mktemp("ui-corpus-index"))


@pytest.fixture(scope="session")
def ui_pdf_index(tmp_path_factory) -> Path:
    """The 15-page barometer PDF alone (page previews)."""
    return _build(tmp_path_factory.mktemp("ui-pdf-index"), paths=[BAROMETER_PDF])


@pytest.fixture(scope="session")
def ui_upload_index(tmp_path_factory) -> Path:
    """The announcement alone: uploads are added to it."""
    return _build(tmp_path_factory.mktemp("ui-upload-index"), paths=[ANNOUNCEMENT])


class Server:
    """ui.launch() in a background thread on a free loopback port."""

    def __init__(self, index_dir: Path, auth=None, **settings):
        import ui
        from assistant import Assistant
        from ingest.settings import get_settings

        self.index_dir = index_dir
        self.settings = get_settings(index_dir=index_dir, mode="extractive", **settings)
        self.assistant = Assistant(settings=self.settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.demo = ui.launch(self.assistant, "127.0.0.1", self.port, auth=auth, prevent_thread_lock=True, quiet=True)

    def close(self) -> None:
        self.demo.close()


@pytest.fixture(scope="session")
def server(ui_index):
    running = Server(ui_index)
    yield running
    running.close()


@pytest.fixture(scope="session")
def pdf_server(ui_pdf_index):
    running = Server(ui_pdf_index)
    yield running
    running.close()


@pytest.fixture(scope="session")
def upload_server(ui_upload_index):
    running = Server(ui_upload_index, upload_max_mb=0.05)  # 50 Ko: the size limit is testable
    yield running
    running.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium absent ({CHROMIUM}) : installez le paquet Debian « chromium » pour les tests navigateur")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _page(browser, locale: str):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


@pytest.fixture
def page(browser):
    context, page = _page(browser, "fr-FR")
    yield page
    context.close()


@pytest.fixture
def english_page(browser):
    """A browser set to English, as many are: the page must still be all French."""
    context, page = _page(browser, "en-US")
    yield page
    context.close()


def client(url: str, **kwargs):
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=False, **kwargs)


# --------------------------------------------------------------------------------------------
# browser helpers


def open_ui(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#nr-question textarea")


def ask(page, question: str) -> str:
    """Type a question, send it, wait for its answer (a new bot message, with its ⓘ, and its
    sources beside it); returns that message. The same question twice waits for the second."""
    before = page.locator('#nr-chat [data-testid="bot"]').count()
    page.fill("#nr-question textarea", question)
    page.click("#nr-send")
    page.wait_for_function(
        """([q, before]) => {
            const bots = document.querySelectorAll('#nr-chat [data-testid="bot"]');
            const meta = document.querySelector('#nr-sources .nr-answer-meta');
            return bots.length > before && bots[bots.length - 1].querySelector('.nr-info') && meta && meta.textContent.includes(q);
        }""",
        arg=[" ".join(question.split()), before],
        timeout=ANSWER_TIMEOUT_MS,
    )
    return page.locator('#nr-chat [data-testid="bot"]').last.inner_text()


def info(page) -> str:
    """The tooltip of the last answer's ⓘ: who answered and how fast."""
    return page.locator('#nr-chat [data-testid="bot"]').last.locator(".nr-info").get_attribute("title") or ""


def screenshot(page, name: str) -> None:
    """Write the README's picture NAME into the folder NOTE_RAG_SCREENSHOTS names (docs/screenshots)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def choose(page, dropdown: str, option: str) -> None:
    """Pick ``option`` in the single-choice drop-down ``dropdown`` (a CSS selector)."""
    page.click(f"{dropdown} input")
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def visible_english(page) -> list[str]:
    """Gradio's English strings visible in the page (text, or a button's label or tooltip)."""
    shown = [page.inner_text("body")] + page.eval_on_selector_all(
        "button", "bs => bs.flatMap(b => [b.getAttribute('aria-label') || '', b.title || ''])"
    )
    return [english for english in ENGLISH if any(english in text for text in shown)]


def generation(index_dir: Path) -> int:
    from ingest.settings import get_settings
    from ingest.store import IndexStore

    return IndexStore(get_settings(index_dir=index_dir)).require_current().number


# --------------------------------------------------------------------------------------------
# browser tests


@pytest.mark.browser
def test_browser_answer_sources_screenshot_and_bad_upload(server, page, tmp_path):
    open_ui(page, server.url)
    assert "Assistant data, IA et cybersécurité" in page.inner_text("h1")

    # An empty question: a French message, no crash, nothing added to the chat.
    page.click("#nr-send")
    page.wait_for_function("() => document.querySelector('#nr-status').textContent.includes('question est vide')")
    assert page.locator('#nr-chat [data-testid="bot"]').count() == 0

    # The header names what is indexed, read from the index (not the note it only announces).
    header = page.inner_text("#nr-header")
    assert "les 2 documents indexés" in header, header
    for _, title, _, _ in server.assistant.retriever.documents():
        assert title in header
    # The number of passages and the durations wait, closed, in « Réglages avancés ».
    assert not page.locator("#nr-k").is_visible()

    question = "Quel pourcentage des collectivités a subi une cyberattaque ?"
    answer = ask(page, question)
    # Both editions answer this: 17% (note 2024, "victimes") or 21% (baromètre 2023, "subi").
    assert re.search(r"\b(17|21) ?%", answer), answer
    assert "[1]" in answer
    assert "Mode :" not in answer and "citations exactes" in info(page), "who answered, and how fast, is in the ⓘ"
    assert re.search(r"\d,\d s", info(page)), info(page)
    sources = page.inner_text("#nr-sources")
    assert "cybersécurité" in sources
    assert "[1]" in sources
    assert page.locator("#nr-sources .nr-passage mark").count() >= 1, "the supporting sentence is highlighted"
    page.get_by_text("Réglages avancés").click()
    page.locator("#nr-k").wait_for()
    assert "Nombre de passages consultés" in page.inner_text("#nr-advanced")
    assert "recherche des passages" in page.inner_text("#nr-details") and "citations exactes" in page.inner_text("#nr-details")

    shot = tmp_path / "note-rag-ui.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 20_000
    screenshot(page, "chat.png")

    # Follow-up and new conversation, then an example question: the note 2024 figure, 17%.
    page.click("#nr-new")
    page.wait_for_function("() => !document.querySelector('#nr-chat [data-testid=\"bot\"]')")
    page.get_by_text(KNOWN_FIGURES[0][0]).first.click()
    page.wait_for_function(
        "() => { const m = document.querySelector('#nr-sources .nr-answer-meta'); return m && m.textContent.includes('victime'); }",
        timeout=ANSWER_TIMEOUT_MS,
    )
    answer = page.locator('#nr-chat [data-testid="bot"]').last.inner_text()
    assert "17%" in answer and "[1]" in answer, answer

    # A corrupt PDF: a French error in the page, and the index is left as it was.
    before = generation(server.index_dir)
    corrupt = tmp_path / "rapport-corrompu.pdf"
    corrupt.write_bytes(b"%PDF-1.4 garbage")
    page.get_by_text("Ajouter un document à l'index").click()
    page.locator("#nr-upload input[type=file]").set_input_files(str(corrupt))
    page.wait_for_function(
        "() => document.querySelector('#nr-upload-status').textContent.includes(\"n'a pas été ajouté\")",
        timeout=ANSWER_TIMEOUT_MS,
    )
    status = page.inner_text("#nr-upload-status")
    assert "rapport-corrompu.pdf" in status
    assert "PDF illisible" in status or "illisible" in status.lower(), status
    assert "L'index n'a pas été modifié" in status
    assert generation(server.index_dir) == before
    assert not (server.index_dir / "uploads" / corrupt.name).exists()

    # The index still answers.
    answer = ask(page, "Qu'est-ce qu'un CSIRT ?")
    assert "Computer Security Incident Response Team" in answer and "[1]" in answer


UPLOADED_MD = """# Compte rendu du conseil municipal de Villeneuve-sur-Data (2024)

## Plan de cybersécurité

La commune de Villeneuve-sur-Data a consacré 42 000 euros à son plan de cybersécurité en 2024.
Le plan prévoit une formation de tous les agents et un exercice de crise chaque année.
"""


def upload(page, path: Path, expected: str) -> str:
    page.locator("#nr-upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "text => document.querySelector('#nr-upload-status').textContent.includes(text)", arg=expected, timeout=ANSWER_TIMEOUT_MS
    )
    return page.inner_text("#nr-upload-status")


@pytest.mark.browser
def test_browser_shows_the_cited_answer_then_the_written_one(ui_index, page):
    """An LLM mode: the quoted, cited answer at once with « rédaction en cours… », then the
    model's answer in its place (a real OpenAI-compatible HTTP server, slow on purpose)."""
    import ui

    with FakeLLMServer(figures_reader, delay=3.0) as llm:
        running = Server(ui_index, openai_base_url=f"{llm.url}/v1", openai_model="fake-model", llm_timeout=30.0)
        try:
            open_ui(page, running.url)
            page.locator("#nr-mode label", has_text=ui.MODE_LABELS["openai"]).click()
            page.fill("#nr-question textarea", KNOWN_FIGURES[0][0])
            page.click("#nr-send")
            page.wait_for_selector("#nr-chat .nr-drafting", timeout=ANSWER_TIMEOUT_MS)
            bot = page.locator('#nr-chat [data-testid="bot"]').last
            first = bot.inner_text()
            assert "rédaction en cours" in first and "D'après" in first and "17%" in first and "[1]" in first, first
            assert "citations exactes" in info(page), info(page)
            assert "[1]" in page.inner_text("#nr-sources"), "the first answer's sources are shown at once"
            page.wait_for_function("() => !document.querySelector('#nr-chat .nr-drafting')", timeout=ANSWER_TIMEOUT_MS)
            final = bot.inner_text()
            assert "modèle OpenAI" in info(page) and "fake-model" in info(page) and "rédaction en cours" not in final, (info(page), final)
            assert "17%" in final and "[1]" in final and "D'après" not in final, "the written answer replaced the quote"
            assert page.locator('#nr-chat [data-testid="bot"]').count() == 1, "replaced in place, not added"
        finally:
            running.close()


@pytest.mark.browser
def test_browser_upload_adds_a_document_and_enforces_type_and_size(upload_server, page, tmp_path):
    open_ui(page, upload_server.url)
    page.get_by_text("Ajouter un document à l'index").click()

    document = tmp_path / "villeneuve-sur-data-2024.md"
    document.write_text(UPLOADED_MD, encoding="utf-8")
    status = upload(page, document, "a été ajouté à l'index")
    assert "villeneuve-sur-data-2024.md" in status
    after_upload = generation(upload_server.index_dir)
    assert (upload_server.index_dir / "uploads" / document.name).exists()
    answer = ask(page, "Quel budget la commune de Villeneuve-sur-Data a-t-elle consacré à son plan de cybersécurité ?")
    assert "42 000" in answer and "[1]" in answer, answer
    assert "Villeneuve-sur-Data" in page.inner_text("#nr-sources")

    wrong_type = tmp_path / "notes.docx"
    wrong_type.write_bytes(b"PK\x03\x04 pas un document accepte")
    status = upload(page, wrong_type, "refusé")
    assert "type de fichier" in status and "L'index n'a pas été modifié" in status

    # Over the limit: refused in the page, before Gradio sends or stores it (Gradio's own limit
    # is the same, for any other client); the message is French.
    import ui

    assert upload_server.demo.max_file_size == ui.upload_limit(upload_server.settings) == int(0.05 * 1024 * 1024)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/upload" in request.url else None)
    too_big = tmp_path / "gros-fichier.txt"
    too_big.write_text("Les collectivités et la donnée. " * 2500, encoding="utf-8")  # ~80 Ko > 50 Ko
    status = upload(page, too_big, "n'a pas été ajouté")
    assert "gros-fichier.txt" in status and "trop volumineux" in status and "maximum" in status, status
    assert not sent, f"the oversized file was sent: {sent}"
    assert generation(upload_server.index_dir) == after_upload
    assert not (upload_server.index_dir / "uploads" / too_big.name).exists()

    # the same name again with other content: refused, the first version stays
    document.write_text(UPLOADED_MD.replace("42 000", "99 000"), encoding="utf-8")
    status = upload(page, document, "déjà été ajouté")
    assert "n'a pas été ajouté" in status and "renommez" in status, status
    assert "42 000" in (upload_server.index_dir / "uploads" / document.name).read_text(encoding="utf-8")
    assert generation(upload_server.index_dir) == after_upload


@pytest.mark.browser
def test_browser_upload_control_is_french_whatever_the_browser_language(upload_server, english_page, tmp_path):
    """A browser set to English: the upload box, its progress line and the page are French."""
    page = english_page
    open_ui(page, upload_server.url)
    page.get_by_text("Ajouter un document à l'index").click()
    page.locator("#nr-upload").wait_for()
    assert visible_english(page) == []
    control = page.inner_text("#nr-upload")
    assert "Déposez le fichier ici" in control and "Cliquez pour choisir un fichier" in control, control

    # A slow upload (the network throttled) shows its progress line: in French too.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 12_000})
    document = tmp_path / "budget-numerique-grandville-2025.md"
    document.write_text(
        "# Budget numérique de Grandville (2025)\n\n"
        + "La commune de Grandville consacre 18 000 euros à la formation de ses agents à la cybersécurité. " * 350,
        encoding="utf-8",
    )  # ~35 Ko, under the 50 Ko limit: about 3 s at this speed
    assert document.stat().st_size < upload_server.settings.upload_max_mb * 1024 * 1024
    page.locator("#nr-upload input[type=file]").set_input_files(str(document))
    progress = page.locator("#nr-upload .uploading")
    progress.wait_for(state="attached")  # its English text is hidden: Playwright calls it hidden
    shown = progress.evaluate("e => getComputedStyle(e, '::before').content")
    assert "Envoi du fichier" in shown, shown
    assert visible_english(page) == [], "the progress line is French"
    network.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    page.wait_for_function(
        "() => document.querySelector('#nr-upload-status').textContent.includes('a été ajouté')", timeout=ANSWER_TIMEOUT_MS
    )
    assert "budget-numerique-grandville-2025.md" in page.inner_text("#nr-upload-status")
    # The header and the filters now name the new document: they are read from the index.
    page.wait_for_function("() => document.querySelector('#nr-header').textContent.includes('Grandville')")
    assert visible_english(page) == []
    screenshot(page, "upload.png")


@pytest.mark.browser
def test_browser_follow_up_and_abstention(server, page):
    open_ui(page, server.url)
    first = ask(page, "Quelle part des collectivités a déjà eu recours à l'IA en 2023 ?")
    assert "27%" in first
    follow_up = ask(page, "Et pour les régions ?")
    assert "[1]" in follow_up
    assert page.locator('#nr-chat [data-testid="bot"]').count() == 2

    answer = ask(page, "Quelle est la capitale du Pérou ?")
    assert "ne permettent pas de répondre" in answer
    # Said once: the bubble says there is no answer and why; the sources panel repeats neither.
    record = server.assistant.ask("Quelle est la capitale du Pérou ?")
    assert record.abstained and record.notice
    page_text = page.inner_text("body")
    assert page_text.count(record.text) == 1, page_text
    assert page_text.count(record.notice[1:]) == 1 and f"Pourquoi : {record.notice[0].lower()}" in page_text, page_text
    assert "Aucune source citée" in page.inner_text("#nr-sources")

    # Three answers: the chat scrolls, and nothing of Gradio's (its label, its toolbar) floats
    # over the scrolling messages, where it would cover one at some scroll position.
    assert page.evaluate("() => { const c = document.querySelector('#nr-chat .bubble-wrap'); return c.scrollHeight > c.clientHeight; }")
    overlaps = page.evaluate(
        """() => {
            const chat = document.querySelector('#nr-chat');
            const messages = chat.querySelector('.bubble-wrap');
            const area = messages.getBoundingClientRect();
            const shown = (e) => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e); return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
            const meets = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            return Array.from(chat.querySelectorAll('button, label, [data-testid="block-label"]'))
                .filter((e) => !messages.contains(e) && shown(e) && meets(e.getBoundingClientRect(), area))
                .map((e) => e.outerHTML.slice(0, 160));
        }"""
    )
    assert overlaps == [], overlaps
    screenshot(page, "abstention.png")


@pytest.mark.browser
def test_browser_follow_up_after_a_paraphrase_gives_the_subgroup_figure(server, page):
    """A newcomer's wording first, then « Et pour les métropoles ? »: the métropoles' share, and
    the question as the assistant read it, shown under the answer."""
    from assistant.figures import contains

    open_ui(page, server.url)
    first = ask(page, "En 2023, quelle proportion des collectivités avait déjà expérimenté l'intelligence artificielle ?")
    assert "[1]" in first and "Question comprise" not in first, first
    follow_up = ask(page, "Et pour les métropoles ?")
    assert contains(follow_up, metropolises_ai_share()), follow_up
    understood = page.locator('#nr-chat [data-testid="bot"]').last.locator(".nr-msg-asked")
    assert understood.count() == 1, follow_up
    read = understood.inner_text()
    assert read.startswith("Question comprise : ") and "métropoles" in read and "intelligence artificielle" in read, read
    assert "Question comprise" not in page.inner_text("#nr-sources"), "said once, under the answer"


@pytest.mark.browser
def test_browser_document_filter_restricts_the_sources(server, page):
    open_ui(page, server.url)
    # Every filter starts on « Tous » (« Toutes » for the year): no filter.
    defaults = {f: page.input_value(f"{f} input") for f in ("#nr-kind", "#nr-year", "#nr-doc")}
    assert defaults == {"#nr-kind": "Tous", "#nr-year": "Toutes", "#nr-doc": "Tous"}, defaults
    choose(page, "#nr-kind", "Baromètre")
    answer = ask(page, "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    assert "21%" in answer and "17%" not in answer, answer  # the 2024 note is filtered out
    assert "Filtres : Baromètre" in answer, "the active filters are recalled under the answer"
    assert "Annonce" not in page.inner_text("#nr-sources")
    # The barometer's card: its title, type, year, section, and a « Source » link to its web
    # address (not the address as text); no path of the server, no file name.
    card = page.locator("#nr-sources .nr-card").first
    text = card.inner_text()
    assert "Baromètre 2023 de la data dans les territoires" in text and "Baromètre" in text and "2023" in text and "Section :" in text, text
    link = card.get_by_role("link", name=re.compile("^Source"))
    assert link.get_attribute("href").startswith("https://"), link.get_attribute("href")
    assert "https://" not in text and "raw.githubusercontent" not in text
    panel = page.inner_html("#nr-sources")
    assert str(REPO) not in panel and "Fichier" not in panel and "barometre-data-publica-2023.Rmd" not in panel, panel

    # Filters no indexed document matches: said plainly, before any search.
    choose(page, "#nr-kind", "Annonce")
    choose(page, "#nr-year", "2023")
    answer = ask(page, "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    assert "Aucun document indexé ne correspond à ces filtres (Annonce · 2023) : élargissez-les." in answer, answer
    assert "Aucun passage pertinent" not in answer and "ne répondent pas" not in answer
    # The announcement's card (a file of the corpus, no web address): no link, no path.
    choose(page, "#nr-year", "Toutes")
    answer = ask(page, "Qu'est-ce qu'un CSIRT ?")
    assert "Computer Security Incident Response Team" in answer and "Filtres : Annonce" in answer, answer
    card = page.locator("#nr-sources .nr-card").first
    assert "Annonce" in card.inner_text() and "2024" in card.inner_text()
    assert card.get_by_role("link").count() == 0
    panel = page.inner_html("#nr-sources")
    assert str(REPO) not in panel and "note-conjoncture-2024-annonce.md" not in panel and "Fichier" not in panel, panel
    page.click("#nr-new")


@pytest.mark.browser
def test_browser_pdf_source_shows_the_cited_page(pdf_server, page):
    open_ui(page, pdf_server.url)
    answer = ask(page, "Quelle part des collectivités a déjà eu recours à l'IA en 2023 ?")
    assert "27%" in answer and "[1]" in answer
    card = page.locator("#nr-sources .nr-card").first
    assert "page 12" in card.inner_text()
    image = card.locator("figure.nr-page img").first
    image.wait_for()
    width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 200, "the page image is rendered"
    assert "passage surligné" in card.inner_text(), "the passage was located and highlighted on the page"
    previews = list((pdf_server.index_dir / "previews").glob("*.jpg"))
    assert previews, "previews are cached on disk under index_dir/previews"


@pytest.mark.browser
def test_browser_thumbs_up_appends_one_feedback_line(server, page):
    feedback = Path(server.settings.feedback_file)
    lines_before = feedback.read_text(encoding="utf-8").splitlines() if feedback.exists() else []
    open_ui(page, server.url)
    question = KNOWN_FIGURES[1][0]
    ask(page, question)
    import ui

    like = page.locator(f'#nr-chat button[aria-label="{ui.GRADIO_TEXT_FR["chatbot.like"]}"]').last
    dislike = page.locator(f'#nr-chat button[aria-label="{ui.GRADIO_TEXT_FR["chatbot.dislike"]}"]').last
    assert like.bounding_box()["x"] < dislike.bounding_box()["x"], "👍 comes before 👎"
    like.click()
    page.wait_for_function("() => document.querySelector('#nr-status').textContent.includes('a été enregistré')")
    voted = page.locator(f'#nr-chat button[aria-label="{ui.VOTED_FR["Liked"]}"]').last
    voted.wait_for()  # Gradio's « Liked » label, in French
    assert voted.bounding_box()["x"] < dislike.bounding_box()["x"]
    assert visible_english(page) == []
    lines = feedback.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(lines_before) + 1
    record = json.loads(lines[-1])
    assert record["vote"] == "up"
    assert record["question"] == question
    assert "27%" in record["answer"]
    assert record["mode"] == "extractive"
    assert record["citations"] and {"doc_id", "page", "section"} <= set(record["citations"][0])
    assert record["time"]


# --------------------------------------------------------------------------------------------
# API (gradio_client)


def test_api_ask_returns_text_and_citations(server):
    api = client(server.url)
    assert "/ask" in api.view_api(print_info=False, return_format="dict")["named_endpoints"]
    result = api.predict("Qu'est-ce qu'un CSIRT ?", "extractive", api_name="/ask")
    assert "Computer Security Incident Response Team" in result["text"]
    assert "[1]" in result["text"]
    assert result["citations"][0]["doc_id"] == "note-conjoncture-2024-annonce"
    assert result["citations"][0]["n"] == 1
    assert result["mode"] == "extractive"
    assert result["abstained"] is False
    # mode is optional
    assert "17%" in api.predict(KNOWN_FIGURES[0][0], api_name="/ask")["text"]
    # errors come back as French messages
    with pytest.raises(Exception, match="question est vide"):
        api.predict("   ", api_name="/ask")


def test_api_ask_takes_filters_and_k_and_returns_no_server_path(server):
    api = client(server.url)
    question = "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?"
    filtered = api.predict(question, filters={"kind": "barometre", "year": 2023}, k=3, api_name="/ask")
    assert "21%" in filtered["text"] and "17%" not in filtered["text"], filtered["text"]
    assert filtered["citations"] and {c["kind"] for c in filtered["citations"]} == {"barometre"}
    # No path of the server: a web document keeps its address, a file of the corpus none.
    both = [filtered, api.predict("Qu'est-ce qu'un CSIRT ?", api_name="/ask")]
    for result in both:
        assert str(REPO) not in json.dumps(result, ensure_ascii=False), result
        for citation in result["citations"]:
            assert citation["file_path"] is None
            assert citation["source"] == "" or citation["source"].startswith("https://"), citation["source"]
    assert filtered["citations"][0]["source"].startswith("https://"), "the barometer's web address is kept"
    assert both[1]["citations"][0]["source"] == "", "the announcement is a file of the corpus: no address"
    assert server.assistant.ask("Qu'est-ce qu'un CSIRT ?").citations[0].file_path, "the server still knows it (page previews)"
    # Filters no document matches: said, not searched.
    nothing = api.predict(question, filters={"kind": "annonce", "year": "2023"}, api_name="/ask")
    assert nothing["abstained"] and "Aucun document indexé ne correspond à ces filtres (Annonce · 2023)" in nothing["text"], nothing
    # k changes how many passages are read: with one, the answer cites that passage, or the one
    # it goes on into (a list or a reason may continue in the next passage)
    read = server.assistant.retrieve(question, k=1)[0].chunk
    following = server.assistant.retriever.refresh().next_chunk(read)
    allowed = {read.id} | ({following.id} if following is not None else set())
    cited = {c["chunk_id"] for c in api.predict(question, k=1, api_name="/ask")["citations"]}
    assert cited and cited <= allowed, (cited, allowed)
    with pytest.raises(Exception, match="Filtre inconnu « pays » : les filtres possibles sont kind, year, doc_id"):
        api.predict(question, filters={"pays": "France"}, api_name="/ask")
    with pytest.raises(Exception, match="Année « deux mille » invalide"):
        api.predict(question, filters={"year": "deux mille"}, api_name="/ask")
    with pytest.raises(Exception, match="de 1 à 15"):
        api.predict(question, k=0, api_name="/ask")


def test_chat_and_api_read_a_follow_up_with_the_earlier_turns(server):
    """The chat passes its earlier turns, the assistant's answers included, as the history
    Assistant.ask takes; the API takes the same history, and refuses a malformed one in French."""
    import ui

    from assistant.figures import contains

    handlers = ui.Handlers(server.assistant)
    conv = None
    for question in (AI_USE_PARAPHRASE, "Et parmi les métropoles ?"):
        for _, _, _, _, conv, _ in handlers.respond(question, conv, "extractive", ui.ALL, ui.ALL, ui.ALL, None):
            pass
    first, follow_up = (record for record in conv["records"] if record)
    assert conv["history"] == [
        {"role": "user", "content": AI_USE_PARAPHRASE},
        {"role": "assistant", "content": first["text"]},
        {"role": "user", "content": "Et parmi les métropoles ?"},
        {"role": "assistant", "content": follow_up["text"]},
    ]
    assert first["asked"] is None and follow_up["asked"] and contains(follow_up["text"], metropolises_ai_share()), follow_up

    api = client(server.url)
    result = api.predict("Et pour les métropoles ?", history=conv["history"][:2], api_name="/ask")
    assert result["question"] == "Et pour les métropoles ?" and "métropoles" in (result["asked"] or ""), result
    assert contains(result["text"], metropolises_ai_share()), result["text"]
    assert api.predict("Et pour les métropoles ?", api_name="/ask")["asked"] is None, "no history: nothing to read it with"
    with pytest.raises(Exception, match="Historique, tour 1 : rôle « robot » inconnu"):
        api.predict("Et pour les métropoles ?", history=[{"role": "robot", "content": "Bonjour"}], api_name="/ask")


def test_load_eight_simultaneous_clients(server):
    questions = [KNOWN_FIGURES[i % len(KNOWN_FIGURES)] for i in range(8)]
    barrier = threading.Barrier(len(questions))
    results: dict[int, tuple[str, str, float]] = {}
    errors: dict[int, BaseException] = {}

    def run(i: int, question: str) -> None:
        try:
            api = client(server.url)
            barrier.wait(timeout=60)
            started = time.perf_counter()
            answer = api.predict(question, "extractive", api_name="/ask")
            results[i] = (question, answer["text"], time.perf_counter() - started)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors[i] = error

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i, q), daemon=True) for i, (q, _) in enumerate(questions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.perf_counter() - started
    assert not errors, errors
    assert len(results) == len(questions)
    for i, (question, expected) in enumerate(questions):
        assert expected in results[i][1], (question, results[i][1])
        assert "[1]" in results[i][1]
    assert elapsed < 240, f"8 clients took {elapsed:.0f} s"


# --------------------------------------------------------------------------------------------
# errors, command line, auth


def test_no_index_gives_a_french_message(tmp_path):
    running = Server(tmp_path / "vide")
    try:
        with pytest.raises(Exception, match="python -m ingest"):
            client(running.url).predict("Qu'est-ce qu'un CSIRT ?", api_name="/ask")
    finally:
        running.close()


def test_answer_and_sources_say_each_thing_once_and_no_server_path():
    from dataclasses import replace

    import ui
    from assistant import Answer, Citation

    citation = Citation(
        n=1,
        doc_id="d",
        title="Titre",
        kind="barometre",
        doc_type="Baromètre",
        year=2023,
        page=None,
        section="A > B",
        text="Phrase une. 21% des collectivités ont subi une attaque. Phrase trois.",
        score=1.0,
        highlights=["21% des collectivités ont subi une attaque."],
    )
    answer = Answer(
        question="q ?",
        text="21% des collectivités, et 35% selon moi [1].",
        citations=[citation],
        unsupported=["35%"],
        mode="local",
        model="qwen",
        timings={"total": 1.3},
    )
    record = answer.to_dict()
    bubble = ui.answer_markdown(record)
    assert "35% ⚠" in bubble and "21% ⚠" not in bubble
    assert bubble.count("À vérifier") == 1
    assert "modèle local" in ui.answer_info(record) and "qwen" in ui.answer_info(record) and "1,3 s" in ui.answer_info(record)
    assert f'title="{ui.answer_info(record)}"' in bubble, "who answered is the ⓘ's tooltip"
    panel = ui.sources_html(record)
    assert "À vérifier" not in panel and "35%" not in panel, "the bubble says it; the panel does not repeat it"
    assert "<mark>21% des collectivités ont subi une attaque.</mark>" in panel
    assert "A › B" in panel and "Baromètre" in panel and "2023" in panel
    assert "<a " not in panel, "no web address: no link"

    # An abstention's notice, once, in the bubble only.
    abstention = Answer(question="q ?", text="Les documents ne permettent pas de répondre.", abstained=True, notice="Hors sujet.").to_dict()
    bubble, panel = ui.answer_markdown(abstention), ui.sources_html(abstention)
    assert bubble.count("ne permettent pas de répondre") == 1 and bubble.count("Pourquoi : hors sujet.") == 1, bubble
    assert "ne permettent pas" not in panel and "hors sujet" not in panel.lower() and ui.NO_SOURCE in panel

    # A web document: a « Source » link, not its address as text; a file: neither link nor path.
    address = "https://example.org/rapport.pdf"
    web = Answer(question="q ?", text="x [1]", citations=[replace(citation, source=address, file_path="/srv/data/rapport.pdf")]).to_dict()
    panel = ui.sources_html(web)
    assert f"href='{address}'" in panel and ">Source ↗</a>" in panel and panel.count(address) == 1
    local = Answer(question="q ?", text="x [1]", citations=[replace(citation, source="/srv/note-rag/uploads/rapport.md", file_path="/srv/note-rag/uploads/rapport.md")]).to_dict()
    panel = ui.sources_html(local)
    assert "/srv" not in panel and "rapport.md" not in panel and "<a " not in panel
    public = ui.public_answer(Answer(question="q ?", text="x [1]", citations=[replace(citation, source="/srv/x.md", file_path="/srv/x.md")]))
    assert public["citations"][0]["file_path"] is None and public["citations"][0]["source"] == ""
    # A draft the checks refused: a sentence a newcomer reads; the checker's words in the ⓘ.
    # A follow-up read with the conversation: the question understood, once, under the answer.
    understood = replace(answer, question="Et les métropoles ?", asked="Quelle part des collectivités a eu recours à l'IA, pour les métropoles ?").to_dict()
    bubble = ui.answer_markdown(understood)
    assert bubble.count("Question comprise : Quelle part des collectivités a eu recours à l'IA, pour les métropoles ?") == 1, bubble
    assert "Question comprise" not in ui.sources_html(understood) and "Question comprise" not in ui.answer_markdown(record)
    kept = replace(answer, fallback_from="local", mode="extractive", notice="Chiffre de la citation omis : 21 : réponse extractive conservée.").to_dict()
    bubble = ui.answer_markdown(kept)
    assert ui.KEPT_QUOTE in bubble and "Chiffre de la citation omis" in ui.answer_info(kept)
    assert "réponse extractive conservée" not in bubble.split("<div class='nr-msg-meta'>")[0]


def test_the_product_does_not_import_its_eval_package():
    import ast

    for path in [REPO / "ui.py", *(REPO / "assistant").rglob("*.py"), *(REPO / "ingest").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "evals" or n.startswith("evals.") for n in names), f"{path.relative_to(REPO)} imports {names}"


def start_ui(index: Path, *args: str, **env: str) -> tuple[subprocess.Popen, str]:
    """``python ui.py`` on a free port, once it answers on 127.0.0.1 (the caller stops it by PID)."""
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "ui.py", "--index", str(index), "--port", str(port), "--mode", "extractive", *args],
        cwd=REPO,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, 180, process)
    except Exception:
        stop(process)
        raise AssertionError(process.stdout.read() if process.stdout else "ui.py did not start") from None
    return process, url


def assert_locked(url: str) -> None:
    """Without a login: no page config, no upload, no API call."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "config", timeout=10)
    assert refused.value.code == 401
    import httpx

    upload = httpx.post(url + "gradio_api/upload", files={"files": ("note.md", b"# Note\n\nTexte.\n")}, timeout=10)
    assert upload.status_code == 401
    with pytest.raises(Exception, match="(?i)auth|login|401|unauthori"):
        client(url).predict("Qu'est-ce qu'un CSIRT ?", api_name="/ask")


def test_command_line_serves_with_basic_auth(ui_index):
    process, url = start_ui(ui_index, NOTE_RAG_AUTH="journaliste:secret-2024")
    try:
        assert_locked(url)
        answer = client(url, auth=("journaliste", "secret-2024")).predict("Qu'est-ce qu'un CSIRT ?", api_name="/ask")
        assert "[1]" in answer["text"]
    finally:
        stop(process)


def users_file(path: Path, **passwords: str) -> Path:
    """A users file written with the real ``python -m assistant hash-password`` (password on stdin)."""
    lines = ["# utilisateurs de l'interface note-rag"]
    for user, password in passwords.items():
        done = subprocess.run(
            [PYTHON, "-m", "assistant", "hash-password", user], input=password + "\n", capture_output=True, text=True, cwd=REPO, env=subprocess_env(), timeout=60
        )
        assert done.returncode == 0, done.stderr
        lines.append(done.stdout.strip())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_exposed_ui_without_logins_refuses_to_start_and_says_how(tmp_path):
    done = subprocess.run(
        [PYTHON, "ui.py", "--host", "0.0.0.0", "--port", str(free_port()), "--index", str(tmp_path)],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr
    assert "refus de démarrer" in message and "sans authentification" in message
    assert "NOTE_RAG_AUTH=" in message and "python -m assistant hash-password" in message and "--insecure" in message
    assert "Traceback" not in message


def test_insecure_overrides_the_refusal_with_a_warning(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the UI warns, then cannot bind.
    done = subprocess.run(
        [PYTHON, "ui.py", "--host", "192.0.2.1", "--port", str(free_port()), "--index", str(tmp_path), "--insecure"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=180,
    )
    assert "AVERTISSEMENT" in done.stderr and "sans authentification" in done.stderr
    assert "refus de démarrer" not in done.stderr


@pytest.mark.slow
def test_exposed_ui_with_a_users_file_serves_logged_in_users_only(tmp_path):
    index = _build(tmp_path / "index", paths=[ANNOUNCEMENT])
    users = users_file(tmp_path / "utilisateurs.txt", alice="cheval-correct-1", bob="agrafe-batterie-2")
    # The one test that listens on every interface: that is what it checks.
    process, url = start_ui(index, "--host", "0.0.0.0", NOTE_RAG_AUTH=str(users))
    try:
        assert_locked(url)
        with pytest.raises(Exception, match="(?i)auth|login|401|unauthori|credentials|incorrect"):
            client(url, auth=("alice", "mauvais-mot-de-passe"))
        with pytest.raises(Exception, match="(?i)auth|login|401|unauthori|credentials|incorrect"):
            client(url, auth=("mallory", "cheval-correct-1"))
        for user, password in (("alice", "cheval-correct-1"), ("bob", "agrafe-batterie-2")):
            answer = client(url, auth=(user, password)).predict(
                "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?", api_name="/ask"
            )
            assert "17" in answer["text"] and "[1]" in answer["text"]
    finally:
        stop(process)
    assert "2 utilisateur(s)" in process.stdout.read()


@pytest.mark.browser
def test_browser_logged_in_user_adds_a_document_and_votes_in_their_name(tmp_path, english_page):
    from assistant.auth import load_users

    page = english_page  # the login page too is French for a browser set to English
    index = _build(tmp_path / "index", paths=[ANNOUNCEMENT])
    running = Server(index, auth=load_users(str(users_file(tmp_path / "utilisateurs.txt", alice="cheval-correct-1"))))
    try:
        page.goto(running.url)
        page.locator("input[type=password]").wait_for()
        login = page.inner_text("body")
        assert "mot de passe" in login and "Accès réservé" in login and not re.search(r"Login|username|password", login), login
        page.locator("input:not([type=password]), textarea").first.fill("alice")
        page.locator("input[type=password]").fill("cheval-correct-1")
        page.get_by_role("button", name="Connexion").click()
        page.wait_for_selector("#nr-question textarea")

        page.get_by_text("Ajouter un document à l'index").click()
        document = tmp_path / "villeneuve-sur-data-2024.md"
        document.write_text(UPLOADED_MD, encoding="utf-8")
        assert "a été ajouté à l'index" in upload(page, document, "a été ajouté à l'index")

        ask(page, "Quel budget la commune de Villeneuve-sur-Data a-t-elle consacré à son plan de cybersécurité ?")
        import ui

        page.locator(f'#nr-chat button[aria-label="{ui.GRADIO_TEXT_FR["chatbot.like"]}"]').last.click()
        page.wait_for_function("() => document.querySelector('#nr-status').textContent.includes('a été enregistré')")
        record = json.loads(Path(running.settings.feedback_file).read_text(encoding="utf-8").splitlines()[-1])
        assert record["user"] == "alice" and record["vote"] == "up" and "42 000" in record["answer"]
    finally:
        running.close()


def test_passwords_are_salted_hashed_and_checked_whoever_asks(tmp_path):
    from assistant.auth import AuthError, hash_password, load_users, verify_password

    first, second = hash_password("cheval-correct-1"), hash_password("cheval-correct-1")
    assert first != second and first.startswith("scrypt$"), "a fresh salt for every hash"
    assert verify_password("cheval-correct-1", first) and not verify_password("cheval-correct-2", first)
    users = load_users(str(users_file(tmp_path / "u.txt", alice="cheval-correct-1")))
    assert users("alice", "cheval-correct-1") and not users("alice", "cheval") and not users("eve", "cheval-correct-1")
    assert load_users("journaliste:secret-2024")("journaliste", "secret-2024")
    broken = tmp_path / "cassé.txt"
    broken.write_text("alice:scrypt$16384$8$1$pas-du-base64$xx\n", encoding="utf-8")
    with pytest.raises(AuthError, match="ligne 1"):
        load_users(str(broken))
    with pytest.raises(AuthError, match="introuvable"):
        load_users(str(tmp_path / "absent.txt"))
    short = subprocess.run([PYTHON, "-m", "assistant", "hash-password"], input="court\n", capture_output=True, text=True, cwd=REPO, env=subprocess_env(), timeout=60)
    assert short.returncode == 2 and "trop court" in short.stderr
