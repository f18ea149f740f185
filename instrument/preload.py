"""The desktop app's model, loaded before its window exists.

The app's first sound waits for torch's import, the model, the TorchScript trace of the live engine's one shape
and the first chunk. On a 2-core machine nearly all of that, and all of Qt's imports and the window's build,
hold the GIL, so running them side by side on threads does not make them shorter; what can overlap is the
first chunk, whose traced U-Net runs in C++ without the GIL. So the app (instrument.app_start.start_app_instrument)
goes in this order:

1. torch is imported, then a `ModelPreload` thread loads the model and runs a one-step warm-up chunk, which
   traces the live shape (`Generator.warm_up`; a trace while playing would stall the window: docs/gui.md);
2. meanwhile the main thread applies the start preset (Qt-free) and announces the first chunk's request
   (`set_first_request`), then waits for the warm-up (`wait_warmed_up`) instead of competing with it;
3. the preload computes that first chunk (`Generator.prepare_first_chunk`; the engine takes it and the first
   sound does not wait for it) while the main thread imports Qt and builds the window.

PySide6 installs an import hook while it is being imported, and a model loading on another thread meanwhile
once failed its own imports ("No module named 'socket'"). Every lazy import of a chunk happens in the warm-up,
before Qt's import starts; and should one still fail (a warm-up that outlasted the main thread's wait), the
step is run again once the caller says Qt's imports are done (`imports_done`).
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
    import engine.stream  # noqa: F401


class ModelPreload:
    """Loads a generator on its own thread, warms its live shape up and computes the announced first chunk;
    `result()` waits for all of it.

    load: () -> engine.generate.Generator (raises what a load raises: a missing or corrupt model file...).
    window_frames: the live engine's window (latent frames): the warm-up chunk has its shape.
    """

    def __init__(self, load: Callable[[], Any], window_frames: int, first_request_wait_s: float = 0.0) -> None:
        """first_request_wait_s: how long the preload, once warmed up, waits for `set_first_request` before it
        finishes without a first chunk (0: whoever will call it does so before the warm-up ends, or nobody
        will)."""
        self._load = load
        self.window_frames = int(window_frames)
        self.first_request_wait_s = first_request_wait_s
        self._first_request: Any = None
        self._first_request_set = threading.Event()
        self._warmed_up = threading.Event()  # also set when the load or warm-up failed
        self._future: Future = Future()
        self._imports_done = threading.Event()
        self.timings_s: dict[str, float] = {"started": time.monotonic()}
        self._thread = threading.Thread(target=self._run, name="cascade-preload", daemon=True)
        self._thread.start()

    def imports_done(self) -> None:
        """The caller has finished importing Qt: an import that failed beside it may be tried again."""
        self._imports_done.set()

    def set_first_request(self, request: Any) -> None:
        """What the live engine's first chunk will ask for (an engine.request.GenerationRequest, from the
        preset just applied): the preload computes that chunk and the generator keeps it for the engine."""
        self._first_request = request
        self._first_request_set.set()

    def wait_warmed_up(self, timeout_s: float | None = None) -> bool:
        """Block until the model is loaded and its live shape traced (or that failed); False on timeout."""
        return self._warmed_up.wait(timeout_s)

    def result(self, timeout_s: float | None = None) -> Any:
        """The loaded generator; raises what the load raised (the app shows it on its banner)."""
        return self._future.result(timeout_s)

    def done(self) -> bool:
        return self._future.done()

    def _run(self) -> None:
        try:
            generator = self._load()
            self.timings_s["loaded"] = time.monotonic()
            self._retrying_a_failed_import(lambda: generator.warm_up(self.window_frames))
            self.timings_s["warmed_up"] = time.monotonic()
            self._warmed_up.set()
            if self._first_request_set.wait(self.first_request_wait_s):
                self._retrying_a_failed_import(
                    lambda: generator.prepare_first_chunk(self._first_request, self.window_frames))
                self.timings_s["first_chunk"] = time.monotonic()
        except BaseException as error:  # handed to whoever asks for the result
            self._warmed_up.set()
            self._future.set_exception(error)
            return
        logger.info("model preloaded in %.2f s", time.monotonic() - self.timings_s["started"])
        self._future.set_result(generator)

    def _retrying_a_failed_import(self, step: Callable[[], None]) -> None:
        """Run `step`; if an import inside it failed (Qt's import hook beside it), run it again after Qt's
        imports."""
        try:
            step()
        except ImportError:
            logger.warning("an import failed during the model's warm-up; trying again after Qt's imports",
                           exc_info=True)
            self._imports_done.wait(60.0)
            step()
