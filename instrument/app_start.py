"""The desktop app's start before Qt is imported, in the order instrument/preload.py explains: the output
process spawned, torch imported, the model loading and warming up on the preload thread, the instrument
(instrument.controller, Qt-free) started on the start preset, and the warm-up waited for. The window itself
(gui.app.run_app) comes after, from gui/cli.py: instrument never imports gui.

Cheap to import (no torch): the heavy modules load inside the functions, in the order that keeps the first
sound early."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from instrument.live_setup import GeneratorOptions, load_live_generator

if TYPE_CHECKING:
    from instrument.controller import Instrument
    from instrument.output_process import PreparedOutput
    from instrument.preload import ModelPreload

# How long the app's main thread waits for the model's load and warm-up before importing Qt anyway (a slow disk
# or a big model must not keep the window away for long; the warm-up then finishes beside Qt's import).
APP_WARM_UP_WAIT_S = 3.0


def start_app_instrument(config_fields: dict[str, Any], *, prepare_output: bool = True,
                         announce_first_request: bool = True) -> tuple[Instrument, ModelPreload]:
    """Start the app's instrument (which announces the first chunk, then waits for the model on its operations
    thread and plays) and wait for the model's warm-up (up to APP_WARM_UP_WAIT_S).

    config_fields: instrument.controller.AppConfig's fields but the model's and the output's hand-overs.
    prepare_output=False: the session spawns its own output process (benchmarks compare). Returns
    (Instrument, ModelPreload); the caller imports Qt next, then calls the preload's `imports_done()`."""
    output = config_fields.get("output", "auto")
    prepared_output = start_output_prepare(output) if prepare_output else None
    preload = start_app_preload(_generator_options(config_fields), announce_first_request)
    from instrument.controller import AppConfig, Instrument  # after the preload started: the model loads meanwhile

    config = AppConfig(**config_fields, generator_factory=preload.result, prepared_output=prepared_output,
                       announce_first_request=preload.set_first_request if announce_first_request else None)
    instrument = Instrument(config)
    instrument.start()
    preload.wait_warmed_up(APP_WARM_UP_WAIT_S)
    return instrument, preload


def _generator_options(config_fields: dict[str, Any]) -> GeneratorOptions:
    """The app's model options (as instrument.controller.generator_options reads them from an AppConfig)."""
    return GeneratorOptions(debug_model=config_fields.get("debug_model", False), weights=config_fields.get("weights"),
                            threads=config_fields.get("threads", 0), eager=config_fields.get("eager", False),
                            trace_first_inline=True)


def start_app_preload(options: GeneratorOptions, announce_first_request: bool) -> ModelPreload:
    """The app's model, loading on a thread from now on and traced for the live shape by a warm-up chunk before
    the first sound (instrument/preload.py says why, and why Qt must be imported after this).
    announce_first_request: the instrument will announce its first chunk (the preload then computes it)."""
    from instrument.preload import ModelPreload, import_load_modules

    import_load_modules()
    from engine.stream import EngineConfig

    # The app announces its first chunk right after applying the start preset (Instrument.start), before the
    # model has loaded (start_app_instrument); a second's wait is only a margin.
    return ModelPreload(lambda: load_live_generator(options), EngineConfig().geometry.window_frames,
                        first_request_wait_s=1.0 if announce_first_request else 0.0)


def start_output_prepare(output: str | int) -> Callable[[], PreparedOutput] | None:
    """The app's output process, spawned on a thread before torch is imported (its interpreter, PortAudio and
    the JACK connection, ~0.2 s, then run on the core torch's single-threaded import leaves idle); returns a
    function that waits for it (instrument.output_process.PreparedOutput), or None for no device."""
    if output == "none":
        return None
    future: Future = Future()

    def run() -> None:
        from instrument.output import parse_output  # torch-free; done long before Qt's import hook
        from instrument.output_process import PreparedOutput

        future.set_result(PreparedOutput.start(parse_output(output)))

    threading.Thread(target=run, name="cascade-output-prepare", daemon=True).start()
    return future.result
