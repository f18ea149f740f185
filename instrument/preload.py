"""The desktop app's model, loaded before its window exists.

The app's first sound waits for torch's import, the model (~0.8 s on the 2-core VM), the TorchScript trace of
the live engine's one shape (~0.8 s with its profiling runs) and the first chunk; Qt's imports and the window
need none of them. So the app starts a `ModelPreload` as soon as torch is imported: the model loads on a thread
of its own while Qt is imported and the window is built, and the live shape is traced by a short warm-up
chunk there, before the first sound (a trace while playing holds the GIL long enough to stall the window:
docs/gui.md). That warm-up chunk is the live engine's first chunk when the app says what it will be
(`set_first_request`, from the preset it applied): the generator keeps it, and the first sound does not wait
for it again.

PySide6 installs an import hook while it is being imported, and a model loading on another thread meanwhile
once failed its own imports ("No module named 'socket'"). So the caller imports what the load needs first
(`import_load_modules`), and the warm-up, which may import lazily inside torch, waits for `imports_done()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)


def import_load_modules() -> None:
    """Import, on the calling thread, every module that loading and tracing the shipped model needs."""
    import safetensors.torch  # noqa: F401
    import tokenizers  # noqa: F401
    import torch  # noqa: F401

    import engine.diffusion.checkpoint  # noqa: F401
    import engine.generate  # noqa: F401
    import engine.optimise  # noqa: F401
    import engine.realtime  # noqa: F401


class ModelPreload:
    """Loads a generator on its own thread, then warms its live shape up; `result()` waits for it.

    load: () -> engine.generate.Generator (raises what a load raises: a missing or corrupt model file...).
    window_frames: the live engine's window (latent frames): the warm-up chunk has its shape.
    """

    def __init__(self, load: Callable[[], Any], window_frames: int, first_request_wait_s: float = 0.0) -> None:
        """first_request_wait_s: how long the warm-up, once the model and Qt's imports are ready, waits for
        `set_first_request` before it warms up with a throw-away chunk instead (0: whoever will call it does
        so before the model is loaded, or nobody will)."""
        self._load = load
        self.window_frames = int(window_frames)
        self.first_request_wait_s = first_request_wait_s
        self._first_request: Any = None
        self._first_request_set = threading.Event()
        self._future: Future = Future()
        self._imports_done = threading.Event()
        self.timings_s: dict[str, float] = {"started": time.monotonic()}
        self._thread = threading.Thread(target=self._run, name="cascade-preload", daemon=True)
        self._thread.start()

    def imports_done(self) -> None:
        """The caller has finished importing Qt: the warm-up may import lazily now."""
        self._imports_done.set()

    def set_first_request(self, request: Any) -> None:
        """What the live engine's first chunk will ask for (an engine.generate.GenerationRequest, from the
        preset just applied): the warm-up computes that chunk and the generator keeps it for the engine."""
        self._first_request = request
        self._first_request_set.set()

    def result(self, timeout_s: float | None = None) -> Any:
        """The loaded generator; raises what the load raised (the app shows it on its banner)."""
        return self._future.result(timeout_s)

    def done(self) -> bool:
        return self._future.done()

    def _run(self) -> None:
        try:
            generator = self._load()
            self.timings_s["loaded"] = time.monotonic()
            self._imports_done.wait()
            self._first_request_set.wait(self.first_request_wait_s)
            generator.warm_up(self.window_frames, self._first_request)
            self.timings_s["warmed_up"] = time.monotonic()
        except BaseException as error:  # handed to whoever asks for the result
            self._future.set_exception(error)
            return
        logger.info("model preloaded in %.2f s", time.monotonic() - self.timings_s["started"])
        self._future.set_result(generator)
