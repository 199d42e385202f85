"""Self-contained HTML reports: one ``report.html`` per run folder, opened from ``file://``.

Takes plain data (a page dict, built by each stage's layer from its run folder) and writes
one HTML file with the data embedded as JSON and the page's script and style inlined: no
server, no network, no CDN. Reads an existing report's embedded data back
(:func:`read_page`) to put several runs on one comparison page. Imports nothing from imhi
but :mod:`imhi.io`.

A page: ``{"title", "kind", "subtitle", "sections": [{"title", "blocks": [block, …]}]}``; a
block is one of

- ``{"type": "text", "text"}``; ``{"type": "svg", "svg", "caption"}`` (a matplotlib figure);
  ``{"type": "img", "src", "caption"}`` (a PNG the run wrote, inlined as a data URI);
- ``{"type": "table", "columns", "rows", "marks"}``: a small table, ``marks`` a list of
  ``[row, column, css class]`` (``up``/``down``) to highlight cells;
- ``{"type": "rows", …}``: a large table made by :func:`rows_block` (searched, filtered,
  sorted and paged in the browser).
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template
from typing import Any

from imhi.io import write_text

HERE = Path(__file__).resolve().parent
DATA_ID = "imhi-data"
_DATA = re.compile(r'<script type="application/json" id="imhi-data">(.*?)</script>', re.S)
Block = dict[str, Any]


def text(value: str) -> Block:
    """A paragraph."""
    return {"type": "text", "text": value}


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], marks: Sequence[Sequence[Any]] = ()) -> Block:
    """A small static table; ``marks``: ``[row, column, "up"|"down"]`` cells to highlight."""
    return {"type": "table", "columns": list(columns), "rows": [list(r) for r in rows],
            "marks": [list(m) for m in marks]}


def svg(fig: Any, caption: str = "") -> Block:
    """A matplotlib figure as an inline SVG block (the figure is closed)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    body = buf.getvalue()
    return {"type": "svg", "svg": body[body.index("<svg"):], "caption": caption}


def image(path: Path, caption: str = "") -> Block:
    """A PNG file inlined as a data URI (so the page stays one file)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return {"type": "img", "src": f"data:image/png;base64,{data}", "caption": caption}


def from_markdown(md: str, folder: Path) -> list[dict[str, Any]]:
    """Sections from a Markdown report: ``#``/``##``/``###`` headings start sections, pipe tables
    become tables, ``![alt](file.png)`` images are inlined (from ``folder``), the rest paragraphs."""
    blocks: list[Block] = []
    sections: list[dict[str, Any]] = [{"title": "Report", "blocks": blocks}]
    table_lines: list[str] = []

    def flush_table() -> None:
        if table_lines:
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table_lines]
            body = [r for r in cells[1:] if not all(set(c) <= set(":- ") for c in r)]
            blocks.append(table(cells[0], body))
            table_lines.clear()

    for line in md.splitlines():
        if line.lstrip().startswith("|"):
            table_lines.append(line)
            continue
        flush_table()
        if line.startswith("#"):
            blocks = []
            sections.append({"title": line.lstrip("#").strip(), "blocks": blocks})
        elif (img := re.fullmatch(r"!\[(.*?)\]\((.+?)\)", line.strip())) and (folder / img.group(2)).is_file():
            blocks.append(image(folder / img.group(2), img.group(1)))
        elif line.strip():
            blocks.append(text(line.strip()))
    flush_table()
    return [sec for sec in sections if sec["blocks"]]


def rows_block(name: str, columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]],
               details: Sequence[dict[str, Any] | None] | None = None, shared: Sequence[str] = (),
               fill: str = "") -> Block:
    """A searchable, filterable, sortable, paged table of ``rows`` (dicts).

    ``columns``: ``(name, kind)`` with kind ``cat`` (a filter menu; stored as codes into a
    list of its values), ``text`` (searched, clamped in the cell, in full when the row opens),
    ``id`` (searched, shown as it is) or ``num``. ``details``: per row
    what opens below it (field → text, list of dicts or ``{"refs": [i, …]}``: the ``shared``
    strings joined, ``{post}`` replaced by the row's ``fill`` column)."""
    cols: list[dict[str, Any]] = []
    for col, kind in columns:
        values = [r.get(col) for r in rows]
        if kind == "cat":
            names = sorted({_cat(v) for v in values})
            index = {v: i for i, v in enumerate(names)}
            cols.append({"name": col, "kind": kind, "values": names, "data": [index[_cat(v)] for v in values]})
        else:
            cols.append({"name": col, "kind": kind, "data": values})
    block: Block = {"type": "rows", "id": name, "n": len(rows), "columns": cols, "shared": list(shared),
                    "fill": fill}
    if details is not None:
        block["details"] = list(details)
    return block


def _cat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def render(page: dict[str, Any]) -> str:
    """The page as one HTML document (data, script and style inline)."""
    data = json.dumps(page, ensure_ascii=False, separators=(",", ":"), default=str)
    data = data.replace("</", "<\\/")  # no "</script>" inside the data block
    shell = Template((HERE / "page.html").read_text(encoding="utf-8"))
    return shell.substitute(title=_escape(page.get("title", "imhi report")), data=data,
                            style=(HERE / "page.css").read_text(encoding="utf-8"),
                            script=(HERE / "page.js").read_text(encoding="utf-8"))


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_page(path: str | Path, page: dict[str, Any]) -> Path:
    """Write ``page`` to ``path`` (atomically); return the path."""
    path = Path(path)
    write_text(path, render(page))
    return path


def read_page(path: str | Path) -> dict[str, Any]:
    """The data embedded in a report written by :func:`write_page` (ValueError when there is none)."""
    found = _DATA.search(Path(path).read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f"{path}: not an imhi report (no embedded data)")
    return json.loads(found.group(1).replace("<\\/", "</"))


def comparison(pages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One page holding several runs' pages (name → page), each run's sections in turn, after a
    table of the runs and, where runs share it, a table of their headline figures."""
    runs = table(["run", "kind", "report"], [[n, p.get("kind", ""), p.get("title", "")] for n, p in pages.items()])
    sections: list[dict[str, Any]] = [{"title": "Runs", "blocks": [runs, *_headlines(pages)]}]
    for name, page in pages.items():
        for sec in page.get("sections", []):
            blocks = [_renamed(b, name) for b in sec.get("blocks", [])]
            sections.append({"title": f"{name}: {sec.get('title', '')}", "blocks": blocks})
    return {"title": "imhi: " + ", ".join(pages), "kind": "comparison",
            "subtitle": f"{len(pages)} runs side by side", "sections": sections}


def _renamed(block: Block, prefix: str) -> Block:
    return {**block, "id": f"{prefix}/{block['id']}"} if block.get("type") == "rows" else block


def _headlines(pages: dict[str, dict[str, Any]]) -> list[Block]:
    """Runs' ``headline`` dicts (metric → value) side by side, when any run has one."""
    heads = {n: p.get("headline") or {} for n, p in pages.items()}
    keys = sorted({k for h in heads.values() for k in h})
    if not keys:
        return []
    return [text("Headline figures of each run (– where a run has none):"),
            table(["figure", *heads], [[k, *(h.get(k, "–") for h in heads.values())] for k in keys])]


Opener = Callable[[str], bool]


def view(runs: Sequence[str | Path], out: Path | None, opener: Opener | None) -> tuple[Path, bool]:
    """The report of one run folder, or a comparison page of several written to ``out`` (default:
    ``runs/compare/report.html``); opened with ``opener`` (e.g. ``webbrowser.open``) when given.
    Returns the page's path and whether it was opened. A folder without a report: ValueError."""
    reports = [_report_of(Path(r)) for r in runs]
    if len(reports) == 1:
        path = reports[0]
    else:
        names = _unique_names(reports)
        path = write_page(out or Path("runs/compare/report.html"),
                          comparison({n: read_page(p) for n, p in zip(names, reports, strict=True)}))
    opened = bool(opener and opener(path.resolve().as_uri()))
    return path, opened


def _report_of(run: Path) -> Path:
    path = run if run.suffix == ".html" else run / "report.html"
    if not path.is_file():
        raise FileNotFoundError(f"no report.html in {run} (run the step again to write one)")
    return path


def _unique_names(reports: list[Path]) -> list[str]:
    """Each report's run folder name, with parents added until the names differ."""
    for depth in range(1, 9):
        names = ["/".join(p.resolve().parent.parts[-depth:]) for p in reports]
        if len(set(names)) == len(names):
            return names
    return [f"{n} ({i})" for i, n in enumerate(names, start=1)]
