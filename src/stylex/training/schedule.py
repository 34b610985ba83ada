"""Which kind of generator step runs at each training step.

StylEx alternates (a) encoder steps, x -> E -> G, trained with the reconstruction and classifier
losses, and (b) ordinary StyleGAN steps, z -> mapping -> w -> G. The schedule is a pure function
of the step number, independent of gradient accumulation or the number of processes (a public
reproduction tied it to accumulation and never trained its encoder at accumulation 1).
"""

from __future__ import annotations

from dataclasses import dataclass

ENCODER = "encoder"
RANDOM = "random"


@dataclass(frozen=True)
class AlternatingSchedule:
    encoder_every: int = 2  # every N-th step (0, N, 2N, ...) is an encoder step

    def __post_init__(self) -> None:
        if self.encoder_every < 1:
            raise ValueError(f"encoder_every must be >= 1, got {self.encoder_every}")

    def kind(self, step: int) -> str:
        """'encoder' or 'random' for global step `step` (0-based)."""
        return ENCODER if step % self.encoder_every == 0 else RANDOM

    def counts(self, start: int, stop: int) -> dict[str, int]:
        """Number of steps of each kind in [start, stop)."""
        kinds = [self.kind(s) for s in range(start, stop)]
        return {ENCODER: kinds.count(ENCODER), RANDOM: kinds.count(RANDOM)}
