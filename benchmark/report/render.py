"""The report in each output format: terminal tables, Markdown, one HTML file, CSV files.

Every format shows the same tables with the same notes (``formatting``); the file formats
also get the figures (``figures``), written as PNG files next to the report so that
``report.html`` or ``report.md`` and its folder can be copied anywhere as they are. CSV
keeps raw numbers, one file per table, for a paper's own plotting.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchmark.files import write_atomically
from benchmark.report.formatting import display_frame, display_notes
from benchmark.report.sources import ReportData
from benchmark.report.tables import Report, ReportTable

if TYPE_CHECKING:  # matplotlib is imported only when figures are drawn
    from benchmark.report.figures import FigureFile

FORMATS = ("table", "markdown", "html", "csv")
_SECTIONS = ("pareto", "learning curves", "confusion matrices")
# Columns kept on one line in the terminal (names, accuracy); the others wrap instead.
_NAMES = {"sweep", "cell", "trial", "best trial", "A", "B", "test accuracy"}


def write_report(report: Report, data: ReportData, fmt: str, out_dir: Path) -> list[Path]:
    """Write ``report`` as ``fmt`` into ``out_dir``; return the files written.

    ``table`` and ``markdown`` write their figures (and ``report.md``); ``html`` writes
    ``report.html`` and its figures; ``csv`` one file per table (``notes.txt`` beside them
    when the tables carry notes, which a CSV cannot).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return write_csv(report, out_dir)
    from benchmark.report.figures import write_figures

    figures = write_figures(report, data, out_dir)
    files = [out_dir / figure.filename for figure in figures]
    if fmt == "markdown":
        files.insert(0, _write(out_dir / "report.md", markdown_report(report, figures)))
    elif fmt == "html":
        files.insert(0, _write(out_dir / "report.html", html_report(report, figures)))
    return files


def print_tables(report: Report, console: Console) -> None:
    """Every table as a rich table, each followed by its notes."""
    console.print(f"[bold]{report.title}[/]", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    for table in report.tables:
        shown = display_frame(table, compact=True)
        rich_table = Table(title=table.title, title_justify="left")
        for header in shown.columns:
            rich_table.add_column(str(header), overflow="fold", no_wrap=header in _NAMES)
        for row in shown.itertuples(index=False):
            rich_table.add_row(*(str(value) for value in row))
        if shown.empty:
            rich_table.add_row(*(["—"] * len(shown.columns)))
        console.print(rich_table)
        for note in display_notes(table):
            console.print(f"  {note}", style="dim", markup=False, highlight=False)


def markdown_report(report: Report, figures: Sequence[FigureFile] = ()) -> str:
    """The report as Markdown: a section per table (notes as a list), then the figures."""
    lines = [f"# {report.title}", ""]
    lines += [f"> {note}" for note in report.notes] + ([""] if report.notes else [])
    for table in report.tables:
        lines += [f"## {table.title}", "", *_markdown_table(table), ""]
        lines += [f"- {note}" for note in display_notes(table)] + [""]
    for section in _SECTIONS:
        chosen = [figure for figure in figures if figure.section == section]
        if chosen:
            lines += [f"## Figures: {section}", ""]
            lines += [f"![{figure.caption}]({figure.filename})\n" for figure in chosen]
    return "\n".join(lines).rstrip() + "\n"


def html_report(report: Report, figures: Sequence[FigureFile] = ()) -> str:
    """One self-contained HTML page (inline style); images are the PNGs beside it."""
    body = [f"<h1>{html.escape(report.title)}</h1>"]
    body += [f'<p class="note">{html.escape(note)}</p>' for note in report.notes]
    for table in report.tables:
        body += [f"<h2>{html.escape(table.title)}</h2>", _html_table(table), "<ul>"]
        body += [f"<li>{html.escape(note)}</li>" for note in display_notes(table)]
        body.append("</ul>")
    for section in _SECTIONS:
        chosen = [figure for figure in figures if figure.section == section]
        if chosen:
            body.append(f"<h2>Figures: {html.escape(section)}</h2>")
            body += [
                f'<figure><img src="{html.escape(figure.filename)}" '
                f'alt="{html.escape(figure.caption)}"><figcaption>'
                f"{html.escape(figure.caption)}</figcaption></figure>"
                for figure in chosen
            ]
    return _HTML_PAGE.format(title=html.escape(report.title), body="\n".join(body))


def write_csv(report: Report, out_dir: Path) -> list[Path]:
    """``pareto.csv``, ``pairs.csv``, ``overfitting.csv`` with raw numbers (and notes)."""
    files = []
    for table in report.tables:
        files.append(_write(out_dir / f"{table.name}.csv", table.frame.to_csv(index=False)))
    notes = report.notes + [f"{t.name}: {note}" for t in report.tables for note in t.notes]
    if notes:
        files.append(_write(out_dir / "notes.txt", "\n".join(notes) + "\n"))
    return files


def _markdown_table(table: ReportTable) -> list[str]:
    shown = display_frame(table)
    if shown.empty:
        return ["(no rows)"]

    def line(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    return [
        line(shown.columns),
        line(["---"] * len(shown.columns)),
        *(line(row) for row in shown.itertuples(index=False)),
    ]


def _html_table(table: ReportTable) -> str:
    shown = display_frame(table)
    if shown.empty:
        return "<p>(no rows)</p>"
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in shown.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _write(path: Path, text: str) -> Path:
    write_atomically(path, text)
    return path


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
td:first-child, th:first-child {{ text-align: left; }}
p.note {{ color: #8a5a00; }}
figure {{ display: inline-block; margin: 1em; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
