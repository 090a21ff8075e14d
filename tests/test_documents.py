"""Documents as publishers ship them: typeset PDFs, published web pages, Markdown with
admonitions, lists and tables, and a designed note-like PDF. What a reader would notice:
words keep their spaces, hyphenated words are whole, page furniture is gone, sections carry
the real titles, and lists, table rows, admonitions and quotes can be quoted."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.loaders import load_document
from ingest.models import Chunk

from .conftest import FIXTURES
from . import typography_pdfs as typo
from .note_pdf import ATTRIBUTION, CALLOUT_BELOW, CALLOUT_BESIDE, HEADER, QUOTE, make_note_pdf

QUALITE_PDF = FIXTURES / "etalab-guide-qualite-extrait.pdf"
QUALITE_MD = FIXTURES / "etalab-qualite-preparer-le-jeu-de-donnees.md"
QUALITE_HTML = FIXTURES / "etalab-qualite-preparer-le-jeu-de-donnees-page.html"
REFERENTIELS_PDF = FIXTURES / "etalab-guide-qualite-referentiels.pdf"
LOGICIELS_PDF = FIXTURES / "etalab-guide-logiciels.pdf"
SCHEMAS_MD = FIXTURES / "etalab-schemas-phase-construction.md"


def chunks_of(path: Path) -> list[Chunk]:
    return chunk_document(load_document(path), "test")


def quotable(chunks: list[Chunk]) -> list[str]:
    return [u.text for c in chunks for u in c.units if u.quotable]


def folded(text: str) -> str:
    """Letters and digits only, lower case: the same sentence whatever the typography."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold().replace("’", "'")))


@pytest.fixture(scope="module")
def qualite_pdf() -> list[Chunk]:
    return chunks_of(QUALITE_PDF)


# --------------------------------------------------------------------------------------------
# typeset PDF (pandoc + LaTeX)


def test_typeset_pdf_words_keep_their_spaces_and_hyphenated_words_are_whole(qualite_pdf):
    text = " ".join(c.text for c in qualite_pdf)
    words = re.findall(r"[^\W\d_]+", text)
    glued = [w for w in words if len(w) > 25]
    assert len(words) > 2000
    assert len(glued) * 200 < len(words), glued[:10]
    assert "Dans cette situation, il est nécessaire de réaliser une extraction des données" in text
    line_end_hyphens = re.findall(r"[a-zà-ÿ][-‐‑] [a-zà-ÿ]+", text)
    assert len(line_end_hyphens) <= 3, line_end_hyphens
    assert "documentation automatiquement" in text  # « docu‑ / mentation » in the PDF


def test_typeset_pdf_drops_contents_headers_footers_and_page_numbers(qualite_pdf):
    text = " ".join(c.text for c in qualite_pdf)
    assert not re.search(r"(?:\. ?){5,}", text), "dot leaders of the table of contents"
    assert "Table des matières" not in text
    assert "Consultez la dernière version de ce guide" not in text  # running footer
    assert "27/05/2024" not in " ".join(c.text for c in qualite_pdf if c.page and c.page > 1)  # running header


def test_a_date_in_the_footer_set_larger_than_small_body_text_is_furniture():
    """A standard whose pages are mostly small table text (8 pt) prints its date in a 10 pt
    footer (the CNIG friches standard): larger than the body, the date was kept, as units of its
    own and at the head of sentences cut by a page break. A line of digits and separators is
    never a title; repeated in the margin of every page, it is furniture. A bare number near the
    margin of one page (a table's last cell) stays."""
    from ingest.loaders.pdf import Segment, _drop_furniture, _Page

    def line(text: str, top: float, size: float, page: int) -> Segment:
        return Segment(text, 56, 56 + 5 * len(text), top, top - size, size, False, False, page, chars=len(text))

    pages = []
    for number in range(1, 6):
        segments = [line(f"Attribut {number}.{row} : valeur codée selon la liste de référence du standard", 700 - 14 * row, 8.0, number) for row in range(30)]
        segments += [line("26/05/2025", 68, 10.0, number), line(str(number), 66, 8.0, number)]
        if number == 3:
            segments.append(line("4471", 95, 10.0, number))
        pages.append(_Page(number, 595, 842, segments))
    _drop_furniture(pages)
    kept = [s.text for page in pages for s in page.segments]
    assert "26/05/2025" not in kept and "3" not in kept
    assert "4471" in kept and "Attribut 2.7 : valeur codée selon la liste de référence du standard" in kept


def test_a_footnote_call_in_superscript_is_not_read_into_the_sentence(tmp_path):
    """Word processors set a footnote call as a small raised digit right after the word or the
    full stop (« réussissent.¹ »): read as text it glued to the next sentence (« réussissent.1
    Les projets… ») and sat beside figures. A figure's digits on the line stay."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.set_xy(20, 30)
    pdf.write(6, "Seuls 13 % des grands projets informatiques publics réussissent.")
    pdf.char_vpos = "SUP"
    pdf.write(6, "12")
    pdf.char_vpos = "LINE"
    pdf.write(6, " Les projets des collectivités souffrent souvent de cahiers des charges trop rigides")
    pdf.char_vpos = "SUP"
    pdf.write(6, "3")
    pdf.char_vpos = "LINE"
    pdf.write(6, ", et 40 communes ont changé de méthode en 2024.")
    path = tmp_path / "rapport.pdf"
    pdf.output(str(path))
    chunks = chunks_of(path)
    units = quotable(chunks)
    assert "Seuls 13 % des grands projets informatiques publics réussissent." in units, units
    assert any(u.startswith("Les projets des collectivités souffrent souvent de cahiers des charges trop rigides, et 40 communes") for u in units), units


def test_typeset_pdf_sections_are_the_outline_titles(qualite_pdf):
    sections = {c.section for c in qualite_pdf}
    assert "Préparer le jeu de données > La structure du jeu de données > Cas 1 - La structure des données correspond à un schéma de données existant" in sections
    assert "Introduction > Le partage des données" in sections
    assert not any(re.search(r"[a-zé]{26,}", s) for s in sections), sections


def test_typeset_pdf_list_stays_with_its_lead_in(qualite_pdf):
    units = quotable(qualite_pdf)
    lead_in = next(u for u in units if u.startswith("Deux approches sont envisageables :"))
    assert "schéma de données existant" in lead_in and "Un travail de modélisation est nécessaire" in lead_in


def test_typeset_pdf_table_rows_carry_their_headers(qualite_pdf):
    rows = [u.text for c in qualite_pdf for u in c.units if u.kind == "row"]
    assert any(r.startswith("Type de données : Données tabulaires ; Formats conseillés : CSV") for r in rows), rows


def test_typeset_pdf_table_with_a_tight_header_and_wrapped_cells_reads_each_row_whole():
    """The guide's tables of reference datasets: a header whose cells are set as closely as
    running text, and a « Description » column wrapped over many lines beside one-line
    « Producteur » cells. Each row keeps its producer, read under the real column names."""
    rows = [u.text for c in chunks_of(REFERENTIELS_PDF) for u in c.units if u.kind == "row"]
    rncp = next(r for r in rows if "(RNCP)" in r)
    assert rncp.startswith("Nom du jeu de données : Répertoire National des Certifications Professionnelles"), rncp
    assert rncp.endswith("Producteur : France Compétences"), rncp
    rome = next(r for r in rows if "(ROME)" in r)
    assert "Variable(s) pivot(s) : Code ROME" in rome and rome.endswith("Producteur : Pôle Emploi"), rome
    assert all(r.count("Producteur :") == 1 for r in rows if r.startswith("Nom du jeu de données")), rows
    units = quotable(chunks_of(REFERENTIELS_PDF))
    assert not any(u in ("INSEE", "France Compétences", "Pôle Emploi") for u in units), "producer cells read apart from their rows"


def test_pdf_numbered_list_continues_over_its_second_line():
    units = quotable(chunks_of(LOGICIELS_PDF))
    criteria = next(u for u in units if u.startswith("Nous proposons trois critères :"))
    assert "(ou un logiciel « monolithique » sans utilité pour d’autres logiciels libres)" in criteria
    assert "Le logiciel répond-il a un besoin générique" in criteria


# --------------------------------------------------------------------------------------------
# one chapter, three formats


@pytest.mark.parametrize("other", [QUALITE_PDF, QUALITE_HTML], ids=["pdf", "html"])
def test_the_same_chapter_gives_the_same_passages_from_md_html_and_pdf(other):
    md_units = quotable(chunks_of(QUALITE_MD))
    haystack = folded(" ".join(c.text for c in chunks_of(other)))
    found = [u for u in md_units if folded(u) in haystack]
    assert len(md_units) > 50
    assert len(found) >= 0.9 * len(md_units), [u for u in md_units if u not in found][:10]


def test_the_same_chapter_has_the_same_sections_in_md_and_html():
    def sections(path: Path) -> list[str]:
        return list(dict.fromkeys(b.section for b in load_document(path).blocks))

    assert sections(QUALITE_HTML) == sections(QUALITE_MD)


# --------------------------------------------------------------------------------------------
# Markdown and HTML structure


def test_admonition_bodies_are_quotable_with_their_title_as_label():
    chunks = chunks_of(SCHEMAS_MD)
    units = [(u.kind, u.text) for c in chunks for u in c.units]
    assert ("label", "Lexique : Standard") in units
    definition = next(c for c in chunks if "destiné à harmoniser l’activité d’un secteur" in c.text)
    assert definition.text.startswith("Lexique : Standard"), "the label opens the chunk of its body"
    assert any(k == "sentence" and "un modèle de départ" in t for k, t in units)  # ::: tip body
    assert "Exemples à votre disposition" in {t for k, t in units if k == "label"}


def test_markdown_list_stays_with_its_lead_in_and_long_lists_repeat_it():
    units = quotable(chunks_of(SCHEMAS_MD))
    parts = [u for u in units if u.startswith("Les principaux standards techniques sont les suivants :")]
    assert parts and all(len(p) <= 450 for p in parts)
    assert "Table Schema : adapté pour la description de données tabulaires" in parts[0]
    assert "XML Schema Definition (XSD)" in " ".join(parts)
    assert not any(u.startswith("XML Schema Definition") for u in units), "no item quoted without its lead-in"


def test_a_nested_list_says_which_item_it_details(tmp_path):
    """An item that announces a nested list (« … contenant les informations suivantes : ») keeps
    its colon and leads the nested items: quoted alone, they still say what they list."""
    path = tmp_path / "directive.md"
    path.write_text(
        "# Directive\n\n## Application\n\nLe processus complet est détaillé par les étapes suivantes :\n"
        "1. Identifier un besoin de contribution.\n"
        "1. Vérifier si le projet est approuvé ou débuter le processus d'approbation :\n"
        "    1. Envoyer une demande au comité contenant les informations suivantes :\n"
        "        * Le lien officiel du dépôt du projet\n        * La licence libre utilisée par le projet\n"
        "        * La nature de la contribution\n\n1. Suivre le processus jusqu'à la fin.\n",
        encoding="utf-8",
    )
    units = quotable(chunks_of(path))
    nested = next(u for u in units if "Le lien officiel" in u)
    assert nested.startswith("Envoyer une demande au comité contenant les informations suivantes : Le lien officiel"), units
    assert "La nature de la contribution" in nested
    assert not any(u.endswith(":.") for u in units), units


@pytest.mark.parametrize("path", [QUALITE_MD, QUALITE_HTML], ids=["md", "html"])
def test_table_rows_carry_their_column_headers(path):
    rows = [u.text for c in chunks_of(path) for u in c.units if u.kind == "row"]
    assert len(rows) == 4
    assert any(r.startswith("Type de données : Données hiérarchiques ; Formats conseillés : JSON / XML / YAML") for r in rows), rows


def test_html_page_keeps_custom_blocks_and_leaves_navigation_out():
    document = load_document(QUALITE_HTML)
    text = " ".join(b.plain_text() for b in document.blocks)
    assert "Séparateurs décimaux" in {b.text for b in document.blocks if b.role == "label"}
    assert "il est nécessaire d’encapsuler chaque champ entre des guillemets" in text
    assert "Lexique : Schéma de données" in {b.text for b in document.blocks if b.role == "label"}
    assert document.info.title == "Préparer le jeu de données"


def test_a_static_site_page_source_keeps_its_headings_and_boxes(tmp_path):
    """A page's source in a static site (front matter, then the page's own HTML, no <main>): the
    layout adds the menus when publishing, so the whole source is content. Trafilatura, made to
    find an article among a site's furniture, dropped its side boxes and its h2/h3 headings."""
    paragraph = "Les équipes ont rencontré {} agents dans {} villes pour préparer la nouvelle stratégie numérique de la région."
    path = tmp_path / "rapport.html"
    path.write_text(
        "---\ntitle: 'Rapport de la consultation'\nlayout: default\n---\n"
        "<div class='report'><div id='themenav'><ul class='nav'><li><a href='#a'>Contexte</a></li><li><a href='#b'>Talents</a></li></ul></div>"
        "<div class='heading'><a href='#top' class='toplink'><span>Haut</span></a><h2>Contexte de la consultation</h2></div>"
        f"<p>{paragraph.format(300, 12)}</p><p>{paragraph.format(150, 8)}</p>"
        "<div class='comment-panel'><h4>Encadré : le modèle britannique</h4>"
        "<p>Le service numérique britannique publie quatre indicateurs de performance pour chacun de ses services en ligne.</p></div>"
        f"<h3>Recruter des talents</h3><p>{paragraph.format(80, 5)}</p></div>",
        encoding="utf-8",
    )
    document = load_document(path)
    text = " ".join(b.plain_text() for b in document.blocks)
    assert "quatre indicateurs de performance" in text
    sections = {b.section for b in document.blocks}
    assert any(s.endswith("Recruter des talents") for s in sections), sections
    assert any("Contexte de la consultation" in s for s in sections), sections
    assert "Haut" not in text and "Talents" not in text


def test_site_generator_syntax_is_left_out_of_markdown_and_component_text_is_kept(tmp_path):
    """Template tags, shortcodes and attribute lists (Nunjucks, Hugo, kramdown) are markup the site
    renders; the text a component shows (an accordion's items) is content."""
    path = tmp_path / "plateforme.md"
    path.write_text(
        "---\ntitle: La plateforme en bref\n---\n"
        '{% from "components/component.njk" import component with context %}\n\n'
        "## Objectifs\n\n"
        "La plateforme est un [grand projet numérique](https://example.org/projets){target=\"_blank\" title=\"Projets - nouvelle fenêtre\"} de l'État.\n\n"
        "{% set items = [\n    {\n        title: \"Mutualisation des infrastructures\",\n        content: \"\n"
        "            <p>La plateforme hébergera les données produites par l'ensemble des partenaires publics.</p>\n        \"\n    }\n] %}\n"
        '{{ component("accordionsgroup", { items: items }) }}\n\n'
        '{{< img src="schema-plateforme" >}}\n\nLe schéma ci-dessus résume son architecture. {.legende}\n',
        encoding="utf-8",
    )
    text = " ".join(b.plain_text() for b in load_document(path).blocks)
    assert "La plateforme est un grand projet numérique de l'État." in text
    assert "hébergera les données produites par l'ensemble des partenaires publics" in text
    assert "Le schéma ci-dessus résume son architecture." in text
    assert not any(mark in text for mark in ("{%", "%}", "{{", "}}", "target=", "njk", ".legende", "accordionsgroup")), text


def test_unclosed_fence_or_div_is_closed_at_the_next_heading_with_a_warning(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\n::: tip Attention\nUn conseil utile sur les données ouvertes.\n\n"
        "## Suite\n\nLa suite du guide reste indexée après le bloc non fermé.\n\n"
        "```python\nprint('code')\n\n## Fin\n\nLe dernier paragraphe est lu lui aussi.\n",
        encoding="utf-8",
    )
    document = load_document(path)
    text = " ".join(b.text for b in document.blocks)
    assert "Un conseil utile" in text and "La suite du guide reste indexée" in text
    assert "Le dernier paragraphe est lu lui aussi." in text and "print(" not in text
    assert len(document.warnings) == 2 and all("non fermé" in w for w in document.warnings)


def test_italic_paragraph_is_content_unless_it_sits_under_a_figure(tmp_path):
    path = tmp_path / "temoignage.md"
    path.write_text(
        "# Témoignage\n\n*Nous avons ouvert nos données pour que les habitants s'en emparent.*\n\n"
        "![Graphique](chart.png)\n*Part des communes ayant ouvert leurs données (enquête 2024).*\n",
        encoding="utf-8",
    )
    roles = {b.text: b.role for b in load_document(path).blocks}
    assert roles["Nous avons ouvert nos données pour que les habitants s'en emparent."] == "text"
    assert roles["Part des communes ayant ouvert leurs données (enquête 2024)."] == "caption"


# --------------------------------------------------------------------------------------------
# a designed, note-like PDF


@pytest.fixture(scope="module")
def note(tmp_path_factory):
    made = make_note_pdf(tmp_path_factory.mktemp("note") / "note.pdf")
    return made, load_document(made.path)


def test_note_pdf_reads_each_column_top_to_bottom(note):
    made, document = note
    texts = [b.text for b in document.blocks]
    order = []
    for paragraph in made.left + made.right:
        block = next((i for i, t in enumerate(texts) if paragraph in t), None)
        assert block is not None, f"paragraph cut or mixed with the other column: {paragraph[:60]}"
        order.append(block)
    assert order == sorted(order), "left column first, then the right one"


def test_note_pdf_key_figures_come_out_whole_with_their_caption(note):
    _, document = note
    units = quotable(chunk_document(document, "test"))
    for figure, caption in (CALLOUT_BESIDE, CALLOUT_BELOW):
        assert f"{figure} {caption}" in units, units
    assert not any(b.section.startswith(("59", "17")) for b in document.blocks), "a figure is not a heading"


def test_note_pdf_pull_quote_can_be_quoted_with_its_attribution(note):
    _, document = note
    units = quotable(chunk_document(document, "test"))
    quote = next(u for u in units if QUOTE in u)
    assert ATTRIBUTION in quote
    text = " ".join(b.text for b in document.blocks)
    assert HEADER not in text and not re.search(r"Page \d", text)


# --------------------------------------------------------------------------------------------
# publishers' typography (tests/typography_pdfs.py draws each situation; fixtures in tests/fixtures)


def test_indesign_pdf_reads_sizes_from_the_text_matrix_and_finds_headings_by_size():
    """InDesign sets fonts at 1 pt under a scaled matrix, kerns inside words, has no outline."""
    chunks = chunks_of(typo.INDESIGN)
    sections = {c.section for c in chunks}
    assert "1 Quels sont les impacts environnementaux ? > Les impacts sociétaux" in sections, sections
    assert "2 Quels éléments prendre en compte ? > Les critères de choix" in sections, sections
    text = " ".join(c.text for c in chunks)
    assert "Objectifs environnementaux partie service" in text  # kerned inside the words, not split
    # The lead paragraph is set larger than the body: a paragraph, not a title.
    lead = next(c for c in chunks if "choisir des solutions numériques sobres" in c.text)
    assert lead.section == "1 Quels sont les impacts environnementaux ?"
    assert not any("Cette fiche aide" in s for s in sections)
    # The contents page (page numbers set apart, no dot leaders) is not read as text.
    assert not any(c.page == 2 for c in chunks) and "Sommaire" not in text


def test_letter_spaced_kerned_and_word_positioned_text_keeps_its_words():
    units = " ".join(c.text for c in chunks_of(typo.SPACING))
    assert typo.TRACKED_TITLE in units  # caps tracked by 0.2 em
    assert " ".join(typo.TRACKED_WORDS) in units  # tracked, each word positioned, no space written
    assert " ".join(typo.POSITIONED_WORDS) in units  # LaTeX: no space character at all
    assert "le contrôle de leur consultation au clavier et avec tout dispositif de pointage." in units  # spaces taken back


def test_dingbat_bullets_make_a_list_attached_to_its_lead_in():
    units = quotable(chunks_of(typo.DINGBATS))
    listing = next(u for u in units if u.startswith(typo.LIST_LEAD))
    for item in typo.LIST_ITEMS:
        assert item.rstrip(" ;.") in listing, listing
    assert not re.search(r"[\u2190-\u21ff\u2700-\u27bfÆ]", " ".join(units)), "a bullet glyph read as text"
    assert typo.AFTER_LIST in units


def test_a_sentence_and_a_hyphenated_word_go_on_over_the_page_break_unless_the_page_opens_otherwise():
    chunks = chunks_of(typo.PAGE_BREAKS)
    units = {(u.text, c.page) for c in chunks for u in c.units if u.quotable}
    assert (f"{typo.BEFORE_BREAK} {typo.AFTER_BREAK}", 1) in units  # on the page where it starts
    assert ("Les clauses du marché visent la protection de l’environnement et des ressources en eau.", 2) in units
    # A heading, a list or a table first on the next page closes the paragraph left open.
    assert (typo.OPEN_BEFORE_HEADING, 3) in units
    assert any(c.page == 4 and c.section == typo.HEADING and typo.AFTER_HEADING in c.text for c in chunks)
    assert (typo.OPEN_BEFORE_LIST, 4) in units
    assert any(c.page == 5 and all(i.rstrip(" ;.") in c.text for i in typo.LIST_AFTER_BREAK) for c in chunks)
    assert (typo.OPEN_BEFORE_TABLE, 5) in units
    rows = [u.text for c in chunks for u in c.units if u.kind == "row"]
    assert rows == ["usage : messagerie ; volume : 120 Go", "usage : archives ; volume : 2 To"], rows


def test_narrow_columns_on_one_baseline_grid_are_read_column_by_column():
    units = quotable(chunks_of(typo.COLUMNS))
    for text in typo.COLUMN_TEXTS:
        assert text in units, units
