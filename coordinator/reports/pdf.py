"""The report as PDF (fpdf2): the page's words, tables and charts.

It draws the same Table objects as the HTML page (tables.py), so its numbers are
the page's. Text needs a Unicode font (names are not all Latin-1): DejaVu Sans,
which matplotlib ships in its own package data, so no system font is needed; if
it were missing, the PDF falls back to the core Helvetica with unencodable
characters replaced by "?".

Long tables (a city drill's timeline holds thousands of answers) are drawn with
plain cells and our own word wrap: fpdf2's table() costs about 1 ms a row, this
a tenth of that.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import matplotlib
from fpdf import FPDF

from coordinator.reports import charts as report_charts
from coordinator.reports import formatting as fmt
from coordinator.reports.figures import Figures
from coordinator.reports.tables import (
    DEFINITIONS,
    Table,
    figures_tables,
    never_answered,
    summary_items,
    timeline,
)

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
SIZE = 7.5  # table text, pt
MIN_SIZE = 5.5  # a wide table's text is made smaller, down to this
LINE = 3.6  # mm per line of table text
PAD = 0.8  # mm of cell margin
AUTO_UP_TO = 300  # rows: longer tables keep their declared column proportions
BASELINE = 2.7  # mm from a line's top to its text's baseline


class _Doc(FPDF):
    def __init__(self, title: str, built_at: datetime | None) -> None:
        super().__init__(format="A4")
        self.report_title = title
        self.unicode = _add_fonts(self)
        self.family = FONT if self.unicode else "Helvetica"
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, 14)
        self.set_title(title)
        self.set_creator("Tocsin")
        if built_at is not None:  # the figures' time: the same figures make the same file
            self.set_creation_date(built_at)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(self.family, "", 7)
        self.set_text_color(100)
        self.cell(0, 4, self.safe(f"{self.report_title} · page {self.page_no()}/{{nb}}"),
                  align="C")  # fmt: skip
        self.set_text_color(0)

    def safe(self, value: str) -> str:
        """The text as the font can draw it."""
        if self.unicode:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")


def _add_fonts(pdf: FPDF) -> bool:
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if not (regular.exists() and bold.exists()):
        return False
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(bold))
    return True


def render(figures: Figures) -> bytes:
    i = figures.incident
    doc = _Doc(f"After-action report: {i.title}", fmt.parse(figures.built_at))
    doc.add_page()
    _heading(doc, doc.report_title, 15)
    if figures.draft:
        _paragraph(doc, "Draft: the incident is still open, figures will change.", bold=True)
    _key_values(doc, summary_items(figures))
    tables = figures_tables(figures)
    _heading(doc, "Definitions", 11)
    _key_values(doc, list(DEFINITIONS), key_width=34)
    for key in ("alerts", "agency-delivery", "agency-answers", "channel-delivery",
                "channel-answers"):  # fmt: skip
        _table(doc, tables[key])
    _heading(doc, "Charts", 11)
    for chart in report_charts.charts(figures):
        _chart(doc, chart)
    for key in ("tta-bins", "answered-by", "escalations", "quorums", "failures"):
        _table(doc, tables[key])
    _heading(doc, f"Never answered ({len(figures.never_answered)})", 11)
    if not figures.never_answered:
        _paragraph(doc, "Everyone notified answered.")
    for table in never_answered(figures):
        _table(doc, table)
    _heading(doc, "Timeline", 11)
    for section in timeline(figures):
        _table(doc, section.table)
    return bytes(doc.output())


def _heading(doc: _Doc, text: str, size: float) -> None:
    if doc.get_y() > doc.h - 40:
        doc.add_page()
    doc.ln(2)
    doc.set_font(doc.family, "B", size)
    doc.multi_cell(0, size * 0.5, doc.safe(text), new_x="LMARGIN", new_y="NEXT")
    doc.ln(1)


def _paragraph(doc: _Doc, text: str, bold: bool = False) -> None:
    doc.set_font(doc.family, "B" if bold else "", 9)
    doc.multi_cell(0, 4.4, doc.safe(text), align="L", new_x="LMARGIN", new_y="NEXT")
    doc.ln(1)


def _key_values(doc: _Doc, items: list[tuple[str, str]], key_width: float = 46) -> None:
    for key, value in items:
        doc.set_font(doc.family, "B", 8.5)
        y = doc.get_y()
        doc.multi_cell(key_width, 4.2, doc.safe(key), align="L", new_x="RIGHT", new_y="TOP")
        doc.set_font(doc.family, "", 8.5)
        doc.multi_cell(0, 4.2, doc.safe(value), align="L", new_x="LMARGIN", new_y="NEXT")
        doc.set_y(max(doc.get_y(), y + 4.2))


def _chart(doc: _Doc, chart: report_charts.Chart) -> None:
    png = chart.png(dpi=110)
    width = doc.epw
    height = width * chart.size[1] / chart.size[0] * 1.12  # labels under the axes
    if doc.get_y() + height + 20 > doc.page_break_trigger:
        doc.add_page()
    doc.set_font(doc.family, "B", 9)
    doc.cell(0, 5, doc.safe(chart.title), new_x="LMARGIN", new_y="NEXT")
    doc.image(io.BytesIO(png), w=width)
    _paragraph(doc, chart.description)


def _table(doc: _Doc, table: Table) -> None:
    _heading(doc, table.caption, 9.5)
    widths, size = _layout(doc, table)
    draw = _Rows(doc, table, widths, size)
    draw.row(table.headings, header=True)
    for row in table.rows or [["None."] + [""] * (len(table.headings) - 1)]:
        draw.row(row)
    if table.foot:
        draw.row(table.foot, header=True)
    doc.ln(2)


def _layout(doc: _Doc, table: Table) -> tuple[list[float], float]:
    """Column widths (mm) and font size (pt) as a browser would choose them: each
    column gets at least its longest word (numbers never wrap) and shares what is
    left by how much more its cells would like; a table too wide even so gets a
    smaller font. A long table (a timeline) keeps its declared proportions."""
    if len(table.rows) > AUTO_UP_TO:
        weights = table.widths or [1.0] * len(table.headings)
        return [doc.epw * w / sum(weights) for w in weights], SIZE
    last = len(table.rows) + 1
    rows = [table.headings, *table.rows, *([table.foot] if table.foot else [])]
    need = [0.0] * len(table.headings)
    want = [0.0] * len(table.headings)
    for n, row in enumerate(rows):
        doc.set_font(doc.family, "B" if n in (0, last) else "", SIZE)
        for c, cell in enumerate(row):
            text = doc.safe(cell)
            whole = _width(doc, text) + 2 * PAD
            words = [_width(doc, w) for w in text.split(" ")]
            longest = whole if table.is_numeric(c) and n else max(words) + 2 * PAD
            need[c] = max(need[c], longest)
            want[c] = max(want[c], whole)
    room = doc.epw - sum(need)
    if room < 0:  # a smaller font, so that every column's longest word fits (margins stay)
        margins = 2 * PAD * len(need)
        factor = max(MIN_SIZE / SIZE, (doc.epw - margins) / (sum(need) - margins))
        widths = [(n - 2 * PAD) * factor + 2 * PAD for n in need]
        return [w * doc.epw / sum(widths) for w in widths], SIZE * factor
    extra = [w - n for w, n in zip(want, need, strict=True)]
    share = min(1.0, room / sum(extra)) if sum(extra) else 0.0
    widths = [n + e * share for n, e in zip(need, extra, strict=True)]
    return [w * doc.epw / sum(widths) for w in widths], SIZE  # full width, as on the page


class _Rows:
    """Draws one table's rows, its headings again on every new page."""

    def __init__(self, doc: _Doc, table: Table, widths: list[float], size: float) -> None:
        self.doc, self.table, self.widths, self.size = doc, table, widths, size
        self.line = LINE * size / SIZE

    def row(self, cells: list[str], header: bool = False) -> None:
        doc, widths = self.doc, self.widths
        doc.set_font(doc.family, "B" if header else "", self.size)
        lines = [_wrap(doc, doc.safe(c), w - 2 * PAD) for c, w in zip(cells, widths, strict=True)]
        height = max(len(x) for x in lines) * self.line + 0.6
        if doc.get_y() + height > doc.page_break_trigger:
            doc.add_page()
            if not header:
                self.row(self.table.headings, header=True)  # headings on every page
                doc.set_font(doc.family, "", self.size)
        x, y = doc.l_margin, doc.get_y()
        if header:
            doc.set_fill_color(229, 231, 235)
            doc.rect(x, y, doc.epw, height, style="F")
        baseline = y + 0.3 + self.line * BASELINE / LINE
        for column, (cell_lines, width) in enumerate(zip(lines, widths, strict=True)):
            right = self.table.is_numeric(column)
            for n, text in enumerate(cell_lines):
                if text:
                    left = x + width - PAD - _width(doc, text) if right else x + PAD
                    # text() draws at a baseline, a quarter of cell()'s cost: thousands of rows
                    doc.text(left, baseline + n * self.line, text)
            x += width
        doc.set_draw_color(229, 231, 235)
        doc.line(doc.l_margin, y + height, doc.l_margin + doc.epw, y + height)
        doc.set_xy(doc.l_margin, y + height)


def _width(doc: _Doc, text: str) -> float:
    """The text's width in mm: the font's advance widths summed (what fpdf2's
    get_string_width does for plain text, without its five times the cost)."""
    if not doc.unicode:
        return doc.get_string_width(text)
    widths = doc.current_font.cw
    return sum(widths[ord(c)] for c in text) * doc.font_size_pt * 0.001 / doc.k


def _wrap(doc: _Doc, text: str, width: float) -> list[str]:
    """Greedy word wrap by the font's widths (each word measured once); a word wider
    than the cell is cut."""
    if not text or _width(doc, text) <= width:
        return [text]
    space = _width(doc, " ")
    lines: list[str] = []
    current, used = "", 0.0
    for word in text.split(" "):
        size = _width(doc, word)
        while size > width and len(word) > 1:
            if current:
                lines.append(current)
                current, used = "", 0.0
            cut = max(1, int(len(word) * width / size))
            while cut > 1 and _width(doc, word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
            size = _width(doc, word)
        if current and used + space + size > width:
            lines.append(current)
            current, used = word, size
        elif current:
            current, used = f"{current} {word}", used + space + size
        else:
            current, used = word, size
    if current:
        lines.append(current)
    return lines
