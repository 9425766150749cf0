"""Settings of the stages, apart from the code that runs them, so that the command line can show
their defaults without importing torch (`formclip --help` stays fast)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PretrainConfig:
    """The shipped recipe, chosen by measurement on 2 cores (docs/guide.md, "Base models"; docs/benchmarks.md for how).

    Small batches win on a fixed CPU budget: the loss first sits at ln(batch) and more optimiser
    steps leave that plateau sooner. Measured on the same 8,000 frames and 8 epochs: batch 32 at
    5e-4 reached zero-shot exercise recognition 0.33, batch 16 at 3.5e-4 reached 0.51 (chance 0.20);
    at 2e-3 the loss never left the plateau. 12 px patches (64 image tokens) keep it to minutes.
    """
    clips: int = 1000
    frames_per_clip: int = 8
    epochs: int = 8
    batch_size: int = 16
    learning_rate: float = 3.5e-4
    seed: int = 0
