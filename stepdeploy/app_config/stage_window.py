"""A stage's deployment window: when a promotion may start, in the stage's time zone.

``allow`` lists cron-like day-and-hour ranges (``"mon-fri 09:00-17:00"``, ``"sat 10:00-12:00"``,
``"daily 06:00-22:00"``); ``freeze`` lists periods in which nothing is promoted even inside an
allowed range (``{from: "2026-12-20 00:00", to: "2027-01-04 00:00"}``). Pure: the clock is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(?P<days>[a-z,\-*]+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}$")
SEARCH_DAYS = 400
"""How far ahead the next opening is looked for (a freeze may last months; a window that never
opens again within that is refused as never open)."""


def _days(spec: str) -> frozenset[int]:
    if spec in ("*", "daily"):
        return frozenset(range(7))
    chosen: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"days as mon..sun, ranges (mon-fri), lists (mon,wed) or daily; got {spec!r}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        chosen.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(chosen)


def _clock(text: str, *, end: bool) -> time | None:
    hours, minutes = int(text[:2]), int(text[3:])
    if end and (hours, minutes) == (24, 0):
        return None  # the end of the day
    if hours > 23 or minutes > 59:
        raise ValueError(f"a time of day HH:MM (00:00-23:59, or 24:00 as an end); got {text!r}")
    return time(hours, minutes)


@dataclass(frozen=True)
class AllowedRange:
    days: frozenset[int]
    start: time
    end: time | None  # None: until midnight

    @classmethod
    def parse(cls, text: str) -> AllowedRange:
        match = _RANGE.match(text.strip().lower())
        if not match:
            raise ValueError(f"'<days> HH:MM-HH:MM' such as 'mon-fri 09:00-17:00'; got {text!r}")
        start = _clock(match["start"], end=False)
        assert start is not None
        end = _clock(match["end"], end=True)
        if end is not None and end <= start:
            raise ValueError(f"a range whose end is after its start (overnight: two ranges); got {text!r}")
        return cls(_days(match["days"]), start, end)

    def contains(self, local: datetime) -> bool:
        moment = local.time()
        return local.weekday() in self.days and self.start <= moment and (self.end is None or moment < self.end)


def parse_moment(text: str, zone: tzinfo) -> datetime:
    if not _MOMENT.match(text.strip()):
        raise ValueError(f"a local date and time 'YYYY-MM-DD HH:MM'; got {text!r}")
    return datetime.fromisoformat(text.strip().replace(" ", "T")).replace(tzinfo=zone)


@dataclass(frozen=True)
class Window:
    zone: tzinfo
    allowed: tuple[AllowedRange, ...]
    freezes: tuple[tuple[datetime, datetime], ...]

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if any(start <= local < end for start, end in self.freezes):
            return False
        return not self.allowed or any(r.contains(local) for r in self.allowed)

    def next_open(self, moment: datetime) -> datetime | None:
        """``moment`` when open, else the first moment it opens (None: not within SEARCH_DAYS)."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.zone)
        candidates = [end for _, end in self.freezes if end > local]
        day = local.date()
        for offset in range(SEARCH_DAYS):
            date = day + timedelta(days=offset)
            candidates += [datetime.combine(date, r.start, self.zone) for r in self.allowed]
        for candidate in sorted(c for c in candidates if c > local):
            if self.is_open(candidate):
                return candidate
        return None
