"""How a live instrument is put together, the one way `cascade play`, `cascade rerender` and the app's controller
(instrument.controller) all use: load the live generator from typed options, and build the live session over it.

Cheap to import (no torch): the heavy modules load inside the functions, so `cascade --help` stays instant."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.generate import Generator
    from instrument.session import LiveSession
    from instrument.midi import HeldNotes, MidiClock
    from instrument.monitor import MonitorTap
    from instrument.output_process import PreparedOutput
    from instrument.parameters import ParameterStore


@dataclass(frozen=True)
class GeneratorOptions:
    """Which model plays and how it runs (`cascade play`/`rerender` options; the app's AppConfig fields)."""

    debug_model: bool = False  # random debug-size weights (no trained model)
    weights: str | Path | None = None  # a diffusion .safetensors file; None: the shipped model
    threads: int = 0  # torch CPU threads; 0: live_thread_count() when live, else torch's default
    eager: bool = False  # run the U-Net eagerly (no TorchScript)
    live: bool = True  # plays in real time beside the audio (play, the app); False: offline (rerender)
    # Trace the live shape before the first sound (the app: a trace while playing stalls its window), not in
    # the background after it (`cascade play`: the first chunk comes ~1 s sooner).
    trace_first_inline: bool = False


def live_thread_count(cpu_count: int | None = None) -> int:
    """The live engine's torch threads when none are asked for: one fewer than the CPUs (at least one). The effects
    pump (its own process, real-time priority), the feeder and the window need a core, and torch's threads meet
    at every operation, so one of them preempted stalls the rest: on the 2-core VM one thread played its 8-step
    chunks at a real-time factor of 0.37 where two took 0.55, and knob-to-sound was 440-503 ms against 540-568
    (docs/realtime.md, "Session 26: one torch thread live")."""
    return max(1, (cpu_count if cpu_count is not None else (os.cpu_count() or 1)) - 1)


def load_live_generator(options: GeneratorOptions) -> Generator:
    """The generator for play/rerender/the app: the debug model, options.weights, or the shipped model (CUDA when
    present). FileNotFoundError when the weights file is not there, with what to pass instead."""
    import torch

    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS
    from engine.debug_models import debug_generator
    from engine.generate import Generator

    if options.threads:
        torch.set_num_threads(options.threads)
    elif options.live and "OMP_NUM_THREADS" not in os.environ:  # a thread count set for the process wins
        torch.set_num_threads(live_thread_count())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if options.debug_model:
        return debug_generator(0, device=device)
    weights = Path(options.weights) if options.weights else DEFAULT_DIFFUSION_WEIGHTS
    if not weights.exists():
        raise FileNotFoundError(f"no diffusion model at {weights}: the trained model has not shipped yet. "
                                "Pass --weights FILE, or --debug-model to hear the engine run on random weights.")
    generator = Generator.load(weights, device=device)
    if generator.device.type == "cpu" and not options.eager:
        # No GIL held while the U-Net runs (and a step about as fast as eager despite the 256-token bucket:
        # engine/optimise.py). The shape is traced in the background once the first sound plays (the session
        # releases the tracer then and lengthens its dry lead while the trace holds the GIL): the first chunk
        # runs eager, ~1 s sooner than trace + chunk. The app traces first (trace_first_inline; its preload
        # does it before the window plays): a trace while playing stalls its window.
        generator.use_traced_network(background=True, trace_first_inline=options.trace_first_inline)
    return generator


@dataclass(frozen=True)
class SessionOptions:
    """What a live session is wired to, besides its generator and parameter store."""

    output: str | int | None = "auto"  # as typed: a device index or name, "auto" (JACK if a server runs) or "none"
    midi_clock: MidiClock | None = None  # the MIDI clock the engine follows (bar-line joins), if any
    held_notes: HeldNotes | None = None  # the keys held on the MIDI input: the harmony target (a harmony model)
    prepared_output: PreparedOutput | None = None  # an output process started earlier, adopted if it matches
    on_output_change: Callable[[str, str], None] | None = None  # (level, words): the output lost or back
    monitor: MonitorTap | None = None  # taps the played audio (the app's meters and live view)
    # The engine thread runs at least this much nicer than the caller's (the app: its GUI thread must win a
    # CPU against a chunk being generated on every core); None: the session's own default.
    engine_nice: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # further LiveSession keyword arguments (tests)


def build_session(generator: Generator, store: ParameterStore, options: SessionOptions) -> LiveSession:
    """The live session, wired and not yet started (the caller starts it when its own set-up is done).
    ValueError for an output or option the session refuses."""
    from instrument.session import LiveSession
    from instrument.output import parse_output

    session = LiveSession(generator, store, output=parse_output(options.output), midi_clock=options.midi_clock,
                          held_notes=options.held_notes, prepared_output=options.prepared_output, on_output_change=options.on_output_change,
                          **options.extra)
    if options.monitor is not None:
        session.pump.monitor = options.monitor
    if options.engine_nice is not None:
        session.engine.thread_nice = max(session.engine.thread_nice, options.engine_nice)
        session.engine_nice_fallback = max(session.engine_nice_fallback, options.engine_nice)
    return session
