"""The audio output: a sounddevice (PortAudio) stream whose callback only copies from the ring buffer,
applies the smoothed master gain, and guards the speakers (NaN/inf -> silence, hard ceiling).

The callback follows the python-sounddevice examples and Friture: no allocation, no locks, no logging,
no torch, no Qt. Everything it touches is preallocated in __init__; counters are plain ints that other
threads read.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic as _monotonic
from typing import Any

import numpy as np

from engine.vocabulary import SAMPLE_RATE
from instrument.ringbuffer import AudioRingBuffer

CEILING: float = 10 ** (-0.3 / 20)  # last-resort brickwall just under full scale
MAX_BLOCK_FRAMES: int = 8192


@dataclass(frozen=True)
class OutputDevice:
    index: int
    name: str
    host_api: str
    channels: int
    default_sample_rate: float


def list_output_devices() -> list[OutputDevice]:
    import sounddevice

    host_apis = sounddevice.query_hostapis()
    devices = []
    for index, info in enumerate(sounddevice.query_devices()):
        if info["max_output_channels"] >= 2:
            devices.append(OutputDevice(index, info["name"], host_apis[info["hostapi"]]["name"],
                                        info["max_output_channels"], info["default_samplerate"]))
    return devices


def parse_output(output: str | int | None) -> str | int | None:
    """An output as the user typed it: a device index ("3") becomes an int; a name, "auto" or "none" stays."""
    return int(output) if isinstance(output, str) and output.isdigit() else output


def choose_output_device(requested: str | int | None = None, prefer_jack: bool = True) -> OutputDevice | None:
    """The device to play on: the requested one (index or name substring), else JACK's default output when
    a JACK server runs (what a DAW user expects on Linux), else PortAudio's default; None if there is none."""
    import sounddevice

    devices = list_output_devices()
    if requested is not None:
        for device in devices:
            if (isinstance(requested, int) and device.index == requested) or (
                    isinstance(requested, str) and requested.lower() in device.name.lower()):
                return device
        raise ValueError(f"no output device matches {requested!r}; available: {[d.name for d in devices]}")
    if prefer_jack:
        for device in devices:
            if "JACK" in device.host_api:
                return device
    try:
        default_index = sounddevice.default.device[1]
    except Exception:  # noqa: BLE001 - PortAudio without devices raises various errors
        default_index = -1
    for device in devices:
        if device.index == default_index:
            return device
    return devices[0] if devices else None


class AudioOutput:
    """Plays whatever the engine writes into `ring`. Thread roles: start/stop from the control thread;
    `_callback` on PortAudio's thread; counters read by anyone."""

    def __init__(self, ring: AudioRingBuffer, sample_rate: int = SAMPLE_RATE, device: OutputDevice | None = None,
                 block_frames: int = 1024, gain_smoothing_seconds: float = 0.05, client_name: str = "Cascade",
                 shadow: AudioRingBuffer | None = None) -> None:
        """shadow: a second ring on the same frame axis, written further ahead (the effects pump's shadow
        chain): frames the ring lacks are played from it, and the ring's reader skips over them."""
        self.ring = ring
        self.shadow = shadow
        self.sample_rate = sample_rate
        self.device = device
        self.block_frames = block_frames
        self.client_name = client_name
        self.underruns = 0  # callbacks that found the ring (and the shadow) short: silence was played
        self.shadow_callbacks = 0  # callbacks that played frames from the shadow ring (no silence)
        self.shadow_frames = 0
        # Ring frames [from, until) of the latest stretch played from the shadow (one tuple store).
        self.shadow_span: tuple[int, int] = (0, 0)
        self.portaudio_underflows = 0
        self.nonfinite_blocks = 0  # blocks in which NaN/inf were replaced by silence
        self.callbacks = 0
        self.peak = 0.0  # last block's peak after gain, for meters
        self.stream_lost = False
        # (time.monotonic() seconds, ring frame): that ring frame reaches the DAC at that time. Set by each
        # callback from PortAudio's timing (one tuple store, read whole by other threads); None before the
        # first callback. Maps stream samples to wall-clock time for the MIDI clock's bar grid.
        self.play_anchor: tuple[float, int] | None = None
        self.callback_frames = 0  # frames the device took in its latest callback: its period (0: none yet)
        self._target_gain = 1.0
        self._gain = 1.0
        self._gain_step_per_frame = 1.0 / max(1.0, gain_smoothing_seconds * sample_rate)
        self._ramp = np.zeros(MAX_BLOCK_FRAMES, dtype=np.float32)
        self._frame_index = np.arange(1, MAX_BLOCK_FRAMES + 1, dtype=np.float32)
        self._finite = np.zeros((MAX_BLOCK_FRAMES, ring.channels), dtype=bool)
        self._stream: Any = None

    def set_gain_db(self, gain_db: float) -> None:
        """Master gain, smoothed in the callback (no zipper noise)."""
        if not np.isfinite(gain_db):
            raise ValueError("gain must be finite")
        self.set_gain_linear(float(10 ** (min(gain_db, 6.0) / 20)))

    def set_gain_linear(self, gain: float) -> None:
        """Master gain as a factor (the output process hands it over this way)."""
        self._target_gain = float(gain)

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio's thread, once per device period: ring (then shadow) -> outdata, gain, guards. Copies from
        the preallocated rings and scratch arrays only: no allocation, lock or logging here."""
        self.callbacks += 1
        if status.output_underflow:
            self.portaudio_underflows += 1
        if frames > MAX_BLOCK_FRAMES:  # never expected; stay safe rather than allocate
            outdata.fill(0.0)
            return
        first_frame = self.ring.frames_read
        dac_delay_s = 0.0
        if time is not None:  # PortAudio's stream clock: how long until this block is heard
            dac_delay_s = min(1.0, max(0.0, time.outputBufferDacTime - time.currentTime))
        self.callback_frames = frames  # the effects pump sizes its ring by the device's period
        self.play_anchor = (_monotonic() + dac_delay_s, first_frame)
        got = self.ring.read_into(outdata)
        shadow = self.shadow
        if got < frames and shadow is not None:
            # The pump came back late: play what its shadow chain made of the same frames further ahead.
            shadow.skip_to(first_frame + got)
            more = shadow.read_into(outdata[got:]) if shadow.frames_read == first_frame + got else 0
            if more:
                self.shadow_callbacks += 1
                self.shadow_frames += more
                span_from, span_until = self.shadow_span
                self.shadow_span = (span_from if span_until == first_frame + got else first_frame + got,
                                    first_frame + got + more)
                got += more
                self.ring.skip_to(first_frame + got)
        if shadow is not None:
            shadow.skip_to(self.ring.frames_read)  # release what the ring played
        if got < frames:
            self.underruns += 1
        self._apply_gain(outdata, frames)
        finite = self._finite[:frames]
        np.isfinite(outdata, out=finite)
        if not finite.all():
            self.nonfinite_blocks += 1
            outdata.fill(0.0)  # a whole silent block beats a burst of garbage
        np.clip(outdata, -CEILING, CEILING, out=outdata)
        self.peak = float(np.abs(outdata).max()) if frames else 0.0

    def _apply_gain(self, outdata: np.ndarray, frames: int) -> None:
        """The callback's gain step (PortAudio's thread): a linear ramp towards the target gain, at most
        `_gain_step_per_frame` per frame, in the preallocated `_ramp` (no allocation)."""
        start, target = self._gain, self._target_gain
        ramp = self._ramp[:frames]
        delta = target - start
        step = self._gain_step_per_frame if delta > 0 else -self._gain_step_per_frame
        if delta == 0.0 or abs(delta) <= self._gain_step_per_frame:
            ramp.fill(target)
        else:
            np.multiply(self._frame_index[:frames], step, out=ramp)
            ramp += start
            np.clip(ramp, min(start, target), max(start, target), out=ramp)
        self._gain = float(ramp[-1])
        outdata *= ramp[:, None]

    def _finished(self) -> None:
        if self._stream is not None and not getattr(self, "_stopping", False):
            self.stream_lost = True

    def start(self) -> None:
        import sounddevice

        self.stream_lost = False
        self._stopping = False
        extra = None
        block_frames = self.block_frames
        if self.device is not None and "JACK" in self.device.host_api:
            extra = sounddevice.default.extra_settings
            # JACK's own period (0: unspecified): a fixed larger block makes PortAudio buffer whole extra
            # JACK cycles (512 on a 256-frame server: every other cycle, a period of latency more).
            block_frames = 0
        self._stream = sounddevice.OutputStream(
            samplerate=self.sample_rate, blocksize=block_frames, device=self.device.index if self.device else None,
            channels=self.ring.channels, dtype="float32", callback=self._callback,
            finished_callback=self._finished, extra_settings=extra)
        self._stream.start()

    def stop(self) -> None:
        self._stopping = True
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def check_lost(self) -> str | None:
        """Why the stream died under us, or None. A JACK server that goes away only clears the stream's active
        flag (no status flag, no finished callback), so "inactive though nobody stopped it" is the test.
        Pa_IsStreamActive does not block; stop/close on such a stream would (see instrument.output_process)."""
        if self._stream is None or getattr(self, "_stopping", False):
            return None
        if self.stream_lost or not self._stream.active:
            self.stream_lost = True
            return "the audio stream stopped (server or device gone)"
        return None
