"""Scheduling priority of the calling thread (Linux; elsewhere these report "unchanged" and do nothing).

Why: on a 2-core machine the engine's torch threads keep both cores busy, and the output pump (which keeps
the audio ring only ~17 ms ahead of the callback) must still run within a few milliseconds of waking. The
pump asks for a real-time policy (SCHED_FIFO, as JACK clients do) and, where that is not allowed, a lower
nice value; when neither is allowed, the engine thread lowers its own priority instead (always allowed).
Linux keeps priorities per thread and new threads inherit them, so a thread that lowers itself before its
first torch call also lowers the OpenMP workers torch creates for it. Never raises: priority is a wish.
"""

from __future__ import annotations

import os
import threading


def raise_current_thread_priority(realtime_priority: int = 40, nice: int = -10) -> str:
    """Ask for SCHED_FIFO at `realtime_priority`, else for `nice`; returns what was granted, in words."""
    tid = threading.get_native_id()
    if realtime_priority > 0 and hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(realtime_priority))
            return f"SCHED_FIFO {realtime_priority}"
        except (OSError, ValueError):
            pass  # no CAP_SYS_NICE and no rtprio limit (limits.conf / the audio group): try nice
    if nice < 0 and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            return f"nice {nice}"
        except OSError:
            pass
    return "unchanged"


def lower_current_thread_priority(nice_increment: int) -> str:
    """Raise this thread's nice value by `nice_increment` (allowed without privileges); returns it in words."""
    if nice_increment <= 0 or not hasattr(os, "setpriority"):
        return "unchanged"
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice_increment))
        return f"nice {os.getpriority(os.PRIO_PROCESS, tid)}"
    except OSError:
        return "unchanged"

