"""Durations and deadlines: the mechanics of wall-clock time, no decision about how to spend it (that is
`arc_trm.solve.schedule`). No torch here: the CLI parses `--time-budget` before its heavy imports.

    parse_duration("1h30m")   # 5400.0
    Deadline(12 * 3600).remaining()
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_DURATION = re.compile(rf"(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?")

# ---------------------------------------------------------------------------------------------- durations


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90s", "45m", "12h", "1h30m", "2h15m30s", "1.5h" or "3600" (seconds).

    ValueError, naming the text and the accepted forms, for anything else or a duration that is not positive.
    """
    clean = str(text).strip().lower().replace(" ", "")
    if clean.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    if re.fullmatch(_NUMBER, clean):
        seconds = float(clean)
    else:
        match = _DURATION.fullmatch(clean)
        if not clean or not match:
            raise ValueError(
                f"invalid duration {text!r}: use hours, minutes and seconds such as 90s, 45m, 12h, 1h30m, "
                "1.5h, or a plain number of seconds"
            )
        seconds = sum(float(v) * _UNITS[u] for v, u in zip(match.groups(), "hms") if v is not None)
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """A short display form: "45s", "3m05s", "1h02m" (whole seconds; "unlimited" for infinity)."""
    if math.isinf(seconds):
        return "unlimited"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


# ---------------------------------------------------------------------------------------------- deadline


class Deadline:
    """A time budget that starts when created, or at `start` (a reading of `clock`, e.g. the command's start):
    `Deadline(12 * 3600)`, or `Deadline(None)` for no limit.

    `clock` returns seconds (default `time.monotonic`); tests pass a fake one.
    """

    def __init__(
        self, budget: float | None, clock: Callable[[], float] = time.monotonic, start: float | None = None
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"budget must be >= 0 seconds or None, got {budget}")
        self.budget = budget
        self.clock = clock
        self.start = clock() if start is None else start

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.start

    def remaining(self) -> float:
        """Seconds left (never negative); infinity when unlimited."""
        if self.budget is None:
            return math.inf
        return max(0.0, self.budget - self.elapsed())

    def expired(self) -> bool:
        """True once the budget is spent (never when unlimited)."""
        return self.remaining() <= 0

    def at(self, fraction: float) -> bool:
        """True once `fraction` of the budget has passed (`at(0.9)`: the last tenth); never when unlimited."""
        return self.budget is not None and self.elapsed() >= fraction * self.budget

    def __repr__(self) -> str:
        budget = "unlimited" if self.budget is None else format_duration(self.budget)
        return f"<Deadline {budget} | {format_duration(self.elapsed())} elapsed>"
