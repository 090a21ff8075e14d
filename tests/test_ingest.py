"""Ingestion: real files, real Chroma, real embedding models."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ingest import build_index
from ingest.embeddings import NoteRagEmbeddings, get_embeddings
from ingest.loaders import LoaderError, load_document
from ingest.settings import get_settings
from ingest.store import IndexMismatch, IndexMissing, IndexStore

from .conftest import (
    ANNOUNCEMENT,
    BAROMETER_MD,
    BAROMETER_PDF,
    BAROMETER_RMD,
    PYTHON,
    REPO,
    free_port,
    subprocess_env,
)


def run_cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "ingest", *args], cwd=REPO, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout
    )


def current_chunks(index_dir: Path):
    return IndexStore(get_settings(index_dir=index_dir)).require_current().all_chunks()


# --------------------------------------------------------------------------------------------
# PDF


@pytest.fixture(scope="module")
def pdf_index(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("pdf-index")
    result = run_cli(str(BAROMETER_PDF), "--index", str(index_dir))
    assert result.returncode == 0, result.stderr
    return index_dir, result


def test_pdf_cli_reports_15_pages_and_chunks_carry_pages_1_to_15(pdf_index):
    index_dir, result = pdf_index
    assert re.search(r"\b15 pages\b", result.stdout), result.stdout
    chunks = current_chunks(index_dir)
    assert sorted({c.page for c in chunks}) == list(range(1, 16))
    assert all(c.doc_id == "barometre-data-publica-2023" for c in chunks)


def test_pdf_text_keeps_accents_and_drops_running_footers(pdf_index):
    chunks = current_chunks(pdf_index[0])
    text = " ".join(c.text for c in chunks)
    assert "collectivités" in text and "mis en œuvre" in text and "baromètre" in text
    assert "Ã" not in text and "\ufffd" not in text
    assert not re.search(r"Page \d+ / 15", text), "running footers must be removed"
    # the cyberattack figure sits on its page with its section
    cyber = [c for c in chunks if "21% des collectivités interrogées" in c.text]
    assert cyber and cyber[0].section.endswith("Une collectivité sur cinq déclare avoir déjà subi une cyberattaque")


def test_markdown_rmarkdown_and_pdf_give_the_same_section_paths():
    def sections(path: Path) -> list[str]:
        ordered: list[str] = []
        for block in load_document(path).blocks:
            if block.section not in ordered:
                ordered.append(block.section)
        return ordered

    md = sections(BAROMETER_MD)
    assert len(md) >= 20
    assert sections(BAROMETER_RMD) == md
    assert sections(BAROMETER_PDF) == md
    assert "Protéger ses données : l'importance de la cybersécurité > Une collectivité sur cinq déclare avoir déjà subi une cyberattaque" in md


def test_rmarkdown_loader_drops_code_divs_images_and_bare_links():
    document = load_document(BAROMETER_RMD)
    text = "\n".join(b.text for b in document.blocks)
    for leftover in ("```", "library(", "font_add", ":::", "![", "nextcloud", "](http", "Télécharger cette étude", "Voir toutes les données", "<br>", "{#"):
        assert leftover not in text, leftover
    assert "Climate Data Hub" in text  # a link keeps its text
    captions = [b for b in document.blocks if b.role == "caption"]
    assert any("cyberattaque importante" in b.text for b in captions)


def test_pdf_cleanup_hyphens_headers_and_headings(tmp_path):
    """Hyphenated words rejoined, running header/footer dropped, bold headings become sections."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    path = tmp_path / "rapport.pdf"
    with PdfPages(path) as pdf:
        for n in range(1, 5):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.1, 0.95, "Rapport de test — en-tête courant", fontsize=9)
            fig.text(0.1, 0.88, f"Chapitre {n}", fontsize=16, weight="bold")
            fig.text(0.1, 0.84, "Le fonc-", fontsize=10)
            fig.text(0.1, 0.82, f"tionnement des collectivités évolue : {10 + n} % d'entre elles", fontsize=10)
            fig.text(0.1, 0.80, f"utilisent des données ouvertes (cas n°{n}) pour le service public.", fontsize=10)
            fig.text(0.5, 0.03, f"Page {n} / 4", fontsize=9)
            pdf.savefig(fig)
            plt.close(fig)
    document = load_document(path)
    assert document.pages == 4
    by_page = {b.page: b for b in document.blocks}
    assert set(by_page) == {1, 2, 3, 4}
    assert by_page[3].section == "Chapitre 3"
    assert by_page[3].text.startswith("Le fonctionnement des collectivités évolue : 13 %")
    text = " ".join(b.text for b in document.blocks)
    assert "en-tête courant" not in text and "Page 2 / 4" not in text


def test_html_loader_keeps_main_text_only(tmp_path):
    page = tmp_path / "article.html"
    page.write_text(
        "<html><head><title>Cyber et territoires</title></head><body>"
        "<nav><a href='/'>Accueil</a> <a href='/contact'>Contact</a></nav>"
        "<article><h1>Cyber et territoires</h1><h2>Les attaques</h2>"
        "<p>Les collectivités locales restent des cibles particulièrement attractives pour les cybercriminels, "
        "et 17 % d'entre elles ont déjà été victimes d'une cyberattaque ayant bloqué leurs services.</p></article>"
        "<footer>Mentions légales — Plan du site</footer></body></html>",
        encoding="utf-8",
    )
    document = load_document(page)
    text = " ".join(b.text for b in document.blocks)
    assert "17 % d'entre elles" in text
    assert "Mentions légales" not in text and "Accueil" not in text
    assert document.info.title == "Cyber et territoires"


def test_announcement_key_figures_are_rejoined_into_sentences():
    """The web page prints "17%" / "des collectivités" / "ont déjà été…" as separate lines."""
    document = load_document(ANNOUNCEMENT)
    texts = [b.text for b in document.blocks]
    assert any(t.startswith("17% des collectivités ont déjà été victimes") for t in texts), texts
    assert document.info.year == 2024 and document.info.kind == "annonce"


# --------------------------------------------------------------------------------------------
# incremental, idempotent, crash-safe


def write_corpus(folder: Path, sources: list[tuple[str, str]]) -> None:
    """A corpus folder with a sources.toml listing local files."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for doc_id, text in sources:
        (folder / f"{doc_id}.md").write_text(text, encoding="utf-8")
        entries.append(f'[[source]]\nid = "{doc_id}"\ntitle = "Document {doc_id}"\nkind = "note"\nyear = 2024\npath = "{doc_id}.md"\n')
    (folder / "sources.toml").write_text("\n".join(entries), encoding="utf-8")


DOC_A = "# Cybersécurité\n\nLes collectivités mutualisent leurs équipes de réponse aux incidents. Les CSIRT régionaux les aident.\n"
DOC_B = "# Données\n\nLes communes ouvrent leurs données. Les régions partagent un catalogue commun de jeux de données.\n"


def test_unchanged_corpus_embeds_nothing_and_changed_file_replaces_its_chunks(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_corpus(corpus, [("doc-a", DOC_A), ("doc-b", DOC_B)])
    settings = get_settings(corpus_dir=corpus, index_dir=index_dir)

    first = build_index(settings=settings, progress=False)
    assert first.ok and first.chunks_added == 2 and first.generation == 1

    second = build_index(settings=settings, progress=False)
    assert second.chunks_embedded == 0 and second.chunks_added == 0 and second.chunks_unchanged == 2
    assert second.generation == 1, "an unchanged corpus must not write a new generation"

    (corpus / "doc-b.md").write_text(DOC_B.replace("catalogue commun", "lac de données partagé"), encoding="utf-8")
    third = build_index(settings=settings, progress=False)
    statuses = {d.doc_id: d.status for d in third.documents}
    assert statuses == {"doc-a": "unchanged", "doc-b": "updated"}
    assert third.chunks_updated == 1 and third.chunks_removed == 1
    texts = " ".join(c.text for c in current_chunks(index_dir))
    assert "lac de données partagé" in texts and "catalogue commun" not in texts
    numbers = [n for n, _ in IndexStore(settings)._generations()]
    assert numbers == [1, 2], "the replaced generation is kept for readers still on it"

    # a source gone from the manifest loses its chunks
    write_corpus(corpus, [("doc-a", DOC_A)])
    (corpus / "doc-b.md").unlink()
    fourth = build_index(settings=settings, progress=False)
    assert fourth.chunks_removed == 1
    assert [n for n, _ in IndexStore(settings)._generations()] == [2, 3], "older generations are retired"
    assert {c.doc_id for c in current_chunks(index_dir)} == {"doc-a"}

    rebuilt = build_index(settings=settings, rebuild=True, progress=False)
    assert rebuilt.generation == fourth.generation + 1 and {c.doc_id for c in current_chunks(index_dir)} == {"doc-a"}


def test_explicit_paths_add_documents_without_removing_others(tmp_path):
    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    build_index([tmp_path / "a.md"], index_dir=index_dir, progress=False)
    build_index([tmp_path / "b.md"], index_dir=index_dir, progress=False)
    assert {c.doc_id for c in current_chunks(index_dir)} == {"a", "b"}


class ExplodingEmbeddings(NoteRagEmbeddings):
    """The real e5 backend, except that it fails after its first batch (an embedder crash)."""

    def __init__(self):
        real = get_embeddings("e5-small")
        self.calls = 0

        def encode(texts):
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("embedder crashed")
            return real._encode_documents(texts)

        super().__init__("e5-small", encode, real._encode_query)


def test_exception_in_the_embedder_leaves_the_previous_index_queryable(tmp_path):
    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    build_index([tmp_path / "a.md"], index_dir=index_dir, progress=False)
    before = current_chunks(index_dir)

    run = time.time_ns()  # new text, so the embedding cache cannot spare the embedder
    many = "\n\n".join(f"Paragraphe {i} ({run}) : la commune n°{i} publie {i * 7} jeux de données ouverts cette année." for i in range(60))
    (tmp_path / "big.md").write_text(f"# Grand document\n\n{many}\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="embedder crashed"):
        build_index([tmp_path / "big.md"], index_dir=index_dir, embeddings=ExplodingEmbeddings(), progress=False)

    after = current_chunks(index_dir)
    assert [c.id for c in after] == [c.id for c in before]
    from assistant import Assistant

    answer = Assistant(index_dir=index_dir).ask("Qui aide les collectivités à répondre aux incidents ?")
    assert not answer.abstained and answer.citations[0].doc_id == "a"


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["while embedding", "before commit"])
def test_sigkill_during_ingest_leaves_the_previous_index_whole(tmp_path, moment):
    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    assert run_cli(str(tmp_path / "a.md"), "--index", str(index_dir)).returncode == 0
    before = current_chunks(index_dir)

    # a document whose text is new to the embedding cache, so embedding really runs
    big = tmp_path / f"big-{moment.replace(' ', '-')}.md"
    body = BAROMETER_MD.read_text(encoding="utf-8").replace("collectivités", f"collectivités ({time.time_ns()})")
    big.write_text(body, encoding="utf-8")
    env = {"NOTE_RAG_CRASH_TEST_PAUSE": "60"} if moment == "before commit" else {}
    process = subprocess.Popen(
        [PYTHON, "-m", "ingest", str(big), "--index", str(index_dir)],
        cwd=REPO,
        env=subprocess_env(**env),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    marker = "pausing before commit" if moment == "before commit" else "Embeddings"
    seen = ""
    deadline = time.time() + 300
    while marker not in seen and time.time() < deadline and process.poll() is None:
        seen += process.stderr.read(1) or ""
    assert marker in seen, seen[-2000:]
    if moment == "while embedding":
        time.sleep(2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    after = current_chunks(index_dir)
    assert [c.id for c in after] == [c.id for c in before]
    from assistant import Assistant

    answer = Assistant(index_dir=index_dir).ask("Qui aide les collectivités à répondre aux incidents ?")
    assert not answer.abstained and answer.citations[0].doc_id == "a"

    # the next run cleans up and finishes the job
    rerun = run_cli(str(big), "--index", str(index_dir))
    assert rerun.returncode == 0, rerun.stderr
    assert {c.doc_id for c in current_chunks(index_dir)} == {"a", big.stem}


# --------------------------------------------------------------------------------------------
# bad input


def make_bad_files(folder: Path) -> dict[str, Path]:
    import pypdf

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["good"] = folder / "bonne-note.md"
    files["good"].write_text(DOC_A, encoding="utf-8")
    files["latin1"] = folder / "ancien-texte.txt"
    files["latin1"].write_bytes("Les élus et la donnée : une acculturation nécessaire pour les collectivités.\n".encode("cp1252"))
    if BAROMETER_PDF.exists():
        writer = pypdf.PdfWriter(clone_from=str(BAROMETER_PDF))
        writer.encrypt("secret", algorithm="RC4-128")
        files["encrypted"] = folder / "chiffre.pdf"
        with files["encrypted"].open("wb") as handle:
            writer.write(handle)
        files["truncated"] = folder / "tronque.pdf"
        files["truncated"].write_bytes(BAROMETER_PDF.read_bytes()[:30000])
    blank = pypdf.PdfWriter()
    blank.add_blank_page(595, 842)
    files["scanned"] = folder / "scan.pdf"
    with files["scanned"].open("wb") as handle:
        blank.write(handle)
    files["corrupt"] = folder / "corrompu.pdf"
    files["corrupt"].write_bytes(b"%PDF-1.4 garbage" * 4)
    files["empty"] = folder / "vide.md"
    files["empty"].write_bytes(b"")
    files["unsupported"] = folder / "tableur.xlsx"
    files["unsupported"].write_bytes(b"PK\x03\x04 not really")
    files["too_big"] = folder / "enorme.txt"
    files["too_big"].write_text("Une phrase de remplissage sur les données publiques locales.\n" * 40000, encoding="utf-8")
    return files


EXPECTED_REASONS = {
    "encrypted": "chiffré",
    "truncated": "corrompu ou tronqué",
    "scanned": "OCR n'est pas pris en charge",
    "corrupt": "corrompu ou tronqué",
    "empty": "fichier vide",
    "unsupported": "non prise en charge",
    "too_big": "trop volumineux",
}


def test_bad_files_get_one_line_errors_and_the_rest_still_ingests(tmp_path):
    files = make_bad_files(tmp_path / "in")
    index_dir = tmp_path / "index"
    result = run_cli(*[str(p) for p in files.values()], "--index", str(index_dir), "--quiet", NOTE_RAG_MAX_FILE_MB="1")
    assert result.returncode == 1, "any failure makes the command exit non-zero"
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("erreur :")]
    for key, reason in EXPECTED_REASONS.items():
        if key not in files:
            continue
        matching = [line for line in error_lines if files[key].name in line]
        assert len(matching) == 1 and reason in matching[0], (key, error_lines)
    # the summary table comes first, the good files are indexed, the non-UTF-8 one with a warning
    assert "documents," in result.stdout and "ÉCHEC" in result.stdout
    assert "non UTF-8" in result.stdout
    indexed = {c.doc_id: c for c in current_chunks(index_dir)}
    assert set(indexed) == {"bonne-note", "ancien-texte"}
    assert "élus et la donnée" in indexed["ancien-texte"].text


def test_a_file_that_turns_bad_keeps_its_previous_version(tmp_path):
    index_dir = tmp_path / "index"
    target = tmp_path / "note.md"
    target.write_text(DOC_A, encoding="utf-8")
    build_index([target], index_dir=index_dir, progress=False)
    target.write_bytes(b"")
    report = build_index([target], index_dir=index_dir, progress=False)
    assert not report.ok and "fichier vide" in report.failed[0].error
    assert "CSIRT" in " ".join(c.text for c in current_chunks(index_dir))


def test_loader_errors_are_french_one_liners(tmp_path):
    missing = tmp_path / "absent.pdf"
    with pytest.raises(LoaderError, match="introuvable"):
        load_document(missing)


# --------------------------------------------------------------------------------------------
# sources, fetch, mirror


def _corpus_copy(tmp_path: Path) -> Path:
    """A copy of corpus/ that a test may refresh or break."""
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    return corpus


def test_fetch_refreshes_the_shipped_copy_only_with_a_file_that_verifies(tmp_path):
    corpus = _corpus_copy(tmp_path)
    shipped = corpus / "barometre-data-publica-2023.Rmd"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(BAROMETER_RMD, mirror / shipped.name)
    shipped.write_text("ancienne version", encoding="utf-8")  # a stale copy
    result = run_cli("fetch", "--mirror", str(mirror), "--index", str(tmp_path / "index"), NOTE_RAG_CORPUS_DIR=str(corpus))
    assert result.returncode == 0, result.stderr
    assert shipped.read_bytes() == BAROMETER_RMD.read_bytes()

    (mirror / shipped.name).write_text("modifié", encoding="utf-8")
    bad = run_cli("fetch", "--mirror", str(mirror), "--index", str(tmp_path / "index"), NOTE_RAG_CORPUS_DIR=str(corpus))
    assert bad.returncode == 1 and "SHA-256" in bad.stderr and "Traceback" not in bad.stderr
    assert shipped.read_bytes() == BAROMETER_RMD.read_bytes(), "a file that does not verify never replaces the copy"


def test_a_fresh_clone_indexes_the_whole_default_corpus_offline(tmp_path):
    result = run_cli("--index", str(tmp_path / "index"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert {c.doc_id for c in current_chunks(tmp_path / "index")} == {"note-conjoncture-2024-annonce", "barometre-data-publica-2023"}


def test_second_full_ingest_embeds_nothing(corpus_index):
    result = run_cli("--index", str(corpus_index), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "0 embeddings calculés" in result.stdout and "inchangés" in result.stdout


# --------------------------------------------------------------------------------------------
# embeddings backends and the index's record of them


def test_minilm_backend_runs_offline_and_the_index_refuses_another_backend(tmp_path):
    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    report = build_index([tmp_path / "a.md"], index_dir=index_dir, embeddings="sentence-transformers:all-MiniLM-L6-v2", progress=False)
    assert report.ok
    generation = IndexStore(get_settings(index_dir=index_dir)).require_current()
    assert generation.embeddings_name == "sentence-transformers:all-MiniLM-L6-v2" and generation.dimension == 384

    from assistant import Assistant

    with pytest.raises(IndexMismatch, match="--rebuild"):
        Assistant(settings=get_settings(index_dir=index_dir, embeddings="e5-small")).ask("Qui aide les collectivités ?")
    # without an explicit choice, the assistant uses the index's own backend (and its fitted
    # weights): it retrieves with it and answers or declines, it does not fail. Whether it
    # answers is the MiniLM gate's call (an English model reading French), not this test's.
    assistant = Assistant(index_dir=index_dir)
    assert assistant.retriever.embeddings.name == "sentence-transformers:all-MiniLM-L6-v2"
    question = "Qui aide les collectivités à répondre aux incidents ?"
    passages = assistant.retrieve(question)
    assert passages and "CSIRT" in passages[0].chunk.text
    answer = assistant.ask(question)
    assert answer.final and (answer.abstained or "CSIRT" in answer.text)


def test_querying_before_any_ingest_says_to_run_ingest(tmp_path):
    from assistant import Assistant

    with pytest.raises(IndexMissing, match="python -m ingest"):
        Assistant(index_dir=tmp_path / "nothing").ask("Quel pourcentage ?")


# --------------------------------------------------------------------------------------------
# Chroma server mode


def test_server_mode_ingests_and_answers_through_a_real_chroma_server(tmp_path, chroma_server):
    settings = get_settings(chroma_url=chroma_server, index_dir=tmp_path / "local")
    report = build_index([ANNOUNCEMENT], settings=settings, progress=False)
    assert report.ok and report.index == chroma_server
    again = build_index([ANNOUNCEMENT], settings=settings, progress=False)
    assert again.chunks_embedded == 0 and again.generation == report.generation
    assert not (tmp_path / "local" / "chroma").exists(), "server mode must not write a local Chroma"

    from assistant import Assistant

    answer = Assistant(settings=settings).ask("Quel pourcentage des collectivités a déjà été victime d'une cyberattaque ?")
    assert "17" in answer.text and answer.citations[0].doc_id == "note-conjoncture-2024-annonce"


def test_an_unreachable_remote_source_keeps_its_indexed_version(tmp_path):
    corpus, mirror, index_dir = tmp_path / "corpus", tmp_path / "mirror", tmp_path / "index"
    write_corpus(corpus, [("doc-a", DOC_A)])
    mirror.mkdir()
    (mirror / "doc-distant.md").write_text(DOC_B, encoding="utf-8")
    with (corpus / "sources.toml").open("a", encoding="utf-8") as manifest:  # a remote-only source
        manifest.write('\n[[source]]\nid = "doc-distant"\ntitle = "Distant"\nkind = "note"\nurl = "http://127.0.0.1:9/doc-distant.md"\n')
    assert build_index(settings=get_settings(corpus_dir=corpus, index_dir=index_dir, mirror=mirror, fetch_timeout=2), progress=False).ok
    shutil.rmtree(index_dir / "sources")  # offline now, and the download cache is gone
    (corpus / "doc-a.md").write_text(DOC_A + "\nUne phrase de plus sur les équipes de réponse.\n", encoding="utf-8")  # something else changes
    report = build_index(settings=get_settings(corpus_dir=corpus, index_dir=index_dir, fetch_timeout=2), progress=False)
    assert [d.doc_id for d in report.failed] == ["doc-distant"]
    assert {c.doc_id for c in current_chunks(index_dir)} == {"doc-a", "doc-distant"}


def test_rebuild_of_a_few_paths_is_refused_rather_than_dropping_the_rest(tmp_path):
    index_dir = tmp_path / "index"
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(DOC_B, encoding="utf-8")
    build_index([tmp_path / "a.md", tmp_path / "b.md"], index_dir=index_dir, progress=False)
    result = run_cli(str(tmp_path / "a.md"), "--index", str(index_dir), "--rebuild")
    assert result.returncode == 2 and "relancez sans chemin" in result.stderr
    assert {c.doc_id for c in current_chunks(index_dir)} == {"a", "b"}


# --------------------------------------------------------------------------------------------
# how documents are named: declared labels, uploads, titles


def test_labels_are_declared_in_the_manifest_and_travel_with_the_chunks(tmp_path):
    """A label is data: renamed in sources.toml, answers say the new name; undeclared, the title."""
    from assistant import Assistant

    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_corpus(corpus, [("doc-a", DOC_A), ("doc-b", DOC_B)])
    manifest = corpus / "sources.toml"
    declared = 'id = "doc-a"\ntitle = "Document doc-a"\nkind = "note"\n'
    named = 'id = "doc-a"\ntitle = "Document doc-a"\ntype = "Rapport"\nlabel = "le rapport d\'essai"\nlabel_en = "the trial report"\n'
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(declared, named), encoding="utf-8")
    settings = get_settings(corpus_dir=corpus, index_dir=index_dir)
    assert build_index(settings=settings, progress=False).ok

    chunks = {c.doc_id: c for c in current_chunks(index_dir)}
    assert (chunks["doc-a"].kind, chunks["doc-a"].doc_type, chunks["doc-a"].label) == ("rapport", "Rapport", "le rapport d'essai")
    assert (chunks["doc-b"].kind, chunks["doc-b"].doc_type, chunks["doc-b"].label) == ("note", "Document", None)
    reader = Assistant(settings=settings)
    answer = reader.ask("Qui aide les collectivités à répondre aux incidents ?")
    assert answer.text.startswith("D'après le rapport d'essai 2024 :"), answer.text
    assert answer.citations[0].doc_type == "Rapport"
    english = reader.ask("Who helps local authorities respond to incidents?")
    assert english.text.startswith("According to the trial report 2024:"), english.text
    other = reader.ask("Qu'est-ce que les régions partagent ?")
    assert other.text.startswith("D'après « Document doc-b » :"), other.text
    assert other.citations[0].doc_type == "Document"
    assert reader.retriever.kind_choices() == [("Document", "note"), ("Rapport", "rapport")]
    assert reader.ask("Qui aide les collectivités ?", filters={"kind": "rapport"}).citations[0].doc_id == "doc-a"

    manifest.write_text(manifest.read_text(encoding="utf-8").replace("le rapport d'essai", "l'étude pilote"), encoding="utf-8")
    report = build_index(settings=settings, progress=False)
    assert {d.doc_id: d.status for d in report.documents} == {"doc-a": "updated", "doc-b": "unchanged"}
    assert Assistant(settings=settings).ask("Qui aide les collectivités à répondre aux incidents ?").text.startswith("D'après l'étude pilote 2024 :")


def test_the_shipped_documents_take_their_names_from_sources_toml(corpus_index):
    from ingest.sources import read_manifest

    chunks = {c.doc_id: c for c in current_chunks(corpus_index)}
    for source in read_manifest(REPO / "corpus" / "sources.toml"):
        chunk = chunks[source.id]
        assert source.label and (chunk.doc_type, chunk.label, chunk.label_en, chunk.label_short) == (
            source.doc_type, source.label, source.label_en, source.label_short
        )


FAKE_BAROMETER = """---
id: barometre-data-publica-2023
doc_id: barometre-data-publica-2023
title: "Compte rendu du protocole Zéphyr"
kind: barometre
type: Baromètre
label: "le baromètre de l'Observatoire Data Publica"
label_en: "the Observatoire Data Publica barometer"
label_short: "baromètre"
year: 2023
---

# Protocole Zéphyr

Quarante-deux communes ont adopté le protocole Zéphyr pour chiffrer leurs sauvegardes hors ligne.
"""


def test_an_upload_cannot_take_a_shipped_documents_identity(tmp_path):
    """Front matter claiming the barometer's kind, type, label or id: the upload is quoted as itself."""
    from assistant import Assistant
    from ingest.pipeline import add_upload

    settings = get_settings(index_dir=tmp_path / "index")  # the real corpus/sources.toml
    sent = tmp_path / "envoi"
    sent.mkdir()
    (sent / "barometre-data-publica-2023.md").write_text(FAKE_BAROMETER, encoding="utf-8")
    with pytest.raises(LoaderError, match="nom d'un document du corpus"):
        add_upload(sent / "barometre-data-publica-2023.md", "barometre-data-publica-2023.md", settings)
    assert not (tmp_path / "index" / "uploads").exists()

    (sent / "faux.md").write_text(FAKE_BAROMETER, encoding="utf-8")
    assert add_upload(sent / "faux.md", "faux.md", settings).ok
    assert build_index(settings=settings, progress=False).ok  # the whole corpus, this upload included

    chunks = [c for c in current_chunks(tmp_path / "index") if c.doc_id == "faux"]
    assert chunks and {(c.kind, c.doc_type, c.label, c.label_en, c.label_short) for c in chunks} == {("document", "Document", None, None, None)}
    assert {c.title for c in chunks} == {"Compte rendu du protocole Zéphyr"}
    reader = Assistant(settings=settings)
    answer = reader.ask("Combien de communes ont adopté le protocole Zéphyr ?")
    assert answer.citations and answer.citations[0].doc_id == "faux" and answer.citations[0].doc_type == "Document"
    assert answer.text.startswith("D'après « Compte rendu du protocole Zéphyr » :"), answer.text
    # a quote is named by its own document: the barometer's label only ever introduces the
    # barometer's passages (the answer may quote them beside the upload's)
    for paragraph in answer.text.split("\n\n"):
        cited = {answer.citations[int(n) - 1].doc_id for n in re.findall(r"\[(\d+)\]", paragraph)}
        if "baromètre" in paragraph or "Observatoire" in paragraph:
            assert cited == {"barometre-data-publica-2023"}, paragraph
        if "faux" in cited:
            assert "baromètre" not in paragraph and "Observatoire" not in paragraph, paragraph
    barometer_only = reader.retrieve("protocole Zéphyr sauvegardes communes", filters={"kind": "barometre"})
    assert barometer_only and all(p.chunk.doc_id == "barometre-data-publica-2023" for p in barometer_only)


def _pdf_with_title(path: Path, title: str | None) -> Path:
    """A one-page PDF whose printed heading is « Plan de sobriété numérique » and whose /Title is ``title``."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path, metadata={"Title": title} if title is not None else {}) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.1, 0.9, "Plan de sobriété numérique", fontsize=20, weight="bold")
        fig.text(0.1, 0.84, "Les agents éteignent leurs postes de travail chaque soir pour réduire la consommation.", fontsize=10)
        fig.text(0.1, 0.82, "La commune mesure chaque trimestre la consommation électrique de ses serveurs.", fontsize=10)
        pdf.savefig(fig)
        plt.close(fig)
    return path


def test_an_uploads_title_is_its_metadata_or_first_heading_not_its_file_name(tmp_path):
    from ingest.pipeline import add_upload

    settings = get_settings(index_dir=tmp_path / "index")
    sent = tmp_path / "envoi"
    sent.mkdir()
    _pdf_with_title(sent / "scan_0042.pdf", "Stratégie numérique du territoire")
    _pdf_with_title(sent / "export_v3.pdf", "Microsoft Word - export_v3.docx")  # a tool's placeholder
    (sent / "notes-reunion.md").write_text(
        "# Réunion du comité numérique\n\nLe comité valide le calendrier de migration des messageries des écoles.\n", encoding="utf-8"
    )
    for name in ("scan_0042.pdf", "export_v3.pdf", "notes-reunion.md"):
        assert add_upload(sent / name, name, settings).ok, name
    titles = {c.doc_id: c.title for c in current_chunks(tmp_path / "index")}
    assert titles == {
        "scan_0042": "Stratégie numérique du territoire",
        "export_v3": "Plan de sobriété numérique",
        "notes-reunion": "Réunion du comité numérique",
    }


# --------------------------------------------------------------------------------------------
# limits per document


def test_a_pdf_over_the_page_limit_is_refused_by_name_and_the_rest_ingests(tmp_path):
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    index_dir = tmp_path / "index"
    result = run_cli(str(BAROMETER_PDF), str(tmp_path / "a.md"), "--index", str(index_dir), "--quiet", NOTE_RAG_MAX_PAGES="5")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("erreur :")]
    assert len(errors) == 1 and BAROMETER_PDF.name in errors[0], errors
    assert "trop de pages (15) : limite 5 pages par document" in errors[0], errors
    assert {c.doc_id for c in current_chunks(index_dir)} == {"a"}


def test_a_pdf_that_takes_too_long_to_parse_is_stopped_between_pages(tmp_path):
    (tmp_path / "a.md").write_text(DOC_A, encoding="utf-8")
    settings = get_settings(index_dir=tmp_path / "index", parse_timeout=1e-9)  # over after the first page
    report = build_index([BAROMETER_PDF, tmp_path / "a.md"], settings=settings, progress=False)
    assert [d.doc_id for d in report.failed] == ["barometre-data-publica-2023"]
    assert "analyse trop longue" in report.failed[0].error and "page 1 sur 15" in report.failed[0].error
    assert "NOTE_RAG_PARSE_TIMEOUT" in report.failed[0].error
    assert {c.doc_id for c in current_chunks(tmp_path / "index")} == {"a"}
    with pytest.raises(LoaderError, match="NOTE_RAG_PARSE_TIMEOUT"):
        load_document(BAROMETER_PDF, timeout=1e-9)
    assert load_document(BAROMETER_PDF, max_pages=15, timeout=300).pages == 15
