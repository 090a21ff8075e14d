"""A PDF's text is all in its blocks, whatever its outline says.

LibreOffice bookmarks every paragraph that has an outline level, and some templates give one
to the body text: the meeting minutes of a working group came out with one bookmark per
paragraph and per list item (« - B. Martin indique que… »). Taken for a table of contents,
that outline turned every paragraph into a section title, and each title was replaced by the
next before any block was written under it: four fifths of the text were in no block.

The PDFs here are generated (fpdf2, DejaVu fonts of matplotlib, as ``tests/note_pdf.py``),
with invented French text laid out like such minutes: numbered titles set larger and bold,
body paragraphs, dash lists, « Débat : » labels, and a bookmark for every one of them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

from ingest.loaders import load_document

TITLES = ["1. Revue du précédent compte rendu", "2. Format d'échange des données", "3. Questions diverses"]
EMOJI_ITEM = "- B. Martin indique que son bureau d'études a entamé le codage du format via un script SQL (fortement 😉 encouragé)."
# (style, text) in reading order; "T" a numbered title, "I" an italic line, "" body text.
MINUTES = [
    ("T", TITLES[0]),
    ("", "Le précédent compte rendu du groupe de travail est validé sans modification."),
    ("", "Actions réalisées :"),
    ("", "- publication de la version 2 du modèle de données des cheminements piétons (équipe projet)"),
    ("", "- présentation du modèle aux éditeurs de calculateurs d'itinéraires et aux associations"),
    ("", "Actions à poursuivre :"),
    ("", "- instruire les demandes d'évolution entre les réunions, de façon à pouvoir les valider en séance (tous)"),
    ("T", TITLES[1]),
    ("I", "Par C. Durand, cf. présentation (pages 4 à 9)"),
    (
        "",
        "Le modèle décrit des données relationnelles. Il s'avère nécessaire de lui adjoindre un format "
        "d'échange simplifié, commun à tous les utilisateurs, qui permette de rationaliser les outils de "
        "collecte et de visualisation avec un format unique, point d'entrée d'une chaîne de conversion "
        "des données vers les calculateurs d'itinéraires.",
    ),
    ("", "Débat :"),
    ("", EMOJI_ITEM),
    (
        "",
        "- L. Petit s'interroge sur les règles de découpage des tronçons. C. Durand rappelle les "
        "préconisations du guide méthodologique : il n'est pas demandé de trop morceler les tronçons.",
    ),
    ("", "Décision / Actions"),
    ("", "- Le groupe valide la proposition de remplacer le gabarit actuel par le nouveau format d'échange."),
    ("T", TITLES[2]),
    (
        "",
        "La prochaine réunion se tiendra en visioconférence. Les comptes rendus et les présentations "
        "restent disponibles sur l'espace de partage du groupe de travail.",
    ),
    ("", "- Une enquête sur les usages des données de cheminement sera diffusée aux collectivités."),
]


def _fonts() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def make_minutes_pdf(path: Path, bookmarks: str = "every paragraph", stray: str | None = None) -> Path:
    """Minutes on two pages. ``bookmarks``: "every paragraph" (as LibreOffice exports a body
    style with an outline level) or "titles" (a real table of contents); ``stray``: a
    paragraph bookmarked among the titles (one paragraph given an outline level)."""
    from fpdf import FPDF

    fonts = _fonts()
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font("DejaVu", "", os.fspath(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", os.fspath(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", os.fspath(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.set_title("Groupe de travail Cheminements - compte rendu de réunion")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 9, "Groupe de travail Cheminements", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(0, 6, "Compte rendu de la réunion du 12 mars", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for style, text in MINUTES:
        if style == "T" and text == TITLES[2]:
            pdf.add_page()
        if bookmarks == "every paragraph" or style == "T" or text == stray:
            pdf.start_section(text, level=0)
        if style == "T":
            pdf.ln(3)
            pdf.set_font("DejaVu", "B", 12)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        else:
            pdf.set_font("DejaVu", "I" if style == "I" else "", 10)
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(os.fspath(path))
    return path


def folded(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


def block_texts(blocks) -> list[str]:
    texts = []
    for block in blocks:
        texts.append(block.text or "")
        texts.extend(block.items or [])
        texts.extend(cell for row in (block.rows or []) for cell in row)
    return [t for t in texts if t]


def body_paragraphs() -> list[str]:
    return [text for style, text in MINUTES if style != "T"]


@pytest.fixture(scope="module")
def minutes(tmp_path_factory):
    return load_document(make_minutes_pdf(tmp_path_factory.mktemp("minutes") / "minutes.pdf"))


def test_paragraphs_the_outline_bookmarks_stay_text(minutes):
    kept = folded(" ".join(block_texts(minutes.blocks)))
    for paragraph in body_paragraphs():
        assert folded(paragraph.lstrip("- ")) in kept, paragraph
    written = sum(len(folded(p).split()) for p in body_paragraphs())
    assert len(kept.split()) >= 0.95 * written


def test_an_outline_of_paragraphs_gives_way_to_the_titles_set_larger(minutes):
    sections = {block.section for block in minutes.blocks}
    assert set(TITLES) <= sections
    assert not [s for s in sections if "indique que" in s or s.startswith("-") or len(s) > 120]
    under = folded(" ".join(text for b in minutes.blocks if b.section == TITLES[1] for text in block_texts([b])))
    assert "codage du format" in under and "gabarit actuel" in under  # the debate is in its section


def test_a_character_beyond_the_bmp_is_one_character(minutes):
    texts = block_texts(minutes.blocks)
    for text in texts:
        text.encode("utf-8")  # no lone surrogate
    assert any("fortement 😉 encouragé" in text for text in texts)


def test_a_paragraph_bookmarked_among_real_titles_stays_text(tmp_path):
    stray = MINUTES[9][1]  # the long paragraph of section 2, bookmarked like a title
    document = load_document(make_minutes_pdf(tmp_path / "stray.pdf", bookmarks="titles", stray=stray))
    sections = {block.section for block in document.blocks}
    assert set(TITLES) <= sections  # the outline still gives the sections
    assert not [s for s in sections if "modèle décrit" in s]
    kept = folded(" ".join(block_texts(document.blocks)))
    for paragraph in body_paragraphs():
        assert folded(paragraph.lstrip("- ")) in kept, paragraph
