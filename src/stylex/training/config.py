"""Training configuration: one dataclass, named presets, and `--set key=value` overrides.

A run directory stores the resolved configuration as `config.json`; resuming checks that the
new configuration trains the same networks on the same data.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from stylex.errors import ConfigError
from stylex.models.config import check_resolution


@dataclass
class LossWeights:
    adversarial: float = 1.0  # non-saturating logistic loss of G (and E on encoder steps)
    rec_l1: float = 1.0  # L1(x', x) on encoder steps
    rec_perceptual: float = 0.1  # LPIPS (or the built-in substitute) on encoder steps
    rec_w: float = 0.1  # L1(E(x'), E(x)) on encoder steps
    classifier: float = 1.0  # KL(softmax C(x) || softmax C(x')) on encoder steps
    classifier_random: float = 0.0  # KL(p || softmax C(G(z, p))) on random-z steps (0 = off)
    # KL(p' || softmax C(G(E(x), p'))) with p' = swapped probabilities, on encoder and warm-up
    # steps (0 = off): the decision must follow the conditioning, not w (see training.losses)
    classifier_swap: float = 0.0
    # Group-lasso weight on how the class probabilities reach each style coordinate (the sum
    # over coordinates of the L2 norm of its affine's p columns), on reconstructing steps
    cond_sparsity: float = 0.0
    # The same outside StyleSpace (toRGB, the Fourier input); None = cond_sparsity. AttFind
    # cannot edit those styles, so the decision should not ride in them.
    cond_sparsity_rgb: float | None = None
    # Realism of edits (0 = off): on reconstructing steps the discriminator judges renders of
    # *edited* style vectors against real images, and G and E get its non-saturating loss at
    # this weight. The edits are the swapped-conditioning render G(E(x), p') and, per image,
    # `edit_coordinates` random conv coordinates set to the batch's min or max (AttFind's edit
    # at shift 1). D then trains on these steps too, the warm-up included (lazy R1 as usual);
    # D sees each render with the classifier's probabilities of it.
    edit_adversarial: float = 0.0
    edit_coordinates: int = 1
    r1_gamma: float = 1.0  # R1 penalty weight on real images
    r1_interval: int = 16  # lazy regularization: R1 every N steps, scaled by N
    # Lazy reconstruction terms, as R1: on every N-th step that reconstructs (warm-up and
    # encoder steps), weighted by N; 1 = every such step. N = 4 made warm-up steps 1.65x
    # faster but cost reconstruction at equal images (L1 0.127 vs 0.085 at step 1,500,
    # docs/training-speed.md), so they are off by default.
    rec_w_interval: int = 1  # the latent term L1(E(x'), E(x)): a quarter of a warm-up step
    swap_interval: int = 1  # the swapped-conditioning term (a second G and C pass)


@dataclass
class TrainConfig:
    # data and classifier
    data: str = "shapes"  # 'shapes' (aligned), 'shapes-free', 'digits' or an image-folder path
    data_rule: str | None = None  # label rule of a built-in data set (None = its default)
    num_images: int | None = None  # cap on the number of training images
    classifier: str | None = None  # TorchScript or ONNX classifier file (with its .json sidecar)
    # architecture (num_classes comes from the classifier)
    resolution: int = 32  # image size, px
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    synthesis_input: str = "const"  # "const" (StyleGAN2) or "fourier" (see models.generator)
    conditioned_styles: str = "all"  # affines that take p: "all" or "conv" (ArchConfig)
    # optimisation
    steps: int = 10000  # optimizer steps (one step = one global batch for G, E and D)
    batch_size: int = 32  # global batch, split over processes and accumulation rounds
    accum_steps: int = 1  # gradient accumulation rounds per step
    lr_g: float = 0.002
    lr_d: float = 0.002
    lr_e: float = 0.0002  # the encoder is less stable; it gets its own optimizer and rate
    betas: tuple[float, float] = (0.0, 0.99)
    # Adam betas of G and E during the reconstruction warm-up (None = `betas`): beta1 0.9 speeds
    # the autoencoder up, beta1 0 is StyleGAN2's choice for the adversarial game that follows.
    warmup_betas: tuple[float, float] | None = None
    betas_d: tuple[float, float] | None = None  # D's Adam betas (None = `betas`)
    ema_half_life_kimg: float = 10.0  # G_ema half-life in thousands of images
    encoder_every: int = 2  # every N-th step is an encoder step, the others random-z steps
    rec_warmup_steps: int = 0  # first steps train E and G as an autoencoder only (no D)
    # Grouped (per-sample weight) convs instead of scale-conv-scale: the same function, but
    # slower in bench/train_throughput.py on both CPU and an H200, so off by default.
    fused_modconv: bool = False
    # What pays on the CPU without changing the step's result (docs/training-speed.md):
    # multi-tensor (foreach) Adam. `baseline_config` turns it and the lazy terms off.
    fast_path: bool = True
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    perceptual: str = "auto"  # 'auto', 'lpips' or 'pyramid'
    loss: LossWeights = field(default_factory=LossWeights)
    # bookkeeping
    seed: int = 0
    workers: int = 0  # data-loader worker processes
    log_every: int = 20  # steps between scalar log rows
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 500  # steps between checkpoints
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    num_samples: int = 8  # images per row of a sample grid
    device: str = "auto"  # 'auto', 'cpu', 'cuda', 'cuda:1', ...
    max_minutes: float = 0.0  # stop (with a checkpoint) after this much wall time; 0 = no limit

    def validate(self) -> TrainConfig:
        check_resolution(self.resolution)
        positive = ("steps", "batch_size", "accum_steps", "encoder_every", "z_dim", "w_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.accum_steps:
            raise ConfigError(
                f"batch_size {self.batch_size} is not divisible by accum_steps {self.accum_steps}"
            )
        for name in ("lr_g", "lr_d", "lr_e"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.rec_warmup_steps < 0:
            raise ConfigError(f"rec_warmup_steps must be >= 0, got {self.rec_warmup_steps}")
        for name in ("betas", "warmup_betas", "betas_d"):
            betas = getattr(self, name)
            if betas is not None and (
                len(betas) != 2 or not all(isinstance(b, int | float) and 0 <= b < 1 for b in betas)
            ):
                raise ConfigError(f"{name} must be two numbers in [0, 1), got {betas!r}")
        for name in ("r1_interval", "rec_w_interval", "swap_interval", "edit_coordinates"):
            if getattr(self.loss, name) < 1:
                raise ConfigError(f"loss.{name} must be >= 1, got {getattr(self.loss, name)}")
        if self.perceptual not in ("auto", "lpips", "pyramid"):
            raise ConfigError(f"perceptual {self.perceptual!r} not in auto, lpips, pyramid")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training options {unknown}")
        loss = LossWeights(**d.pop("loss", {}))
        for key in ("betas", "warmup_betas", "betas_d"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(loss=loss, **d)


PRESETS: dict[str, dict[str, Any]] = {
    # Runs on a laptop CPU in minutes; what the tests and the demo use.
    "tiny": dict(
        resolution=32,
        z_dim=64,
        w_dim=64,
        mapping_layers=2,
        channel_base=1024,
        channel_max=64,
        batch_size=16,
        steps=400,
        lr_e=0.001,
        ema_half_life_kimg=0.5,
        log_every=10,
        sample_every=100,
        checkpoint_every=100,
    ),
    # The CPU recipe of the shipped model (docs/training-recipe.md): the tiny networks with a
    # Fourier synthesis input and p reaching StyleSpace only, trained as a conditioned
    # autoencoder for the whole run (the warm-up never ends): reconstruction with a 10x
    # perceptual weight, the classifier's KL, the swapped-conditioning term and a group lasso
    # on p's paths, with Adam beta1 0.9. Meant to be run with a wall-clock limit (`--set
    # max_minutes=...`); the step count is only a cap.
    "cpu32": dict(
        resolution=32,
        z_dim=64,
        w_dim=64,
        mapping_layers=2,
        channel_base=1024,
        channel_max=64,
        synthesis_input="fourier",
        conditioned_styles="conv",
        batch_size=16,
        steps=100000,
        lr_e=0.001,
        betas=(0.9, 0.99),
        rec_warmup_steps=100000,
        ema_half_life_kimg=0.5,
        loss=LossWeights(rec_perceptual=1.0, classifier_swap=1.0, cond_sparsity=3e-3),
        log_every=100,
        sample_every=1000,
        checkpoint_every=500,
    ),
    # The built-in data sets at 32 px: hours on a CPU, minutes on a GPU.
    "small32": dict(
        resolution=32,
        z_dim=256,
        w_dim=256,
        mapping_layers=4,
        channel_base=4096,
        channel_max=128,
        batch_size=32,
        steps=20000,
        lr_e=0.0005,
        ema_half_life_kimg=5.0,
    ),
    "small64": dict(
        resolution=64,
        z_dim=256,
        w_dim=256,
        mapping_layers=4,
        channel_base=8192,
        channel_max=256,
        batch_size=32,
        steps=40000,
        lr_e=0.0005,
        ema_half_life_kimg=5.0,
    ),
    # The CPU recipe's changes on the small64 networks, for a GPU. Not yet measured on one.
    "gpu64": dict(
        resolution=64,
        z_dim=256,
        w_dim=256,
        mapping_layers=4,
        channel_base=8192,
        channel_max=256,
        synthesis_input="fourier",
        batch_size=32,
        steps=60000,
        lr_e=0.0005,
        betas=(0.9, 0.99),
        rec_warmup_steps=20000,
        ema_half_life_kimg=5.0,
        loss=LossWeights(rec_perceptual=1.0),
    ),
    # The released StylEx model's architecture: 256 px, 5,760 StyleSpace coordinates.
    "paper256": dict(
        resolution=256,
        z_dim=512,
        w_dim=512,
        mapping_layers=8,
        channel_base=32768,
        channel_max=512,
        batch_size=16,
        steps=200000,
        lr_e=0.0002,
        ema_half_life_kimg=10.0,
        sample_every=2000,
        checkpoint_every=2000,
    ),
}


def _parse_value(raw: str, current: Any, key: str) -> Any:
    if isinstance(current, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"option {key}={raw!r}: expected true or false")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # bare strings such as a path
    if isinstance(current, str):
        return raw
    if current is None:  # optional fields: a number, null, a pair such as betas, or a path
        if isinstance(value, list):
            return tuple(value)
        return value if value is None or isinstance(value, int | float) else raw
    if (
        isinstance(current, float)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return float(value)
    if isinstance(current, tuple) and isinstance(value, list):
        return tuple(value)
    if type(value) is not type(current):
        raise ConfigError(
            f"option {key}={raw!r}: expected a {type(current).__name__}, got {type(value).__name__}"
        )
    return value


def baseline_config(cfg: TrainConfig) -> TrainConfig:
    """The same run as the code trained it before the speed work: every loss term on every
    step and per-tensor Adam (`stylex train --no-fast-path`, bench/train_throughput.py).
    Lazy terms set by the user are turned off too."""
    out = copy.deepcopy(cfg)
    out.fast_path = False
    out.loss.rec_w_interval = out.loss.swap_interval = 1
    return out.validate()


def resolve_config(preset: str, overrides: dict[str, str] | None = None) -> TrainConfig:
    """Start from a preset and apply `key=value` overrides (`loss.r1_gamma=0.5` for nested)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    cfg = TrainConfig(**copy.deepcopy(PRESETS[preset]))  # overrides must not edit the preset
    for key, raw in (overrides or {}).items():
        target: TrainConfig | LossWeights = cfg
        name = key
        if key.startswith("loss."):
            target, name = cfg.loss, key.removeprefix("loss.")
        valid = {f.name for f in dataclasses.fields(target)}
        if name not in valid:
            raise ConfigError(f"unknown option {key!r}; valid: {sorted(valid)}")
        setattr(target, name, _parse_value(raw, getattr(target, name), key))
    return cfg.validate()


ARCH_KEYS = (
    "resolution",
    "z_dim",
    "w_dim",
    "mapping_layers",
    "channel_base",
    "channel_max",
    "mbstd_group_size",
    "synthesis_input",
    "conditioned_styles",
)
DATA_KEYS = ("data", "data_rule", "num_images", "classifier")
