"""AttFind on a trained run, resumable: encode N images, measure their effect tensor, select
attributes per class, write the catalog and IMAGE mode's screen prior (`stylex attfind` parses
its flags and calls `run_attfind`).

Work is kept in RUN/attfind/ so an interrupted run continues where it stopped:
    encoded.safetensors   conv/rgb styles and base logits of the N images
    encoded.json          what they were encoded with (checkpoint weights, classifier, images)
    effects.npy           [N, 2, S, C] float32, memory-mapped: RAM use is bounded by a chunk
    progress.json         settings and the image chunks already done

The selection itself is `stylex.explain.search.attfind`, the effects
`stylex.explain.search.effects`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylex.errors import ConfigError
from stylex.fileio import atomic_path, write_json
from stylex.rundir import RunPaths

if TYPE_CHECKING:
    import numpy as np

    from stylex.explain.context import RunContext
    from stylex.explain.vocabulary.attributes import StyleStats
    from stylex.explain.vocabulary.catalog import AttributeCatalog


@dataclass
class AttFindSettings:
    num_images: int = 250  # images the effects are measured on (official: 250)
    num_attributes: int = 10  # K per class (official 8; 10 so flip rate @10 is defined)
    shift: float = 1.0  # fraction of the way to the extreme (1 = to S_min / S_max)
    max_image_effect: float = 1.0  # "effect": an image stops counting once its gains reach this
    # When an image stops counting in the greedy selection: "flip" once the picks so far flip it
    # (by the sum of their effects), "effect" at max_image_effect (the official rule).
    active_until: str = "flip"
    unstable_threshold: float = 2.0  # |effect| above this counts toward instability
    unstable_max_count: int = 750  # ... and more than this many such entries drops the image
    screen_top: int = 0  # > 0: first-order screen, exact effects only for this many coords
    chunk_images: int = 8  # images per resumable chunk
    edits_per_batch: int = 128  # edits per G + C forward
    data: str | None = None  # image source (default: the run's data set, another seed)

    def validate(self) -> AttFindSettings:
        for name in ("num_images", "num_attributes", "chunk_images", "edits_per_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.shift <= 0:
            raise ConfigError(f"shift must be > 0, got {self.shift}")
        if self.screen_top < 0:
            raise ConfigError(f"screen_top must be >= 0, got {self.screen_top}")
        from stylex.explain.search.attfind import ACTIVE_UNTIL

        if self.active_until not in ACTIVE_UNTIL:
            raise ConfigError(
                f"active_until must be one of {ACTIVE_UNTIL}, got {self.active_until!r}"
            )
        return self

    def encoded_key(self, ctx: RunContext) -> str:
        """Identity of the encoded images: which images, and which networks encoded them (the
        checkpoint's weights and the classifier file), so more training never reuses them."""
        classifier = ctx.run.classifier_path
        blob = json.dumps(
            {
                "num_images": self.num_images,
                "data": self.data,
                "weights": ctx.run.weights_sha256,
                "step": ctx.run.step,
                "classifier": _file_sha256(classifier) if classifier else None,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def effects_key(self, ctx: RunContext) -> str:
        """Identity of the effect tensor: what must match for a resumed run to reuse it."""
        keys = ("shift", "screen_top", "chunk_images")
        blob = json.dumps(
            {"encoded": self.encoded_key(ctx), **{k: getattr(self, k) for k in keys}},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_or_encode(ctx: RunContext, settings: AttFindSettings, progress: bool) -> dict:
    from safetensors.torch import load_file, save_file

    from stylex.explain.context import ATTFIND_SEED_OFFSET, encode_images, stack_images

    path, key_path = RunPaths(ctx.run_dir).encoded, RunPaths(ctx.run_dir).encoded_key
    key = settings.encoded_key(ctx)
    if path.is_file() and key_path.is_file():
        if json.loads(key_path.read_text()).get("key") == key:
            enc = load_file(str(path))
            settings.num_images = int(enc["conv"].shape[0])  # as after encoding (fewer images)
            return enc
    dataset = ctx.dataset(settings.data, settings.num_images, ATTFIND_SEED_OFFSET)
    if len(dataset) < settings.num_images:
        settings.num_images = len(dataset)
    x = stack_images(dataset, settings.num_images)
    if progress:
        print(f"attfind: encoding {x.shape[0]} images")
    enc = encode_images(ctx, x)
    with atomic_path(path) as tmp:
        save_file(enc, str(tmp))
    write_json(key_path, {"key": key, "run_step": ctx.run.step})
    return enc


def compute_effects(
    ctx: RunContext,
    enc: dict,
    stats: StyleStats,
    settings: AttFindSettings,
    progress: bool,
) -> np.ndarray:
    """Fill (or continue filling) the memory-mapped effect tensor chunk by chunk."""
    import numpy as np
    from tqdm import tqdm

    from stylex.explain.search.effects import EffectEngine
    from stylex.models import Styles

    n, num_coords = enc["conv"].shape
    num_classes = enc["logits"].shape[1]
    paths = RunPaths(ctx.run_dir)
    effects_path, progress_path = paths.effects, paths.attfind_progress
    key = settings.effects_key(ctx)
    state = json.loads(progress_path.read_text()) if progress_path.is_file() else {}
    shape = (n, 2, num_coords, num_classes)
    if state.get("key") != key or not effects_path.is_file():
        state = {"key": key, "done": [], "seconds": 0.0}
        np.lib.format.open_memmap(effects_path, mode="w+", dtype=np.float32, shape=shape).flush()
        write_json(progress_path, state)
    effects = np.load(effects_path, mmap_mode="r+")
    if effects.shape != shape:
        raise ConfigError(f"{effects_path} has shape {effects.shape}, expected {shape}")
    engine = EffectEngine(ctx.G, ctx.C, settings.shift, settings.edits_per_batch)
    chunks = list(range(0, n, settings.chunk_images))
    todo = [c for c in chunks if c not in set(state["done"])]
    done = sum(min(c + settings.chunk_images, n) - c for c in state["done"])
    bar = tqdm(total=n, initial=done, desc="attfind effects",
               unit="img", disable=not progress, dynamic_ncols=True)  # fmt: skip
    for start in todo:
        t0 = time.perf_counter()
        sl = slice(start, min(start + settings.chunk_images, n))
        styles = Styles(enc["conv"][sl].to(ctx.device), enc["rgb"][sl].to(ctx.device))
        coords = None
        if settings.screen_top > 0:
            coords = engine.screen(styles, stats, settings.screen_top)
        effects[sl] = engine.effects(styles, stats, coords=coords).numpy()
        effects.flush()
        state["done"].append(start)
        state["seconds"] += time.perf_counter() - t0
        write_json(progress_path, state)  # only after the chunk's effects are on disk
        bar.update(sl.stop - sl.start)
    bar.close()
    return np.asarray(effects)


def run_attfind(
    ctx: RunContext, settings: AttFindSettings | None = None, *, progress: bool = True
) -> AttributeCatalog:
    """AttFind on a trained run; writes RUN/attributes.json and returns the catalog."""
    import torch

    from stylex.explain.search.attfind import find_attributes
    from stylex.explain.search.screen import ScreenPrior
    from stylex.explain.vocabulary.attributes import Attribute, StyleStats
    from stylex.explain.vocabulary.catalog import AttributeCatalog

    settings = (settings or AttFindSettings()).validate()
    paths = RunPaths(ctx.run_dir)
    paths.attfind_work.mkdir(parents=True, exist_ok=True)
    enc = _load_or_encode(ctx, settings, progress)
    stats = StyleStats.from_styles(enc["conv"])
    effects = torch.from_numpy(compute_effects(ctx, enc, stats, settings, progress))
    predicted = enc["logits"].argmax(dim=1)
    num_classes = enc["logits"].shape[1]
    result = find_attributes(
        effects,
        predicted,
        num_classes=num_classes,
        num_attributes=settings.num_attributes,
        max_image_effect=settings.max_image_effect,
        unstable_threshold=settings.unstable_threshold,
        unstable_max_count=settings.unstable_max_count,
        active_until=settings.active_until,
        base_logits=enc["logits"],
    )
    layout = ctx.G.layout
    classes: dict[str, list[Attribute]] = {}
    for c, selections in result.per_class.items():
        others = predicted != c
        attrs = []
        for k, d, score in selections:
            # Flip alone, exactly from the effect tensor: base logits + this edit's effect.
            edited = enc["logits"][others] + effects[others, d, k]
            flip = float((edited.argmax(dim=1) == c).float().mean()) if others.any() else 0.0
            attrs.append(Attribute.at(layout, k, d, mean_effect=float(score), flip_rate=flip))
        classes[ctx.class_names[c]] = attrs
    seconds = json.loads(paths.attfind_progress.read_text()).get("seconds", 0.0)
    catalog = AttributeCatalog(
        class_names=ctx.class_names,
        classes=classes,
        stats=stats,
        settings={
            **asdict(settings),
            "num_images": int(enc["conv"].shape[0]),
            "num_unstable_images": result.num_unstable,
            "effect_seconds": round(seconds, 2),
            "run_step": ctx.run.step,
        },
        layout=layout.to_json(),
    )
    # IMAGE mode's screen prior (RUN/screen.npz) comes from the same exact effects and styles
    # (no more networks run). With --screen-top the unscreened edits are 0: a thinner prior.
    prior = ScreenPrior.from_effects(effects, enc["logits"], enc["conv"])
    with atomic_path(paths.screen) as tmp:
        tmp.write_bytes(prior.to_bytes())
    catalog.save(paths.catalog)
    return catalog


def catalog_summary(catalog: AttributeCatalog, top: int = 5) -> dict[str, Any]:
    return {
        name: [
            {"layer": a.layer, "channel": a.channel, "index": a.index, "direction": a.direction,
             "mean_effect": round(a.mean_effect, 4), "flip_rate": round(a.flip_rate, 3)}
            for a in attrs[:top]
        ]
        for name, attrs in catalog.classes.items()
    }  # fmt: skip
