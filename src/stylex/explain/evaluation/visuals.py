"""Pictures of attributes and explanations: labelled images, attribute grids, strips and GIFs.

Images come in as x [3,R,R] / [N,3,R,R] in [-1, 1] and leave as Pillow images, upscaled by an
integer factor (nearest neighbour, so a 32 px image stays crisp) with their text written in a
strip below them in Pillow's built-in default font (no font files). How an attribute is shown
follows the paper (method notes 4.5): apply it to the images where the coordinate has the most
room to move, keep those where P(class) rises by at least a threshold, and show
[original | modified] with P(class) written on each.
"""

from __future__ import annotations

import functools
import math
import os
from typing import NamedTuple

import torch
from PIL import Image, ImageDraw, ImageFont

from stylex.data.images import to_uint8_image
from stylex.errors import InvalidArgumentError
from stylex.explain.single.explanation import Explanation
from stylex.explain.vocabulary.attributes import TOWARD_MAX, Attribute, StyleStats, apply_attributes
from stylex.fileio import atomic_path
from stylex.models import Generator, Styles

TEXT_PAD_PX = 2  # space above and below the lines of a text strip
GAP_PX = 2  # between the two images of a pair, and below a grid's header
PAIR_GAP_PX = 8  # between pairs, and between rows of pairs
MARGIN_PX = 4  # around a whole grid or strip
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (0, 0, 0)


class Example(NamedTuple):
    """One image chosen to show an attribute."""

    row: int  # row of the styles the image came from
    p_before: float  # P(target) of the unedited reconstruction
    p_after: float  # P(target) with the attribute applied


# --- text -------------------------------------------------------------------------------------


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


@functools.cache
def _line_px() -> int:
    # Measured on ascenders, descenders and brackets so every line of text fits.
    bottom = _font().getbbox("Ag(|)jy")[3]
    return math.ceil(bottom) + 1


def strip_px(num_lines: int = 1) -> int:
    """Height in px of a text strip holding `num_lines` lines."""
    return num_lines * _line_px() + 2 * TEXT_PAD_PX


def _text_px(text: str) -> float:
    return _font().getlength(text)


def _wrap(text: str, width_px: int) -> list[str]:
    """Split `text` into lines no wider than `width_px`: at newlines, then spaces, then anywhere."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _text_px(candidate) <= width_px:
                line = candidate
                continue
            if line:
                lines.append(line)
            # A word wider than the strip is broken wherever it has to be.
            line = ""
            for ch in word:
                if line and _text_px(line + ch) > width_px:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return lines


def text_strip(text: str, width_px: int) -> Image.Image:
    """A strip `width_px` wide with `text` centred on it, wrapped onto as many lines as needed."""
    lines = _wrap(text, max(width_px - 2, 1))
    strip = Image.new("RGB", (width_px, strip_px(len(lines))), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        x = max((width_px - _text_px(line)) / 2, 0)
        draw.text((x, TEXT_PAD_PX + i * _line_px()), line, fill=TEXT_COLOUR, font=_font())
    return strip


# --- composition ------------------------------------------------------------------------------


def _hstack(images: list[Image.Image], gaps: list[int] | int) -> Image.Image:
    """Side by side, top-aligned; `gaps[i]` px between image i and i+1."""
    if isinstance(gaps, int):
        gaps = [gaps] * max(len(images) - 1, 0)
    width = sum(im.width for im in images) + sum(gaps)
    out = Image.new("RGB", (width, max(im.height for im in images)), BACKGROUND)
    x = 0
    for i, im in enumerate(images):
        out.paste(im, (x, 0))
        x += im.width + (gaps[i] if i < len(gaps) else 0)
    return out


def _vstack(images: list[Image.Image], gap: int) -> Image.Image:
    """One above the other, left-aligned, `gap` px apart."""
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (max(im.width for im in images), height), BACKGROUND)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def _on_canvas(
    image: Image.Image, size: tuple[int, int], at: tuple[int, int] = (0, 0)
) -> Image.Image:
    """`image` pasted at `at` on a background canvas of `size`."""
    out = Image.new("RGB", size, BACKGROUND)
    out.paste(image, at)
    return out


def _pad(image: Image.Image, margin: int) -> Image.Image:
    size = (image.width + 2 * margin, image.height + 2 * margin)
    return _on_canvas(image, size, (margin, margin))


def to_pil(x: torch.Tensor, *, scale: int = 1) -> Image.Image:
    """x [3,R,R] in [-1, 1] -> RGB image R*scale px square (nearest-neighbour upscaling)."""
    if not isinstance(scale, int) or scale < 1:
        raise InvalidArgumentError(f"scale {scale!r} is not valid; expected a positive integer")
    if x.ndim != 3:
        raise InvalidArgumentError(
            f"image of shape {tuple(x.shape)} cannot be drawn; expected one image [3,R,R]"
        )
    image = Image.fromarray(to_uint8_image(x))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


def label_image(img: torch.Tensor, text: str, *, scale: int) -> Image.Image:
    """Upscale img [3,R,R] in [-1, 1] by `scale` and write `text` in a strip below it.

    The result is R*scale wide and R*scale + strip_px(lines) high; text wider than the image
    wraps onto more lines (one line for short labels such as "P(red)=0.83" at scale >= 4).
    """
    image = to_pil(img, scale=scale)
    return _vstack([image, text_strip(text, image.width)], gap=0)


def attribute_title(attribute: Attribute) -> str:
    """Short ASCII name of an attribute, e.g. "b16.conv1 ch 7 (+)"; (+) = toward S_max."""
    sign = "+" if attribute.direction == TOWARD_MAX else "-"
    where = (
        f"{attribute.layer} ch {attribute.channel}" if attribute.layer else f"s[{attribute.index}]"
    )
    title = f"{where} ({sign})"
    return f"{title} {attribute.label}" if attribute.label else title


# --- choosing and rendering examples ----------------------------------------------------------


def _device(G: Generator) -> torch.device:
    return next(G.parameters()).device


@torch.no_grad()
def _target_probs(C: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    logits = C(x)  # [N, num_classes]
    if target >= logits.shape[1]:
        raise InvalidArgumentError(
            f"target class {target} out of range: the classifier has {logits.shape[1]} classes"
        )
    return logits.float().softmax(dim=1)[:, target]


def _check_selection(styles: Styles, stats: StyleStats, attribute: Attribute, target: int) -> None:
    num_images, num_conv = styles.conv.shape
    if num_images == 0:
        raise InvalidArgumentError("no images to show the attribute on: styles hold 0 rows")
    if not 0 <= attribute.index < num_conv:
        raise InvalidArgumentError(
            f"attribute index {attribute.index} out of range [0, {num_conv})"
        )
    if attribute.direction not in (0, 1):
        raise InvalidArgumentError(
            f"attribute direction {attribute.direction!r}; expected 0 (toward min) or 1 (max)"
        )
    if stats.s_min.shape[0] != num_conv:
        raise InvalidArgumentError(
            f"style statistics cover {stats.s_min.shape[0]} coordinates, the styles {num_conv}"
        )
    if target < 0:
        raise InvalidArgumentError(f"target class {target} is negative")


@torch.no_grad()
def select_examples(
    G: Generator,
    C: torch.nn.Module,  # x [N,3,R,R] in [-1, 1] -> logits [N, num_classes]
    styles: Styles,  # of the candidate images, [N, ...]
    stats: StyleStats,  # the S_min / S_max the attribute's direction refers to
    attribute: Attribute,
    target: int,  # class whose probability the attribute should raise
    *,
    shift: float = 1.0,  # 1 sets the coordinate to its extreme; 1-2 exaggerate for figures
    num_examples: int = 4,
    threshold: float = 0.2,  # minimum rise of P(target) for an image to count as an example
    batch_size: int = 64,  # images per generator forward (original and edited together)
) -> list[Example]:
    """Choose images that show `attribute` raising P(target): (index, P before, P after).

    Candidates are ranked by |s[k] - target extreme| (largest first: where the coordinate has
    the most room to move) and taken in that order when P(target) rises by >= `threshold`.
    If fewer than `num_examples` pass, the list is filled with the remaining images of largest
    rise (largest first), unmarked: a caller that cares checks `p_after - p_before` itself.
    Evaluation stops at the first batch that completes the list of passing images.
    """
    if num_examples < 1:
        raise InvalidArgumentError(f"num_examples {num_examples} is not valid; expected >= 1")
    if batch_size < 2:
        raise InvalidArgumentError(f"batch_size {batch_size} is not valid; expected >= 2")
    _check_selection(styles, stats, attribute, target)
    device = _device(G)
    conv, rgb = styles.conv.to(device), styles.rgb.to(device)
    extreme = stats.targets()[attribute.direction, attribute.index].to(device, conv.dtype)
    distance = (conv[:, attribute.index] - extreme).abs()
    order = torch.argsort(distance, descending=True, stable=True)

    passed: list[Example] = []
    failed: list[Example] = []
    chunk = batch_size // 2
    for start in range(0, len(order), chunk):
        idx = order[start : start + chunk]
        before = conv[idx]
        after = apply_attributes(before, stats, [attribute], shift)
        x = G.synthesize(Styles(torch.cat([before, after]), torch.cat([rgb[idx], rgb[idx]])))
        p = _target_probs(C, x, target).cpu()
        p_before, p_after = p[: len(idx)], p[len(idx) :]
        for i, pb, pa in zip(idx.tolist(), p_before.tolist(), p_after.tolist(), strict=True):
            (passed if pa - pb >= threshold else failed).append(Example(i, pb, pa))
        if len(passed) >= num_examples:
            break
    fill = sorted(failed, key=lambda e: e.p_after - e.p_before, reverse=True)
    return (passed + fill)[:num_examples]


@torch.no_grad()
def _render_pairs(
    G: Generator,
    styles: Styles,
    stats: StyleStats,
    attribute: Attribute,
    indices: list[int],
    shift: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(originals, counterfactuals) [n,3,R,R] of the images at `indices`."""
    device = _device(G)
    idx = torch.tensor(indices, dtype=torch.long, device=styles.conv.device)
    conv, rgb = styles.conv[idx].to(device), styles.rgb[idx].to(device)
    edited = apply_attributes(conv, stats, [attribute], shift)
    x = G.synthesize(Styles(torch.cat([conv, edited]), torch.cat([rgb, rgb])))
    return x[: len(indices)], x[len(indices) :]


def attribute_grid(
    G: Generator,
    C: torch.nn.Module,  # x -> logits
    styles: Styles,  # of the candidate images
    stats: StyleStats,
    attribute: Attribute,
    target: int,  # class index the attribute moves toward
    class_name: str,  # its name, written on the images
    *,
    shift: float = 1.0,
    num_examples: int = 4,
    scale: int = 4,
    threshold: float = 0.2,
    pairs_per_row: int = 4,
    batch_size: int = 64,
) -> Image.Image:
    """[original | counterfactual] pairs of the examples `select_examples` picks, with
    "P(class)=..." under each image and a header naming the attribute.

    Layout: MARGIN_PX around everything; the header strip, GAP_PX, then rows of up to
    `pairs_per_row` pairs; GAP_PX between the images of a pair, PAIR_GAP_PX between pairs
    and between rows. Originals are reconstructions from the unedited styles.
    """
    if pairs_per_row < 1:
        raise InvalidArgumentError(f"pairs_per_row {pairs_per_row} is not valid; expected >= 1")
    examples = select_examples(
        G,
        C,
        styles,
        stats,
        attribute,
        target,
        shift=shift,
        num_examples=num_examples,
        threshold=threshold,
        batch_size=batch_size,
    )
    originals, edited = _render_pairs(G, styles, stats, attribute, [e.row for e in examples], shift)
    pairs = [
        _hstack(
            [
                label_image(originals[i], f"P({class_name})={e.p_before:.2f}", scale=scale),
                label_image(edited[i], f"P({class_name})={e.p_after:.2f}", scale=scale),
            ],
            GAP_PX,
        )
        for i, e in enumerate(examples)
    ]
    rows = [
        _hstack(pairs[r : r + pairs_per_row], PAIR_GAP_PX)
        for r in range(0, len(pairs), pairs_per_row)
    ]
    body = _vstack(rows, PAIR_GAP_PX)
    header = text_strip(f"{attribute_title(attribute)} -> {class_name}", body.width)
    return _pad(_vstack([header, body], GAP_PX), MARGIN_PX)


def explanation_strip(explanation: Explanation, *, scale: int = 4) -> Image.Image:
    """input | reconstruction | each counterfactual, each with P(target class) written under it.

    The input's caption also names the class the classifier predicts for it.
    """
    target = explanation.target
    name = explanation.class_names[target]
    predicted = explanation.class_names[explanation.predicted]
    cells = [
        label_image(
            explanation.image,
            f"input ({predicted})\nP({name})={float(explanation.probs[target]):.2f}",
            scale=scale,
        ),
        label_image(
            explanation.reconstruction,
            f"reconstruction\nP({name})={float(explanation.probs_reconstruction[target]):.2f}",
            scale=scale,
        ),
    ]
    for cf in explanation.counterfactuals:
        text = f"{attribute_title(cf.attribute)}\nP({name})={float(cf.probs[target]):.2f}"
        cells.append(label_image(cf.image, text, scale=scale))
    return _pad(_hstack(cells, PAIR_GAP_PX), MARGIN_PX)


def contact_sheet(
    rows: list[list[tuple[torch.Tensor, str]]],  # per image: (image [3,R,R] in [-1, 1], caption)
    *,
    title: str = "",
    scale: int = 4,
) -> Image.Image:
    """One row per image, its cells side by side with their captions under them (for example
    input | reconstruction | counterfactuals, P(target) in each caption)."""
    if not rows or not all(rows):
        raise InvalidArgumentError("a contact sheet needs at least one row of at least one image")
    strips = [_hstack([label_image(x, text, scale=scale) for x, text in row], PAIR_GAP_PX)
              for row in rows]  # fmt: skip
    body = _vstack(strips, PAIR_GAP_PX)
    parts = [text_strip(title, body.width), body] if title else [body]
    return _pad(_vstack(parts, GAP_PX), MARGIN_PX)


def gif_shifts(steps: int, shift: float = 1.0) -> list[float]:
    """The shift of every frame of `attribute_gif`: 0 -> shift -> back, 2*steps - 2 frames."""
    if steps < 2:
        raise InvalidArgumentError(f"steps {steps} is not valid; expected >= 2")
    forward = torch.linspace(0.0, shift, steps).tolist()
    return forward + forward[-2:0:-1]


@torch.no_grad()
def attribute_gif(
    G: Generator,
    styles_one_image: Styles,  # conv [1, S], rgb [1, T]
    stats: StyleStats,
    attribute: Attribute,
    path: str | os.PathLike[str],
    *,
    steps: int = 8,  # frames from shift 0 to `shift`; the loop back adds steps - 2 more
    scale: int = 4,
    shift: float = 1.0,
    frame_ms: int = 120,
) -> None:
    """Write an animated, looping GIF of one image as the attribute's shift goes 0 -> 1 -> 0.

    Each frame has its shift written under it (which also keeps Pillow from merging identical
    consecutive frames, so the file has exactly 2*steps - 2 frames). Written atomically.
    """
    if styles_one_image.conv.ndim != 2 or styles_one_image.conv.shape[0] != 1:
        raise InvalidArgumentError(
            f"styles of shape {tuple(styles_one_image.conv.shape)}; expected one image [1, S]"
        )
    _check_selection(styles_one_image, stats, attribute, 0)
    shifts = gif_shifts(steps, shift)
    device = _device(G)
    conv = styles_one_image.conv.to(device)
    rgb = styles_one_image.rgb.to(device)
    edited = torch.cat([apply_attributes(conv, stats, [attribute], s) for s in shifts])
    x = G.synthesize(Styles(edited, rgb.expand(len(shifts), -1)))
    labelled = [label_image(x[i], f"shift {s:+.2f}", scale=scale) for i, s in enumerate(shifts)]
    # Captions of different widths may wrap differently; a GIF's frames must share one size.
    height = max(im.height for im in labelled)
    frames = [_pad(_on_canvas(im, (im.width, height)), MARGIN_PX) for im in labelled]
    with atomic_path(path) as tmp:
        frames[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=frame_ms,
            loop=0,
        )


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Write a Pillow image as PNG, atomically."""
    with atomic_path(path) as tmp:
        # The temporary file ends in .tmp, so Pillow cannot infer the format from its name.
        image.save(tmp, format="PNG")
