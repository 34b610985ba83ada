"""Which kind of generator step runs at each training step.

StylEx alternates (a) encoder steps, x -> E -> G, trained with the reconstruction and classifier
losses, and (b) ordinary StyleGAN steps, z -> mapping -> w -> G. The schedule is a pure function
of the step number, independent of gradient accumulation or the number of processes (a public
reproduction tied it to accumulation and never trained its encoder at accumulation 1).

An optional reconstruction warm-up comes first: for `warmup_steps` steps, E and G are trained
as an autoencoder (reconstruction and classifier losses, no discriminator), so the adversarial
game starts from a generator that already renders what the encoder saw. See
docs/training-recipe.md for the measured reason.
"""

from __future__ import annotations

from dataclasses import dataclass

ENCODER = "encoder"
RANDOM = "random"
WARMUP = "warmup"
KINDS = (WARMUP, ENCODER, RANDOM)


@dataclass(frozen=True)
class AlternatingSchedule:
    encoder_every: int = 2  # after the warm-up, every N-th step (0, N, 2N, ...) is an encoder step
    warmup_steps: int = 0  # steps [0, warmup_steps) are reconstruction-only warm-up steps

    def __post_init__(self) -> None:
        if self.encoder_every < 1:
            raise ValueError(f"encoder_every must be >= 1, got {self.encoder_every}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

    def kind(self, step: int) -> str:
        """'warmup', 'encoder' or 'random' for global step `step` (0-based)."""
        if step < self.warmup_steps:
            return WARMUP
        return ENCODER if step % self.encoder_every == 0 else RANDOM

    def reconstruction_index(self, step: int) -> int:
        """How many steps before `step` reconstructed (warm-up and encoder steps): the clock of
        the lazy reconstruction terms, so that "every N-th" counts only steps that have them."""
        if step <= self.warmup_steps:
            return step
        # Encoder steps in [warmup_steps, step): the multiples of encoder_every there.
        e = self.encoder_every
        return self.warmup_steps + -(-step // e) - -(-self.warmup_steps // e)

    def counts(self, start: int, stop: int) -> dict[str, int]:
        """Number of steps of each kind in [start, stop) (warm-up only when there is one)."""
        kinds = [self.kind(s) for s in range(start, stop)]
        out = {ENCODER: kinds.count(ENCODER), RANDOM: kinds.count(RANDOM)}
        if self.warmup_steps:
            out[WARMUP] = kinds.count(WARMUP)
        return out
