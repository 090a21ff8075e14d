"""Small PDFs that reproduce, one at a time, how publishers' tools set text (fpdf2, PDF core fonts).

Layout tools write PDFs the LaTeX guides never showed us: InDesign sets every font at 1 pt and
scales the text matrix, kerns inside words and tracks display lines; LibreOffice positions
justified text glyph by glyph and takes back the spaces it wrote; bullets come from dingbat
fonts; designed pages run three narrow columns on one baseline grid; tables of contents have
no dot leaders; sentences and hyphenated words run over page breaks. Each function below draws
one of these situations with invented French text, and returns nothing: the tests read the
files in ``tests/fixtures/`` (``python -m tests.typography_pdfs`` writes them again).

Text is written with raw PDF operators where fpdf2 has no API for the situation (a font at
1 pt under a scaled matrix, TJ kerning, a space taken back), always in a core font (Helvetica,
Zapf Dingbats) so that no font file is embedded.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import PDFResourceType

FIXTURES = Path(__file__).resolve().parent / "fixtures"

INDESIGN = FIXTURES / "typo-indesign-headings.pdf"
SPACING = FIXTURES / "typo-letter-spacing.pdf"
DINGBATS = FIXTURES / "typo-dingbat-list.pdf"
PAGE_BREAKS = FIXTURES / "typo-page-breaks.pdf"
COLUMNS = FIXTURES / "typo-three-columns.pdf"

A4 = (595.28, 841.89)


def _literal(text: str) -> str:
    """A PDF string literal in WinAnsi (cp1252), as the core fonts read it."""
    out = []
    for byte in text.encode("cp1252"):
        char = chr(byte)
        if char in "()\\":
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "(" + "".join(out) + ")"


class _Raw(FPDF):
    """fpdf2 with a way to write text operators as layout tools do."""

    def __init__(self, orientation: str = "P") -> None:
        super().__init__(orientation=orientation, unit="pt", format="A4")
        self.set_auto_page_break(False)
        self.set_compression(False)
        self.core_fonts_encoding = "cp1252"  # WinAnsi, as the core fonts are written (« ’ », « — »)

    def raw(self, family: str, style: str, size: float, x: float, y: float, parts, tracking: float = 0.0, indesign: bool = True) -> None:
        """Draw ``parts`` at (x, y) from the bottom-left corner: a string, or a TJ array of
        strings and kerning numbers (thousandths of an em, positive moves left).

        ``indesign``: the font is set at 1 pt and the text matrix scaled to ``size`` (as
        InDesign writes it), else the font is set at ``size`` under a plain matrix.
        ``tracking``: the character spacing (Tc), in ems.
        """
        self.set_font(family, style, size)
        font = self.current_font
        self._resource_catalog.add(PDFResourceType.FONT, font.i, self.page)
        if isinstance(parts, str):
            parts = [parts]
        array = " ".join(_literal(p) if isinstance(p, str) else f"{p:g}" for p in parts)
        if indesign:
            head = f"/F{font.i} 1 Tf {size:g} 0 0 {size:g} {x:.2f} {y:.2f} Tm {tracking:g} Tc"
        else:
            head = f"/F{font.i} {size:g} Tf 1 0 0 1 {x:.2f} {y:.2f} Tm {tracking * size:g} Tc"
        self._out(f"BT {head} [{array}] TJ ET")

    def width(self, family: str, style: str, size: float, text: str) -> float:
        self.set_font(family, style, size)
        return self.get_string_width(text)

    def wrap(self, text: str, family: str, style: str, size: float, width: float) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            if lines and self.width(family, style, size, f"{lines[-1]} {word}") <= width:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
        return lines

    def paragraph(self, text: str, x: float, y: float, width: float, size: float = 9, style: str = "", leading: float = 1.35, **kwargs) -> float:
        """Wrapped lines from baseline ``y`` down; returns the baseline after the paragraph."""
        for line in self.wrap(text, "helvetica", style, size, width):
            self.raw("helvetica", style, size, x, y, line, **kwargs)
            y -= size * leading
        return y


# --------------------------------------------------------------------------------------------
# an InDesign-like fiche: sizes from the matrix, kerning inside words, headings by size, a
# lead paragraph set larger, a table of contents without leaders, no outline


LEAD = (
    "Cette fiche aide les acheteurs publics à choisir des solutions numériques sobres, "
    "à dialoguer avec les fournisseurs et à intégrer des exigences environnementales "
    "dans les marchés publics, de la définition du besoin jusqu’au suivi du contrat."
)
IMPACTS = (
    "Les centres de données consomment une part croissante de l’électricité produite en Europe. "
    "Leur refroidissement mobilise aussi de grandes quantités d’eau douce."
)
SOCIETAL = "Les usages numériques transforment le travail des agents et la relation aux usagers."
CRITERIA = "L’acheteur vérifie la durée de vie des équipements et la réparabilité des terminaux."
# Words split by kerning: (word, where the TJ adjustment goes, the adjustment)
KERNED = [("Objectifs", 5, -40), ("environnementaux", 7, -30), ("partie", 3, 60), ("service", 3, -45)]


def make_indesign(path: Path = INDESIGN) -> None:
    pdf = _Raw()

    def footer(number: int) -> None:
        pdf.raw("helvetica", "", 8, 50, 30, "Fiche pratique pour des achats numériques responsables")
        pdf.raw("helvetica", "", 8, 530, 30, str(number))

    pdf.add_page()
    pdf.raw("helvetica", "B", 26, 50, 700, "Fiche pratique")
    pdf.raw("helvetica", "B", 26, 50, 668, "pour des achats responsables")
    pdf.raw("helvetica", "", 12, 50, 630, "Version de novembre 2025")
    footer(1)

    pdf.add_page()  # contents, without dot leaders: titles, and page numbers set apart at the right
    pdf.raw("helvetica", "B", 20, 50, 760, "Sommaire")
    entries = [
        ("1 Quels sont les impacts environnementaux ?", 3), ("Les impacts sur l’énergie et l’eau", 3),
        ("Les impacts sociétaux", 3), ("2 Quels éléments prendre en compte ?", 4),
        ("Les critères de choix", 4), ("Les annexes pratiques", 4),
    ]
    y = 720.0
    for title, number in entries:
        pdf.raw("helvetica", "", 11, 70, y, title)
        pdf.raw("helvetica", "", 11, 480, y, str(number))
        y -= 22
    footer(2)

    pdf.add_page()
    pdf.raw("helvetica", "B", 16, 50, 770, "1 Quels sont les impacts environnementaux ?")
    y = pdf.paragraph(LEAD, 50, 740, 400, size=11)  # a lead paragraph, set larger than the body
    y -= 8
    # A line whose words are kerned inside (InDesign's optical kerning): TJ adjustments.
    parts: list = []
    for word, cut, kern in KERNED:
        parts += [word[:cut], kern, word[cut:] + " "]
    pdf.raw("helvetica", "", 9, 50, y, parts)
    y -= 20
    pdf.raw("helvetica", "B", 12, 50, y, "Les impacts sur l’énergie et l’eau")
    y = pdf.paragraph(IMPACTS, 50, y - 18, 400)
    pdf.raw("helvetica", "B", 12, 50, y - 10, "Les impacts sociétaux")
    pdf.paragraph(SOCIETAL, 50, y - 28, 400)
    footer(3)

    pdf.add_page()
    pdf.raw("helvetica", "B", 16, 50, 770, "2 Quels éléments prendre en compte ?")
    pdf.raw("helvetica", "B", 12, 50, 740, "Les critères de choix")
    pdf.paragraph(CRITERIA, 50, 722, 400)
    footer(4)
    pdf.output(str(path))


# --------------------------------------------------------------------------------------------
# letter spacing: a tracked title with spaces, a tracked line positioned word by word, a
# LaTeX-like line positioned word by word, spaces taken back by glyph-by-glyph positioning

TRACKED_TITLE = "À QUI S’ADRESSE CETTE FICHE"
TRACKED_WORDS = ["Les", "données", "ouvertes", "servent", "tous", "les", "territoires."]
POSITIONED_WORDS = ["Chaque", "commune", "publie", "ses", "délibérations", "en", "ligne."]
TAKEN_BACK = [("Rendre possible le contrôle de l", 0), ("eur consultation au clavier et avec tout dispos", 0), ("itif de pointage.", 0)]


def make_letter_spacing(path: Path = SPACING) -> None:
    pdf = _Raw()
    pdf.add_page()
    pdf.raw("helvetica", "B", 18, 50, 770, "Espacements", indesign=False)
    # Display caps tracked by 0.2 em, with real spaces: every letter stands 0.2 em apart.
    pdf.raw("helvetica", "B", 9, 50, 730, TRACKED_TITLE, tracking=0.2, indesign=False)
    # Body text tracked by 0.12 em, each word positioned with no space character.
    x = 50.0
    for word in TRACKED_WORDS:
        pdf.raw("helvetica", "", 9, x, 700, word, tracking=0.12, indesign=False)
        x += pdf.width("helvetica", "", 9, word) + len(word) * 0.12 * 9 + 0.28 * 9
    # LaTeX: no tracking, each word positioned, word gaps of 0.3 em, no space character.
    x = 50.0
    for word in POSITIONED_WORDS:
        pdf.raw("helvetica", "", 9, x, 680, word, indesign=False)
        x += pdf.width("helvetica", "", 9, word) + 0.3 * 9
    # LibreOffice's justified text: a space written, then taken back by the same amount (278 is
    # Helvetica's space width): the word is drawn whole, the text says « l eur ».
    parts: list = []
    for text, _ in TAKEN_BACK:
        parts += [text + " ", 278]
    pdf.raw("helvetica", "", 9, 50, 660, parts[:-1], indesign=False)
    pdf.output(str(path))


# --------------------------------------------------------------------------------------------
# a list whose bullets are Zapf Dingbats glyphs

LIST_LEAD = "Cette fiche s’adresse aux publics suivants :"
LIST_ITEMS = [
    "les acheteuses et acheteurs publics des collectivités territoriales et de leurs groupements ;",
    "les cheffes et chefs de projet numérique ;",
    "les référents numérique responsable des ministères.",
]
AFTER_LIST = "Elle se lit en quinze minutes environ."


def make_dingbat_list(path: Path = DINGBATS) -> None:
    pdf = _Raw()
    pdf.add_page()
    pdf.raw("helvetica", "B", 16, 50, 770, "Public de la fiche")
    pdf.raw("helvetica", "", 9, 50, 740, LIST_LEAD)
    y = 722.0
    for item in LIST_ITEMS:
        # A Zapf Dingbats arrow (code 0xC6, « Æ » in WinAnsi) then the text after a tab's gap.
        pdf.raw("zapfdingbats", "", 9, 56, y, "Æ")
        for line in pdf.wrap(item, "helvetica", "", 9, 180):
            pdf.raw("helvetica", "", 9, 70, y, line)
            y -= 12
        y -= 3
    pdf.paragraph(AFTER_LIST, 50, y - 8, 400)
    pdf.output(str(path))


# --------------------------------------------------------------------------------------------
# sentences and a hyphenated word over page breaks; page breaks that close the paragraph

BEFORE_BREAK = "L’intelligence artificielle désigne un ensemble de techniques de"
AFTER_BREAK = "traitement automatique qui apprennent à partir de données."
HYPHEN_BEFORE = "Les clauses du marché visent la protection de l’en-"
HYPHEN_AFTER = "vironnement et des ressources en eau."
OPEN_BEFORE_HEADING = "Les services numériques de la collectivité sont concernés et"
HEADING = "Les usages"
AFTER_HEADING = "pour chaque usage, le service décrit le besoin avant tout achat."
OPEN_BEFORE_LIST = "Le marché précise les volumes selon"
LIST_AFTER_BREAK = ["les données ouvertes ;", "les données internes."]
OPEN_BEFORE_TABLE = "Le tableau suivant résume les volumes par"
TABLE = [("usage", "volume"), ("messagerie", "120 Go"), ("archives", "2 To")]


def make_page_breaks(path: Path = PAGE_BREAKS) -> None:
    pdf = _Raw()

    def furniture(number: int) -> None:
        pdf.raw("helvetica", "", 8, 50, 810, "Guide de l’achat numérique — édition 2025", indesign=False)
        pdf.raw("helvetica", "", 8, 290, 30, f"{number}", indesign=False)

    def page(first: list[str] | None, last: str | None, heading: str | None = None) -> float:
        pdf.add_page()
        furniture(pdf.page)
        y = 770.0
        if heading:
            pdf.raw("helvetica", "B", 16, 50, y, heading, indesign=False)
            y -= 30
        for text in first or []:
            y = pdf.paragraph(text, 50, y, 480, indesign=False) - 8
        if last:
            pdf.paragraph(last, 50, 90, 480, indesign=False)  # the page's last line, at its foot
        return y

    page(["Chapitre premier : ce que recouvre l’intelligence artificielle."], BEFORE_BREAK, heading="Définitions")
    page([AFTER_BREAK], HYPHEN_BEFORE)
    page([HYPHEN_AFTER], OPEN_BEFORE_HEADING)
    page([AFTER_HEADING], OPEN_BEFORE_LIST, heading=HEADING)
    pdf.add_page()
    furniture(pdf.page)
    y = 770.0
    for item in LIST_AFTER_BREAK:
        pdf.raw("helvetica", "", 9, 56, y, "•", indesign=False)
        pdf.raw("helvetica", "", 9, 70, y, item, indesign=False)
        y -= 14
    pdf.paragraph(OPEN_BEFORE_TABLE, 50, 90, 480, indesign=False)
    pdf.add_page()
    furniture(pdf.page)
    y = 770.0
    for left, right in TABLE:
        pdf.raw("helvetica", "", 9, 50, y, left, indesign=False)
        pdf.raw("helvetica", "", 9, 250, y, right, indesign=False)
        y -= 14
    pdf.output(str(path))


# --------------------------------------------------------------------------------------------
# three narrow columns of prose on one baseline grid (a landscape page)

COLUMN_TEXTS = [
    "Depuis deux ans, le développement et l’utilisation de l’intelligence artificielle connaissent "
    "une accélération notable, autant dans le monde professionnel que dans les usages personnels "
    "du quotidien, ce qui démultiplie leurs impacts environnementaux.",
    "Il existe pourtant des modèles plus sobres et adaptés aux cas d’usage des administrations, "
    "qui sont développés aussi bien par des entités privées que par des organismes publics, et "
    "que les acheteurs peuvent comparer entre eux.",
    "Ce guide doit permettre de comprendre les impacts environnementaux liés à ces solutions, "
    "mais aussi de faire des choix plus responsables sur les modèles retenus, sur la souveraineté "
    "des données et sur la sécurité des agents publics.",
]


def make_three_columns(path: Path = COLUMNS) -> None:
    pdf = _Raw("L")
    pdf.add_page()
    pdf.raw("helvetica", "B", 20, 42, 540, "Intelligence artificielle : de quoi parle-t-on ?")
    for column, text in enumerate(COLUMN_TEXTS):
        pdf.paragraph(text, 42 + column * 250, 490, 215, leading=1.4)  # the same baselines in every column
    pdf.output(str(path))


def main() -> None:
    make_indesign()
    make_letter_spacing()
    make_dingbat_list()
    make_page_breaks()
    make_three_columns()


if __name__ == "__main__":
    main()
