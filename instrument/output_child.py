"""The output process's own side (`python -m instrument.output_process` runs `child_main`): PortAudio, the
effects pump and a 5 ms bookkeeping loop, over the shared memory the session maps (instrument.output_memory).

Why a child, and why it leaves with os._exit when its stream dies: instrument.output_process. The steps: map the
memory, choose the device and report it, wait for the session's start request, start the pump and then the
stream, and publish counters and the play anchor every MONITOR_SECONDS until a stop request, the parent's end
or the stream's loss.
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import os
import sys
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from engine.priority import raise_current_thread_priority
from engine.vocabulary import SAMPLE_RATE
from instrument.effects_pump import EffectsPump, PumpConfig
from instrument.output import AudioOutput, OutputDevice, choose_output_device
from instrument.output_memory import (ANCHOR_FRAME, ANCHOR_SEQUENCE, ANCHOR_TIME_S, CALLBACKS, EXIT_LOST, GAIN,
                                      HEARTBEAT, NONFINITE_BLOCKS, PEAK, PORTAUDIO_UNDERFLOWS, SHADOW_CALLBACKS,
                                      SHADOW_FRAMES, START_REQUEST, STATE, STATE_FAILED, STATE_LOST, STATE_READY,
                                      STATE_RUNNING, STATE_STOPPED, STOP_REQUEST, UNDERRUNS, MemoryLayout,
                                      memory_size_bytes)

MONITOR_SECONDS = 0.005  # the child's bookkeeping loop: counters, gain, loss check
EXIT_ERROR = 2


class _Leave(Exception):
    """Leave child_main with `code` (its event, if any, has been emitted)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _emit(**event: Any) -> None:
    try:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        # The parent died (an abort, kill -9) and nobody reads our events: the loop notices the new parent id
        # and stops. Point stdout at /dev/null so neither this write nor the exit's flush prints a traceback
        # into the terminal the user got back.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m instrument.output_process",
                                     description="Cascade's audio output process (started by LiveSession).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--ring-frames", type=int, required=True)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--block-frames", type=int, default=512)
    parser.add_argument("--device", default='"auto"', help="JSON: \"auto\", a device index or a name substring")
    parser.add_argument("--pump-config", default="{}", help="JSON: PumpConfig fields")
    parser.add_argument("--parent-pid", type=int, default=0, help="the session's process (the child ends with it)")
    return parser.parse_args(argv)


def child_main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # The parent's pid as the parent said it: read with getppid() after this module's imports, it would be init's
    # when the parent died meanwhile (killed during start-up), and the child would then wait for it for ever.
    parent_pid = args.parent_pid or os.getppid()
    shared = mmap.mmap(args.fd, memory_size_bytes(args.ring_frames, args.channels))
    layout = MemoryLayout(shared, args.ring_frames, args.channels)
    pump_config = PumpConfig(**json.loads(args.pump_config))
    # This thread's bookkeeping loop takes the GIL every 5 ms: at an ordinary priority the engine's torch
    # threads could preempt it while it holds the GIL and so keep the real-time pump waiting behind it (a
    # priority inversion: 38 ms measured). Just below the pump, then; threads started later inherit it.
    raise_current_thread_priority(max(0, pump_config.realtime_priority - 1), pump_config.nice)
    try:
        device = _choose_device(layout.status, json.loads(args.device))
        output, rate = _open_output(layout, device, args.block_frames)
        _wait_for_start_request(layout.status, parent_pid)
        pump = _start_pump_and_stream(layout, output, pump_config, rate)
    except _Leave as leave:
        return leave.code
    return _run_until_stopped(layout.status, output, pump, device, parent_pid)


def _choose_device(status: np.ndarray, requested: Any) -> OutputDevice:
    """The device to play on; _Leave(2) with an error event when choosing failed, _Leave(0) when there is none."""
    try:  # importing sounddevice initialises PortAudio: it sees the servers running now
        device = choose_output_device(None if requested in ("auto", None) else requested)
    except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
        status[STATE] = STATE_FAILED
        _emit(event="error", type=type(error).__name__, message=f"{type(error).__name__}: {error}")
        raise _Leave(EXIT_ERROR) from None
    if device is None:
        status[STATE] = STATE_FAILED
        _emit(event="device", device=None)
        raise _Leave(0)
    return device


def _open_output(layout: MemoryLayout, device: OutputDevice, block_frames: int) -> tuple[AudioOutput, int]:
    """(the output, not started yet, and its rate); reports the device to the parent."""
    # JACK runs at the server's rate; elsewhere PortAudio/ALSA converts 44.1 kHz itself.
    rate = int(device.default_sample_rate) if "JACK" in device.host_api else SAMPLE_RATE
    output = AudioOutput(layout.ring, sample_rate=rate, device=device, block_frames=block_frames,
                         shadow=layout.shadow_ring)
    layout.status[STATE] = STATE_READY
    _emit(event="device", device=asdict(device), sample_rate=rate)
    return output, rate


def _wait_for_start_request(status: np.ndarray, parent_pid: int) -> None:
    """Until the session asks for the stream; _Leave(0) on a stop request or when the parent has gone."""
    while not status[START_REQUEST]:
        if status[STOP_REQUEST] or os.getppid() != parent_pid:
            raise _Leave(0)
        time.sleep(MONITOR_SECONDS)


def _start_pump_and_stream(layout: MemoryLayout, output: AudioOutput, pump_config: PumpConfig,
                           rate: int) -> EffectsPump:
    """Start the pump, then the stream; _Leave(2) with an error event when the stream does not start."""
    status = layout.status
    output.set_gain_linear(float(status[GAIN]))
    # The pump starts first, so the ring holds a block or two before the first callback.
    pump = EffectsPump(layout.dry_ring, layout.ring, layout.return_ring, layout.pump, pump_config, output_rate=rate,
                       device_period=lambda: output.callback_frames, shadow=layout.shadow_ring,
                       shadow_span=lambda: output.shadow_span)
    # A full cyclic-GC pass over this process's ~24,000 objects (numpy, pedalboard, sounddevice) holds the
    # GIL ~9 ms, which the pump would wait out: frozen objects are never walked again.
    gc.freeze()
    pump.start()
    pump.started.wait(1.0)
    try:
        output.start()
    except Exception as error:  # noqa: BLE001
        pump.stop()
        status[STATE] = STATE_FAILED
        _emit(event="error", type=type(error).__name__, message=f"{type(error).__name__}: {error}")
        raise _Leave(EXIT_ERROR) from None
    status[STATE] = STATE_RUNNING
    _emit(event="started")
    return pump


def _publish_status(status: np.ndarray, output: AudioOutput) -> None:
    """The output's counters, gain and play anchor <-> the status block (the anchor under its sequence)."""
    status[HEARTBEAT] += 1
    output.set_gain_linear(float(status[GAIN]))
    status[CALLBACKS] = output.callbacks
    status[UNDERRUNS] = output.underruns
    status[SHADOW_CALLBACKS] = output.shadow_callbacks
    status[SHADOW_FRAMES] = output.shadow_frames
    status[PORTAUDIO_UNDERFLOWS] = output.portaudio_underflows
    status[NONFINITE_BLOCKS] = output.nonfinite_blocks
    status[PEAK] = output.peak
    anchor = output.play_anchor
    if anchor is not None:
        status[ANCHOR_SEQUENCE] += 1  # odd: writing
        status[ANCHOR_TIME_S], status[ANCHOR_FRAME] = anchor
        status[ANCHOR_SEQUENCE] += 1


def _run_until_stopped(status: np.ndarray, output: AudioOutput, pump: EffectsPump, device: OutputDevice,
                       parent_pid: int) -> int:
    """The bookkeeping loop: publish, then leave on a lost stream (os._exit), a stop request or the parent's end."""
    while True:
        _publish_status(status, output)
        if not output.active:
            # The stream ended although nobody stopped it: the server (or device) has gone. Any further
            # PortAudio call (stop, close, Pa_Terminate at exit) would block ~10 minutes and then abort.
            status[STATE] = STATE_LOST
            _emit(event="lost", reason=f"{device.name} ({device.host_api}) stopped: the audio server or device "
                                       "has gone")
            os._exit(EXIT_LOST)
        if status[STOP_REQUEST] or os.getppid() != parent_pid:
            pump.stop()  # first: the session may start its own pump on the dry ring once we are gone
            output.stop()  # the server is alive: a clean stop (the parent kills us if this hangs)
            status[STATE] = STATE_STOPPED
            return 0  # sounddevice's atexit handler terminates PortAudio
        time.sleep(MONITOR_SECONDS)
