"""Takes: the output recorded to 24-bit FLAC, written incrementally by a writer thread, with a JSON-lines
automation log (every parameter change at its sample position) and a JSON sidecar (seeds, model id, state).

Crash safety: audio is flushed every `flush_seconds`; after a crash (or a disk that filled up) the FLAC's
header still says "length unknown", which JUCE-based readers (pedalboard) decode up to the last complete
frame; `repair_take` re-encodes such a file into a finalised FLAC that every reader accepts. The sidecar
says "recording" until a clean close sets "complete", so a crashed take is recognised on the next start.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

SAMPLE_RATE: int = 44100
FORMAT = "cascade-take"


@dataclass
class TakeStatus:
    frames_written: int = 0
    blocks_dropped: int = 0  # the writer fell behind by more than the queue holds
    error: str | None = None  # e.g. "disk full"; recording stopped, the file is valid up to here
    finished: bool = False


@dataclass(frozen=True)
class AutomationEvent:
    frame: int  # sample position in the take
    name: str
    value: Any
    source: str = ""


class TakeWriter:
    """Record blocks of (frames, channels) float32 audio. `write` and `log` never block (real-time safe
    enough for the engine thread); the file work happens on the writer thread."""

    def __init__(self, directory: Path, name: str | None = None, sample_rate: int = SAMPLE_RATE, channels: int = 2,
                 metadata: dict[str, Any] | None = None, flush_seconds: float = 1.0, queue_blocks: int = 512) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = name or time.strftime("take-%Y%m%d-%H%M%S")
        self.audio_path = self.directory / f"{stem}.flac"
        self.log_path = self.directory / f"{stem}.automation.jsonl"
        self.sidecar_path = self.directory / f"{stem}.json"
        self.sample_rate = sample_rate
        self.channels = channels
        self.metadata = dict(metadata or {})
        self.flush_frames = int(flush_seconds * sample_rate)
        self.status = TakeStatus()
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=queue_blocks)
        self._thread: threading.Thread | None = None
        self._file: soundfile.SoundFile | None = None
        self._log_handle: Any = None

    def start(self) -> None:
        self._write_sidecar("recording")
        self._file = soundfile.SoundFile(str(self.audio_path), "w", self.sample_rate, self.channels, "PCM_24",
                                         format="FLAC")
        self._log_handle = open(self.log_path, "w", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="take-writer", daemon=True)
        self._thread.start()

    def write(self, block: np.ndarray) -> None:
        """Queue a copy of `block` (frames, channels); drops (and counts) it if the writer is far behind."""
        if self.status.error or self.status.finished:
            return
        try:
            self._queue.put_nowait(("audio", np.array(block, dtype=np.float32, copy=True)))
        except queue.Full:
            self.status.blocks_dropped += 1

    def log(self, event: AutomationEvent) -> None:
        try:
            self._queue.put_nowait(("event", event))
        except queue.Full:
            self.status.blocks_dropped += 1

    def close(self, timeout_seconds: float = 10.0) -> TakeStatus:
        """Finish writing, finalise the FLAC and the sidecar. Safe to call twice."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout_seconds)
            self._thread = None
        return self.status

    def _run(self) -> None:
        since_flush = 0
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self.status.error:
                continue
            kind, payload = item
            try:
                if kind == "audio":
                    self._file.write(np.clip(np.nan_to_num(payload), -1.0, 1.0))
                    self.status.frames_written += len(payload)
                    since_flush += len(payload)
                    if since_flush >= self.flush_frames:
                        self._flush()
                        since_flush = 0
                else:
                    self._log_handle.write(json.dumps({"frame": payload.frame, "name": payload.name,
                                                       "value": payload.value, "source": payload.source}) + "\n")
            except (OSError, RuntimeError) as error:  # libsndfile reports a full disk as a RuntimeError
                self.status.error = _describe(error, self.audio_path)
        self._finish()

    def _flush(self) -> None:
        self._file.flush()
        self._log_handle.flush()
        os.fsync(self._log_handle.fileno())

    def _finish(self) -> None:
        state = "complete"
        for closer in (self._file.close, self._log_handle.close):
            try:
                closer()
            except (OSError, RuntimeError) as error:
                self.status.error = self.status.error or _describe(error, self.audio_path)
        if self.status.error:
            state = "stopped: " + self.status.error
        self.status.finished = True
        try:
            self._write_sidecar(state)
        except OSError:
            pass  # the disk is full: the take's "recording" sidecar marks it for repair on the next start

    def _write_sidecar(self, state: str) -> None:
        data = {"format": FORMAT, "version": 1, "state": state, "audio": self.audio_path.name,
                "automation": self.log_path.name, "sample_rate": self.sample_rate, "channels": self.channels,
                "frames": self.status.frames_written, **self.metadata}
        tmp = self.sidecar_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.sidecar_path)


def _describe(error: BaseException, path: Path) -> str:
    free = None
    try:
        free = os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize
    except OSError:
        pass
    if (isinstance(error, OSError) and error.errno == 28) or (free is not None and free < 1 << 20):
        return "disk full"
    return f"{type(error).__name__}: {error}"


def read_take_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read a take, finalised or not: (channels, frames) float32 and the rate (pedalboard reads FLAC files
    whose length was never written)."""
    from pedalboard.io import AudioFile

    with AudioFile(str(path)) as handle:
        return handle.read(handle.frames), int(handle.samplerate)


def repair_take(path: Path) -> int:
    """Re-encode an unfinalised take (after a crash or a full disk) as a complete 24-bit FLAC; returns frames."""
    audio, sample_rate = read_take_audio(path)
    tmp = Path(path).with_suffix(".repair.flac")
    soundfile.write(str(tmp), audio.T, sample_rate, subtype="PCM_24", format="FLAC")
    os.replace(tmp, path)
    return audio.shape[1]
