"""Peak resident memory of this process over a stretch of code (a sampling thread reading /proc/self/statm).

``resource.getrusage`` only gives the peak of the whole process lifetime, which cannot split a case into
read / network / export; sampling every 20 ms catches any peak that lasts longer than that. Off Linux (no
/proc) the lifetime peak is reported instead.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    """Resident set size now (bytes); the lifetime peak where /proc is missing."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Context manager: ``with PeakMemory() as m: ...`` then ``m.peak_gb`` (resident, GiB)."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, current_rss_bytes())

    def __enter__(self) -> PeakMemory:
        self.peak = current_rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss_bytes())

    @property
    def peak_gb(self) -> float:
        return round(self.peak / 2**30, 3)


def process_age_s() -> float | None:
    """Seconds since this process started (Linux ``/proc``: start time in clock ticks since boot against the
    uptime), so that start-up includes the interpreter and every import; ``None`` where /proc is missing."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
