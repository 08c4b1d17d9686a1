"""Medians and percentiles of measured values."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of the values at or below it."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"percentile fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    # round() first: 0.99 * 300 is 297.00000000000006 in binary floating point.
    rank = max(1, math.ceil(round(fraction * len(ordered), 9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def median_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | int]:
    """n, median, p99 (nearest rank), min and max."""
    return {
        "n": len(values),
        "median": round(median(values), digits),
        "p99": round(percentile(values, 0.99), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }
