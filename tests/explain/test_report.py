"""The HTML report: one self-contained, escaped file with attributes, metrics and samples."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser

import pytest
import torch
from PIL import Image

from stylex.errors import DataError
from stylex.explain.evaluation.report import render_metrics_table, write_report
from stylex.explain.vocabulary.attributes import Attribute, StyleStats
from stylex.explain.vocabulary.catalog import AttributeCatalog

EVIL = "<b>x</b>"


class _Collector(HTMLParser):
    """Collects img sources, link targets, script tags and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.img_src: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.img_src.append(a.get("src", ""))
        if tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        if tag == "script":
            self.scripts += 1
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Collector:
    p = _Collector()
    p.feed(text)
    p.close()
    return p


def _catalog() -> AttributeCatalog:
    a0 = Attribute(3, 1, "b8.conv1", 3, mean_effect=0.75, flip_rate=0.5)
    a1 = Attribute(20, 0, "b16.conv0", 4, mean_effect=0.25, flip_rate=0.125)
    stats = StyleStats.from_styles(torch.zeros(2, 32))
    return AttributeCatalog(
        class_names=["plain", EVIL],
        classes={"plain": [a0.reversed(), a1.reversed()], EVIL: [a0, a1]},
        stats=stats,
        settings={"num_attributes": 2, "shift": 1.0},
    )


def _metrics() -> dict:
    return {
        "flip_rate": {
            "attfind": {1: 0.3, 5: 0.59},
            "wu": {1: 0.1, 5: 0.26},
            "random": {1: 0.0, 5: 0.02},
        },
        "fidelity": {"l1": 0.123456, "argmax_match": 0.97},
        "alignment": {"by_layer": {"b8": 1, "b16": 2}, "note": "a < b"},
    }


def _write(tmp_path, samples=None, metrics=None):
    catalog = _catalog()
    grid = Image.new("RGB", (20, 10), (200, 0, 0))
    grids = {EVIL: [(catalog.classes[EVIL][0], grid), (catalog.classes[EVIL][1], grid)]}
    samples = samples if samples is not None else [Image.new("RGB", (8, 8), (0, 0, 255))] * 2
    return write_report(
        tmp_path / "report.html",
        catalog=catalog,
        grids=grids,
        metrics=metrics if metrics is not None else _metrics(),
        samples=samples,
        title=f"Run {EVIL}",
        run_info={"resolution": 16, "classes": ["plain", EVIL], "steps": 1000},
    )


def test_report_is_one_self_contained_file(tmp_path):
    path = _write(tmp_path)
    assert path == tmp_path / "report.html"
    assert list(tmp_path.iterdir()) == [path]  # written atomically, nothing left beside it
    text = path.read_text(encoding="utf-8")
    parsed = _parse(text)
    assert len(parsed.img_src) == 2 + 2  # two grids, two samples
    assert all(src.startswith("data:image/png;base64,") for src in parsed.img_src)
    assert not any("http" in src for src in parsed.img_src)
    assert all(href.startswith("#") for href in parsed.links)
    assert parsed.scripts == 0
    assert "http" not in text.lower().replace("http-equiv", "")
    # An embedded image decodes back to what was given.
    data = base64.b64decode(parsed.img_src[0].split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (20, 10)


def test_report_escapes_every_text(tmp_path):
    text = _write(tmp_path).read_text(encoding="utf-8")
    assert EVIL not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "a &lt; b" in text
    assert "<title>Run &lt;b&gt;x&lt;/b&gt;</title>" in text


def test_report_lists_ranked_attributes_per_class(tmp_path):
    rows = _parse(_write(tmp_path).read_text(encoding="utf-8")).rows
    attribute_rows = [r for r in rows if len(r) == 9 and r[0] in ("1", "2")]
    # Two classes x two attributes: rank, layer, channel, index, direction, label, effect, flip.
    assert len(attribute_rows) == 4
    shown = [r[:8] for r in attribute_rows]
    assert shown[0] == ["1", "b8.conv1", "3", "3", "- (toward min)", "", "0", "0"]
    assert shown[2] == ["1", "b8.conv1", "3", "3", "+ (toward max)", "", "0.75", "0.5"]
    assert shown[3] == ["2", "b16.conv0", "4", "20", "- (toward min)", "", "0.25", "0.125"]
    assert ["resolution", "16"] in rows
    assert ["classes", f"plain, {EVIL}"] in rows  # parsed text is unescaped again


def test_report_renders_metrics_matrix(tmp_path):
    rows = _parse(_write(tmp_path).read_text(encoding="utf-8")).rows
    assert ["", "1", "5"] in rows
    assert ["attfind", "0.3", "0.59"] in rows
    assert ["wu", "0.1", "0.26"] in rows
    assert ["random", "0", "0.02"] in rows
    assert ["l1", "0.1235"] in rows


def test_render_metrics_table_shapes():
    flat = _parse(render_metrics_table({"a": 1, "b": 0.5})).rows
    assert flat == [["a", "1"], ["b", "0.5"]]
    matrix = _parse(render_metrics_table({"m": {"x": 1, "y": 2}, "n": {"x": 3, "y": 4}})).rows
    assert matrix == [["", "x", "y"], ["m", "1", "2"], ["n", "3", "4"]]
    # Different keys: not a matrix but a name/value table with nested tables.
    mixed = render_metrics_table({"m": {"x": 1}, "n": {"z": 3}})
    assert mixed.count("<table") == 3
    assert 'class="matrix"' not in mixed
    assert "&lt;" in render_metrics_table({"<k>": "<v>"})


def test_report_embeds_sample_files_and_skips_empty_sections(tmp_path):
    png = tmp_path / "s.png"
    Image.new("RGB", (4, 4)).save(png)
    gif = tmp_path / "s.gif"
    Image.new("RGB", (4, 4)).save(gif)
    out = tmp_path / "out"
    out.mkdir()
    text = _write(out, samples=[png, gif], metrics={}).read_text(encoding="utf-8")
    srcs = _parse(text).img_src
    assert sum(s.startswith("data:image/gif;base64,") for s in srcs) == 1
    assert 'id="metrics"' not in text


def test_report_names_a_missing_sample_file(tmp_path):
    with pytest.raises(DataError, match=r"missing\.png"):
        _write(tmp_path, samples=[tmp_path / "missing.png"])
    assert not (tmp_path / "report.html").exists()
