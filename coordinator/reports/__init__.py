"""After-action reports: the figures are computed once, every rendering reads them.

    figures.py      the Figures object (dataclasses, to_json / from_json) and its statistics
    compute.py      Figures from the database (one streamed SELECT per table)
    tally.py        what each agency and channel accumulates on the way
    summary.py      the small per-agency figures stored beside a report
    timeline.py     the audit log and the answers as timeline events
    store.py        stored reports: the hub loop that builds them as incidents close, drafts
    formatting.py   how a duration, a rate or a time is written (HTML and PDF alike)
    tables.py       the report's tables as cells of text, drawn by the page and the PDF
    charts.py       matplotlib charts (SVG for the page, PNG for the PDF) with text alternatives
    pdf.py          the PDF (fpdf2)
    csv_export.py   the raw rows as CSV, cells neutralised against spreadsheet formulas
    html.py         the HTML page, in the console or as one standalone file
    compare.py      an agency's last drills side by side
    public.py       opted-in agencies' anonymised drill figures per month

HTML, PDF and CSV all read one Figures object, including the CSV's rows, so they
cannot disagree: a closed incident's report is the stored snapshot, even if a late
delivery receipt arrives afterwards.
"""
