"""A PDF laid out like the 2024 note, generated for the tests (fpdf2, DejaVu fonts of matplotlib).

The user's main document is a designed PDF: two text columns, key figures set very large with
their caption beside or under them, a testimony quoted in italics with an attribution line, a
running header and a numbered footer. This module draws such a PDF from sentences of the
2023 barometer of the Observatoire Data Publica (CC BY-SA 4.0,
https://github.com/Observatoire-Data-Publica/enquete_2023) and from an invented testimony,
and returns what the layout contains, so that the tests can check what the loader makes of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HEADER = "Note de conjoncture 2024 · Data, IA et cybersécurité dans les territoires"
TITLE = "La donnée au service des territoires"

LEFT_COLUMN = [
    "Les raisons d'utiliser les données peuvent être multiples pour les organismes locaux. "
    "L'efficacité opérationnelle des services publics domine dans les grandes collectivités.",
    "Au-delà de ces deux raisons majeures, c'est surtout le développement de nouveaux services "
    "qui est mis en avant par les collectivités, plutôt en deuxième priorité.",
    "Les retombées économiques sur le territoire ne font pas partie des motivations majeures "
    "mises en avant par les répondants.",
]
RIGHT_COLUMN = [
    "Les obstacles au développement de l'usage des données sont assez similaires à ceux "
    "observés l'an dernier. Le manque de temps est cité en premier par les agents.",
    "Le manque de compétences internes arrive en deuxième position, devant le coût des outils "
    "et la difficulté à mobiliser les élus sur ces sujets.",
    "Les métropoles et les régions restent les plus avancées, mais toutes les strates de "
    "collectivités s'intéressent activement à la gouvernance des données.",
]
CALLOUT_BESIDE = ("59 %", "des collectivités de plus de 3 500 habitants ont testé le pilotage par la donnée.")
CALLOUT_BELOW = ("17 %", "des collectivités ont déjà été victimes d'une cyberattaque.")
QUOTE = "« Nous avons ouvert nos données pour que les habitants s'en emparent et proposent leurs propres services. »"
ATTRIBUTION = "— Jeanne Martin, maire de Villeneuve-sur-Donnée"
SECOND_PAGE = [
    "La cybersécurité reste le premier sujet d'inquiétude des directeurs des systèmes d'information. "
    "Les collectivités mutualisent de plus en plus leurs moyens de réponse aux incidents.",
    "Les centres régionaux de réponse aux incidents accompagnent les plus petites communes, "
    "qui ne disposent souvent d'aucun agent dédié à la sécurité informatique.",
]


@dataclass
class NotePdf:
    path: Path
    left: list[str]
    right: list[str]


def _fonts() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def make_note_pdf(path: Path) -> NotePdf:
    from fpdf import FPDF

    class Note(FPDF):
        def header(self) -> None:  # running header on every page
            self.set_font("DejaVu", "", 8)
            self.set_xy(15, 8)
            self.cell(0, 5, HEADER)

        def footer(self) -> None:  # numbered footer
            self.set_font("DejaVu", "", 8)
            self.set_xy(15, -12)
            self.cell(0, 5, f"Page {self.page_no()}", align="C")

    fonts = _fonts()
    pdf = Note(format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", os.fspath(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", os.fspath(fonts / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVu", "I", os.fspath(fonts / "DejaVuSans-Oblique.ttf"))
    pdf.set_title(TITLE)

    pdf.add_page()
    pdf.set_font("DejaVu", "B", 20)
    pdf.set_xy(15, 22)
    pdf.multi_cell(180, 10, TITLE)

    # two columns of running text
    pdf.set_font("DejaVu", "", 10)
    for x, paragraphs in ((15, LEFT_COLUMN), (110, RIGHT_COLUMN)):
        y = 45.0
        for paragraph in paragraphs:
            pdf.set_xy(x, y)
            pdf.multi_cell(85, 5, paragraph, align="J")
            y = pdf.get_y() + 4

    # a key figure with its caption beside it
    pdf.set_font("DejaVu", "B", 40)
    pdf.set_xy(15, 120)
    pdf.cell(45, 18, CALLOUT_BESIDE[0])
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(62, 122)
    pdf.multi_cell(60, 5, CALLOUT_BESIDE[1])

    # a key figure with its caption below it
    pdf.set_font("DejaVu", "B", 40)
    pdf.set_xy(130, 120)
    pdf.cell(45, 18, CALLOUT_BELOW[0])
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(130, 140)
    pdf.multi_cell(65, 5, CALLOUT_BELOW[1])

    # a testimony: pull quote in italics, then its attribution
    pdf.set_font("DejaVu", "I", 12)
    pdf.set_xy(25, 170)
    pdf.multi_cell(160, 7, QUOTE)
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(25, pdf.get_y() + 2)
    pdf.cell(160, 5, ATTRIBUTION)

    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.set_xy(15, 22)
    pdf.cell(0, 8, "Cybersécurité")
    pdf.set_font("DejaVu", "", 10)
    y = 35.0
    for paragraph in SECOND_PAGE:
        pdf.set_xy(15, y)
        pdf.multi_cell(180, 5, paragraph, align="J")
        y = pdf.get_y() + 4
    pdf.add_page()
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(15, 30)
    pdf.multi_cell(180, 5, "Une page de plus, pour que l'en-tête et le pied de page se répètent sur trois pages.")
    pdf.output(os.fspath(path))
    return NotePdf(path=path, left=LEFT_COLUMN, right=RIGHT_COLUMN)
