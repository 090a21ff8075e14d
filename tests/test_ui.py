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
    ANNOUNCEMENT,
    BAROMETER_PDF,
    BAROMETER_RMD,
    PYTHON,
    REPO,
    free_port,
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


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(30_000)
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
    """Type a question, send it, wait for the final answer; returns the last bot message."""
    page.fill("#nr-question textarea", question)
    page.click("#nr-send")
    page.wait_for_function(
        """q => {
            const meta = document.querySelector('#nr-sources .nr-answer-meta');
            return meta && meta.textContent.includes(q);
        }""",
        arg=" ".join(question.split()),
        timeout=ANSWER_TIMEOUT_MS,
    )
    return page.locator('#nr-chat [data-testid="bot"]').last.inner_text()


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

    question = "Quel pourcentage des collectivités a subi une cyberattaque ?"
    answer = ask(page, question)
    # Both editions answer this: 17% (note 2024, "victimes") or 21% (baromètre 2023, "subi").
    assert re.search(r"\b(17|21) ?%", answer), answer
    assert "[1]" in answer
    assert "Mode : extractif" in answer
    sources = page.inner_text("#nr-sources")
    assert "cybersécurité" in sources
    assert "[1]" in sources
    assert page.locator("#nr-sources .nr-passage mark").count() >= 1, "the supporting sentence is highlighted"

    shot = tmp_path / "note-rag-ui.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 20_000

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
    with FakeLLMServer(figures_reader, delay=3.0) as llm:
        running = Server(ui_index, openai_base_url=f"{llm.url}/v1", openai_model="fake-model", llm_timeout=30.0)
        try:
            open_ui(page, running.url)
            page.locator("#nr-mode label", has_text="LLM OpenAI").click()
            page.fill("#nr-question textarea", KNOWN_FIGURES[0][0])
            page.click("#nr-send")
            page.wait_for_selector("#nr-chat .nr-drafting", timeout=ANSWER_TIMEOUT_MS)
            bot = page.locator('#nr-chat [data-testid="bot"]').last
            first = bot.inner_text()
            assert "rédaction en cours" in first and "D'après" in first and "17%" in first and "[1]" in first, first
            assert "Mode : extractif" in first
            assert "[1]" in page.inner_text("#nr-sources"), "the first answer's sources are shown at once"
            page.wait_for_function("() => !document.querySelector('#nr-chat .nr-drafting')", timeout=ANSWER_TIMEOUT_MS)
            final = bot.inner_text()
            assert "Mode : OpenAI" in final and "fake-model" in final and "rédaction en cours" not in final, final
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

    too_big = tmp_path / "gros-fichier.txt"
    too_big.write_text("Les collectivités et la donnée. " * 2500, encoding="utf-8")  # ~80 Ko > 50 Ko
    status = upload(page, too_big, "n'a pas été ajouté")
    assert "trop volumineux" in status, status
    assert generation(upload_server.index_dir) == after_upload
    assert not (upload_server.index_dir / "uploads" / too_big.name).exists()

    # the same name again with other content: refused, the first version stays
    document.write_text(UPLOADED_MD.replace("42 000", "99 000"), encoding="utf-8")
    status = upload(page, document, "déjà été ajouté")
    assert "n'a pas été ajouté" in status and "renommez" in status, status
    assert "42 000" in (upload_server.index_dir / "uploads" / document.name).read_text(encoding="utf-8")
    assert generation(upload_server.index_dir) == after_upload


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
    assert "Pas de réponse dans les documents" in page.inner_text("#nr-sources")


@pytest.mark.browser
def test_browser_document_filter_restricts_the_sources(server, page):
    open_ui(page, server.url)
    page.click("#nr-kind input")
    page.get_by_role("option", name="Baromètre").click()
    page.keyboard.press("Escape")
    answer = ask(page, "Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    assert "21%" in answer and "17%" not in answer, answer  # the 2024 note is filtered out
    assert "Annonce" not in page.inner_text("#nr-sources")
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
    page.locator('#nr-chat button[aria-label="J\'aime"], #nr-chat button[aria-label="Like"]').last.click()
    page.wait_for_function("() => document.querySelector('#nr-status').textContent.includes('a été enregistré')")
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


def test_sources_panel_flags_unsupported_figures_and_abstention():
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
    assert "LLM local" in bubble and "qwen" in bubble and "1,3 s" in bubble
    panel = ui.sources_html(record)
    assert "⚠" in panel and "35%" in panel
    assert "<mark>21% des collectivités ont subi une attaque.</mark>" in panel
    assert "A › B" in panel and "Baromètre" in panel
    abstained = ui.sources_html(
        Answer(question="q ?", text="Les documents ne permettent pas de répondre.", abstained=True, notice="Hors sujet.").to_dict()
    )
    assert "Pas de réponse dans les documents" in abstained and "Hors sujet." in abstained


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
def test_browser_logged_in_user_adds_a_document_and_votes_in_their_name(tmp_path, page):
    from assistant.auth import load_users

    index = _build(tmp_path / "index", paths=[ANNOUNCEMENT])
    running = Server(index, auth=load_users(str(users_file(tmp_path / "utilisateurs.txt", alice="cheval-correct-1"))))
    try:
        page.goto(running.url)
        page.locator("input[type=password]").wait_for()
        page.locator("input:not([type=password]), textarea").first.fill("alice")
        page.locator("input[type=password]").fill("cheval-correct-1")
        page.get_by_role("button", name=re.compile("Connexion|Login", re.I)).click()
        page.wait_for_selector("#nr-question textarea")

        page.get_by_text("Ajouter un document à l'index").click()
        document = tmp_path / "villeneuve-sur-data-2024.md"
        document.write_text(UPLOADED_MD, encoding="utf-8")
        assert "a été ajouté à l'index" in upload(page, document, "a été ajouté à l'index")

        ask(page, "Quel budget la commune de Villeneuve-sur-Data a-t-elle consacré à son plan de cybersécurité ?")
        page.locator('#nr-chat button[aria-label="J\'aime"], #nr-chat button[aria-label="Like"]').last.click()
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
