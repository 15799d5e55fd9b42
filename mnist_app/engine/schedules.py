"""Learning-rate schedules: the share of the peak rate each batch of a run trains at."""

from __future__ import annotations

import numpy as np

# The one-cycle schedule (Smith's "super-convergence", fast.ai's defaults): a short climb lets a
# high peak rate be reached without the first, large gradients blowing the weights apart.
ONECYCLE_WARMUP = 0.25  # the share of the run's batches spent climbing
ONECYCLE_START = 1 / 25  # the climb starts at this share of the peak


def onecycle_warmup_steps(total_steps: int) -> int:
    """The batches over which the one-cycle schedule climbs to its peak: the first quarter."""
    return max(1, round(ONECYCLE_WARMUP * total_steps))


def schedule_factors(schedule: str, total_steps: int, steps: np.ndarray) -> np.ndarray:
    """The share of the peak learning rate a schedule gives each of `steps` (0-based) of a
    `total_steps`-batch run: Keras' CosineDecay, which the code behind a run writes out.

    "cosine": from 1 at the first batch along a cosine to 0 after the last. "onecycle": a
    straight climb from 1/25 of the peak to the peak over the first quarter of the batches,
    then the same cosine down to 0 over the rest.
    """
    steps = np.asarray(steps, dtype=np.float64)
    if schedule == "constant":
        return np.ones_like(steps)
    warmup = onecycle_warmup_steps(total_steps) if schedule == "onecycle" else 0
    decay = max(1, total_steps - warmup)
    cosine = 0.5 * (1 + np.cos(np.pi * np.clip(steps - warmup, 0, decay) / decay))
    if not warmup:
        return cosine
    climb = ONECYCLE_START + (1 - ONECYCLE_START) * steps / warmup
    return np.where(steps < warmup, climb, cosine)
