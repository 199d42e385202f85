"""imhi.html without a browser: the page's data round-trips, rows are stored compactly, a
Markdown report becomes sections, ``view`` opens one report or writes a comparison page."""

from __future__ import annotations

from pathlib import Path

import pytest

from imhi import html


def page_with(text: str) -> dict:
    rows = [{"task": "dr", "post": text, "n": 1}, {"task": "sad", "post": "fine", "n": None}]
    block = html.rows_block("r", [("task", "cat"), ("post", "text"), ("n", "num")], rows)
    return {"title": "t <b>", "kind": "build", "headline": {"kept": 2},
            "sections": [{"title": "s", "blocks": [block]}]}


def test_data_round_trips_and_cannot_close_its_script(tmp_path: Path) -> None:
    page = page_with("a post that says </script><script>alert(1)</script> and ends")
    path = html.write_page(tmp_path / "report.html", page)
    body = path.read_text(encoding="utf-8")
    assert body.count("</script>") == 2  # the data block's and the page script's own
    assert "<title>t &lt;b&gt;</title>" in body
    assert "<script src" not in body and 'rel="stylesheet"' not in body  # nothing fetched
    assert html.read_page(path) == page


def test_categorical_columns_are_codes_into_their_values() -> None:
    cols = page_with("x")["sections"][0]["blocks"][0]["columns"]
    assert cols[0] == {"name": "task", "kind": "cat", "values": ["dr", "sad"], "data": [0, 1]}
    assert cols[2]["data"] == [1, None]


def test_markdown_becomes_sections_tables_and_inline_images(tmp_path: Path) -> None:
    (tmp_path / "f.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 20)
    md = "intro line\n\n# Title\n\n| a | b |\n| --- | ---: |\n| 1 | 2 |\n\n![plot](f.png)\n![gone](missing.png)\n"
    sections = html.from_markdown(md, tmp_path)
    assert [s["title"] for s in sections] == ["Report", "Title"]
    blocks = sections[1]["blocks"]
    assert blocks[0] == html.table(["a", "b"], [["1", "2"]])
    assert blocks[1]["type"] == "img" and blocks[1]["src"].startswith("data:image/png;base64,")
    assert blocks[2] == html.text("![gone](missing.png)")


def test_view_one_report_or_a_comparison(tmp_path: Path) -> None:
    for name in ("a", "b"):
        html.write_page(tmp_path / "x" / name / "report.html", page_with(name))
    opened: list[str] = []
    path, was_opened = html.view([tmp_path / "x" / "a"], None, lambda url: opened.append(url) or True)
    assert path == tmp_path / "x" / "a" / "report.html" and was_opened and opened[0].startswith("file://")
    path, was_opened = html.view([tmp_path / "x" / "a", tmp_path / "x" / "b"], tmp_path / "c.html", None)
    page = html.read_page(path)
    assert not was_opened and page["kind"] == "comparison"
    assert [s["title"] for s in page["sections"]] == ["Runs", "a: s", "b: s"]
    assert [b["id"] for s in page["sections"][1:] for b in s["blocks"]] == ["a/r", "b/r"]
    with pytest.raises(FileNotFoundError, match="no report.html"):
        html.view([tmp_path / "nothing"], None, None)
