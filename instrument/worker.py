"""One small base for the instrument's loop threads (effects pump, feeder, software clock)."""

from __future__ import annotations

import threading


class Worker:
    """A named daemon thread that runs `_run` until `stop()`. `_run` loops while `self._stop` is not set and
    waits on it between rounds (so stop() wakes it at once)."""

    thread_name = "cascade-worker"
    join_timeout_s = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
