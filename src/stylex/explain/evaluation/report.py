"""One self-contained HTML report of a run: run info, ranked attributes with their grids,
metrics and samples.

Everything is in the one file (images as base64 data URIs, inline CSS, no scripts, no external
links), so it opens from disk, travels as an e-mail attachment and survives the run directory
being moved. Every piece of text is HTML-escaped: class names and labels come from users.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from stylex.errors import DataError
from stylex.explain.vocabulary.attributes import TOWARD_MAX, Attribute
from stylex.explain.vocabulary.catalog import AttributeCatalog
from stylex.fileio import write_bytes

_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { image-rendering: pixelated; max-width: 100%; }
.samples img { margin: 0.25em; }
nav a { margin-right: 1em; }
"""


# --- values and images --------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _format_value(value: Any) -> str:
    """Plain text of a scalar or a short list (not escaped)."""
    if value is None:
        return "-"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # 0-d tensors and numpy scalars
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return str(value) if math.isnan(value) or math.isinf(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _cell(value: Any, tag: str = "td") -> str:
    if isinstance(value, Mapping):
        return f"<{tag}>{render_metrics_table(value)}</{tag}>"
    css = ' class="num"' if _is_number(value) else ""
    return f"<{tag}{css}>{_esc(_format_value(value))}</{tag}>"


def _data_uri(image: Image.Image | str | os.PathLike[str]) -> str:
    """A data: URI of a Pillow image (PNG; GIF if animated) or of an image file's bytes."""
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        if getattr(image, "is_animated", False):
            image.save(buf, format="GIF", save_all=True)
            mime = "image/gif"
        else:
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1"):
                image = image.convert("RGB")
            image.save(buf, format="PNG")
            mime = "image/png"
        data = buf.getvalue()
    else:
        path = Path(image)
        mime = _MIME_BY_SUFFIX.get(path.suffix.lower(), "")
        try:
            if mime:
                data = path.read_bytes()
            else:
                with Image.open(path) as im:
                    return _data_uri(im.convert("RGB"))
        except OSError as e:
            raise DataError(
                f"cannot embed image {os.fspath(path)!r} in the report ({e}); "
                "expected a readable image file"
            ) from e
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(image: Image.Image | str | os.PathLike[str], alt: str) -> str:
    return f'<img src="{_data_uri(image)}" alt="{_esc(alt)}">'


# --- tables -----------------------------------------------------------------------------------


def _is_matrix(metrics: Mapping[Any, Any]) -> bool:
    """A dict of flat dicts that all share the same keys."""
    rows = list(metrics.values())
    if not rows or not all(isinstance(r, Mapping) and r for r in rows):
        return False
    keys = list(rows[0].keys())
    return all(
        list(r.keys()) == keys and not any(isinstance(v, Mapping) for v in r.values()) for r in rows
    )


def render_metrics_table(metrics: Mapping[Any, Any]) -> str:
    """HTML table of a metrics dict, whatever its nesting.

    A dict of flat dicts that share the same keys becomes a matrix (rows = outer keys, columns =
    inner keys, e.g. method x k); any other dict a two-column name/value table whose nested
    dicts are rendered by these same rules inside their cells. All text is escaped.
    """
    if _is_matrix(metrics):
        columns = list(next(iter(metrics.values())).keys())
        head = "<tr><th></th>" + "".join(f"<th>{_esc(c)}</th>" for c in columns) + "</tr>"
        body = "".join(
            f"<tr><th>{_esc(name)}</th>" + "".join(_cell(row[c]) for c in columns) + "</tr>"
            for name, row in metrics.items()
        )
        return f'<table class="matrix">{head}{body}</table>'
    body = "".join(f"<tr><th>{_esc(k)}</th>{_cell(v)}</tr>" for k, v in metrics.items())
    return f'<table class="kv">{body}</table>'


def _direction_text(attribute: Attribute) -> str:
    return "+ (toward max)" if attribute.direction == TOWARD_MAX else "- (toward min)"


def _attribute_table(
    attributes: list[Attribute], images: dict[tuple[int, int], Image.Image], class_name: str
) -> str:
    head = (
        "<tr><th>rank</th><th>layer</th><th>channel</th><th>index</th><th>direction</th>"
        "<th>label</th><th>mean effect</th><th>flip rate</th><th>examples</th></tr>"
    )
    rows = []
    for rank, attr in enumerate(attributes, start=1):
        image = images.get(attr.key)
        shown = (
            _img(image, f"{class_name}: attribute {rank} ({attr.layer} ch {attr.channel})")
            if image is not None
            else ""
        )
        rows.append(
            "<tr>"
            + _cell(rank)
            + _cell(attr.layer or "-")
            + _cell(attr.channel)
            + _cell(attr.index)
            + _cell(_direction_text(attr))
            + _cell(attr.label or "")
            + _cell(attr.mean_effect)
            + _cell(attr.flip_rate)
            + f"<td>{shown}</td></tr>"
        )
    return f'<table class="attributes">{head}{"".join(rows)}</table>'


# --- the page ---------------------------------------------------------------------------------


def render_report(
    *,
    catalog: AttributeCatalog,
    grids: Mapping[str, Sequence[tuple[Attribute, Image.Image]]],
    metrics: Mapping[str, Any] | None,
    samples: Sequence[Image.Image | str | os.PathLike[str]],
    title: str,
    run_info: Mapping[str, Any],
) -> str:
    """The report as one HTML string; see `write_report`."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    sections = [(f"class-{i}", f"Class {name}") for i, name in enumerate(catalog.class_names)]
    if metrics:
        sections.append(("metrics", "Metrics"))
    if samples:
        sections.append(("samples", "Samples"))
    parts.append(
        "<nav>" + "".join(f'<a href="#{a}">{_esc(text)}</a>' for a, text in sections) + "</nav>"
    )

    parts.append("<h2>Run</h2>")
    parts.append(render_metrics_table(run_info) if run_info else "<p>No run information.</p>")
    if catalog.settings:
        parts.append("<h3>AttFind settings</h3>")
        parts.append(render_metrics_table(catalog.settings))

    for i, name in enumerate(catalog.class_names):
        attributes = list(catalog.classes.get(name, []))
        class_grids = grids.get(name, [])
        images = {attr.key: image for attr, image in class_grids}
        # A grid of an attribute the catalog does not rank still gets shown, after the ranked.
        known = {attr.key for attr in attributes}
        attributes += [attr for attr, _ in class_grids if attr.key not in known]
        parts.append(f'<h2 id="class-{i}">Class {_esc(name)}</h2>')
        if attributes:
            parts.append(
                f"<p>Attributes that move images toward {_esc(name)}, best first.</p>"
                + _attribute_table(attributes, images, name)
            )
        else:
            parts.append("<p>No attributes found for this class.</p>")

    if metrics:
        parts.append('<h2 id="metrics">Metrics</h2>')
        scalars = {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
        if scalars:
            parts.append(render_metrics_table(scalars))
        for name, value in metrics.items():
            if isinstance(value, Mapping):
                parts.append(f"<h3>{_esc(name)}</h3>{render_metrics_table(value)}")

    if samples:
        parts.append('<h2 id="samples">Samples</h2><div class="samples">')
        parts.extend(_img(s, f"sample {k}") for k, s in enumerate(samples))
        parts.append("</div>")

    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    path: str | os.PathLike[str],
    *,
    catalog: AttributeCatalog,  # the ranked attributes per class
    grids: Mapping[str, Sequence[tuple[Attribute, Image.Image]]],  # class -> (attribute, grid)
    metrics: Mapping[str, Any] | None,  # any nesting of dicts; see render_metrics_table
    samples: Sequence[Image.Image] | Sequence[Path],  # images, or image files, to show
    title: str,
    run_info: Mapping[str, Any],  # e.g. resolution, classes, steps, data set, classifier
) -> Path:
    """Write the run's report as one self-contained HTML file, atomically; return its path.

    Sections: title, run info table (plus the catalog's AttFind settings), one section per class
    with its ranked attributes (rank, layer, channel, index, direction, label, mean effect,
    flip rate) and each attribute's grid image, the metrics tables if given, and the samples.
    """
    text = render_report(
        catalog=catalog,
        grids=grids,
        metrics=metrics,
        samples=samples,
        title=title,
        run_info=run_info,
    )
    path = Path(path)
    write_bytes(path, text.encode("utf-8"))
    return path
