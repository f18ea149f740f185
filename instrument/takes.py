"""Takes: the output recorded to 24-bit FLAC, written incrementally by a writer thread, with a JSON-lines
automation log (every parameter change at its sample position) and a JSON sidecar (seeds, model id, state).

A take is never lost, and its sidecar never lies:
- a full disk (or any write error) stops the take at once: the FLAC is finalised in place up to its last
  complete frame (instrument.flac_finalise), the sidecar says "disk_full" (or "failed") with the frames really
  kept and the error, and `on_stopped` tells the player; the engine plays on. A reserve file, written at the
  start and deleted at that moment, leaves room for the sidecar and the rest of the automation log;
- after a crash (kill -9) the sidecar still says "recording" and the FLAC's length is unknown; the writer's
  lock on the automation log is gone, which is how instrument.take_folder tells such a take from one being
  recorded now, and repairs it (the app and `cascade play` on start, `cascade takes repair`);
- `check_record_folder` says, before anything starts, why a folder cannot hold takes.
Sidecar states: recording, complete, disk_full, failed, repaired, empty (nothing was recorded).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from engine.vocabulary import SAMPLE_RATE
from instrument.flac_finalise import FlacFinaliseError, finalise_flac, flac_total_samples

FORMAT = "cascade-take"
# The sidecar's states ("empty": not one complete FLAC frame was recorded).
RECORDING, COMPLETE, DISK_FULL, FAILED = "recording", "complete", "disk_full", "failed"
REPAIRED, EMPTY = "repaired", "empty"
RESERVE_BYTES = 128 * 1024  # freed when the disk fills: the sidecar, the automation log's buffer, some margin
BYTES_PER_SECOND_24BIT_STEREO = SAMPLE_RATE * 2 * 3  # an upper bound for a FLAC take (noise barely compresses)


class RecordFolderError(OSError):
    """A folder that cannot hold takes; the message says why, in words."""


@dataclass
class TakeStatus:
    frames_written: int = 0  # once finished: the frames the finalised FLAC holds
    blocks_dropped: int = 0  # the writer fell behind by more than the queue holds
    error: str | None = None  # e.g. "disk full"; recording stopped, the file is valid up to here
    finished: bool = False
    state: str = RECORDING  # the sidecar's state


@dataclass(frozen=True)
class AutomationEvent:
    frame: int  # sample position in the take
    name: str
    value: Any
    source: str = ""


def check_record_folder(directory: Path) -> Path:
    """Create `directory` if needed and check that a take can be written there (a real write, so a read-only
    mount, a missing permission or a path that is a file show up now, not mid-take). Returns it resolved;
    raises RecordFolderError with a one-line reason."""
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise RecordFolderError(f"cannot record to {directory}: it is a file, not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RecordFolderError(f"cannot create the record folder {directory}: {_reason(error)}") from None
    probe = directory / f".cascade-write-check-{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(os.urandom(RESERVE_BYTES))  # the reserve every take holds
    except OSError as error:
        raise RecordFolderError(f"cannot record to {directory}: {_reason(error)}") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only file system refuses even removing what is not there
    free_bytes = shutil.disk_usage(directory).free
    if free_bytes < RESERVE_BYTES + BYTES_PER_SECOND_24BIT_STEREO:
        raise RecordFolderError(f"cannot record to {directory}: the disk is full ({free_bytes // 1024} KB free)")
    return directory.resolve()


def check_room(output: Path, frames: int, channels: int = 2) -> None:
    """Raise RecordFolderError unless `output`'s folder exists and its disk holds `frames` of 24-bit audio (an
    upper bound for a FLAC file): a re-render checks before its minutes of work, not after."""
    folder = Path(output).parent
    if not folder.is_dir():
        raise RecordFolderError(f"cannot write {output}: the folder {folder} does not exist")
    needed_bytes = frames * channels * 3 + RESERVE_BYTES
    free_bytes = shutil.disk_usage(folder).free
    if free_bytes < needed_bytes:
        raise RecordFolderError(f"no room for {Path(output).name} in {folder}: it needs about "
                                f"{needed_bytes / 1e6:.1f} MB and the disk has {free_bytes / 1e6:.1f} MB free; "
                                "free some space or write it elsewhere (-o)")


class TakeWriter:
    """Record blocks of (frames, channels) float32 audio. `write` and `log` never block (real-time safe
    enough for the engine thread); the file work happens on the writer thread.

    on_stopped(status): called once on the writer thread when the take stops by itself (a full disk, a write
    error), after the FLAC and the sidecar are finalised: tell the player there."""

    def __init__(self, directory: Path, name: str | None = None, sample_rate: int = SAMPLE_RATE, channels: int = 2,
                 metadata: dict[str, Any] | None = None, flush_seconds: float = 1.0, queue_blocks: int = 512,
                 on_stopped: Callable[[TakeStatus], None] | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = _free_stem(self.directory, name or time.strftime("take-%Y%m%d-%H%M%S"))
        self.audio_path = self.directory / f"{stem}.flac"
        self.log_path = self.directory / f"{stem}.automation.jsonl"
        self.sidecar_path = self.directory / f"{stem}.json"
        self.reserve_path = reserve_path_for(self.sidecar_path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.metadata = dict(metadata or {})
        self.flush_frames = int(flush_seconds * sample_rate)
        self.on_stopped = on_stopped
        self.status = TakeStatus()
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue(maxsize=queue_blocks)
        self._thread: threading.Thread | None = None
        self._file: soundfile.SoundFile | None = None
        self._log_handle: Any = None

    @property
    def seconds(self) -> float:
        return self.status.frames_written / self.sample_rate

    def start(self) -> None:
        """Create the take's files; an OSError leaves none of them behind."""
        created: list[Path] = []
        try:
            created.append(self.reserve_path)
            with open(self.reserve_path, "xb") as reserve:
                reserve.write(os.urandom(RESERVE_BYTES))  # random bytes: really allocated, even on a compressing fs
            created.append(self.log_path)
            self._log_handle = open(self.log_path, "x", encoding="utf-8")
            # Held until the take is finalised: a take whose log nobody holds while its sidecar says "recording"
            # was left by a crash (instrument.take_folder repairs it; it leaves a locked one alone).
            fcntl.flock(self._log_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            created += [self.sidecar_path, sidecar_tmp_path(self.sidecar_path)]
            self._write_sidecar(RECORDING)
            created.append(self.audio_path)
            self._file = soundfile.SoundFile(str(self.audio_path), "w", self.sample_rate, self.channels, "PCM_24",
                                             format="FLAC")
        except (OSError, RuntimeError) as error:
            if self._log_handle is not None:
                self._log_handle.close()
            for path in created:  # only what this take created: never another take's files
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
            raise RecordFolderError(f"cannot record to {self.directory}: {_reason(error)}") from None
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
        if self.status.error or self.status.finished:
            return
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
            if self.status.finished:
                continue  # stopped by an error: drain what was queued before it
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
                self.status.error = describe_write_error(error, self.audio_path)
                self._finish()  # now, not at close: the file is readable and the player told at once
                if self.on_stopped is not None:
                    try:
                        self.on_stopped(self.status)
                    except Exception:  # noqa: BLE001 - a listener's bug must not kill the writer thread
                        pass
        if not self.status.finished:
            self._finish()

    def _flush(self) -> None:
        self._file.flush()
        self._log_handle.flush()
        os.fsync(self._log_handle.fileno())

    def _finish(self) -> None:
        """Close the FLAC (after a write error libsndfile cannot finalise it: finalise_flac does, in place),
        release the reserve, write the sidecar, and only then let go of the lock (the log)."""
        try:
            self._file.close()
        except (OSError, RuntimeError) as error:  # the last frames did not fit
            self.status.error = self.status.error or describe_write_error(error, self.audio_path)
        self.reserve_path.unlink(missing_ok=True)
        if self.status.error or flac_total_samples(self.audio_path) != self.status.frames_written:
            try:
                self.status.frames_written = finalise_flac(self.audio_path)
            except (OSError, FlacFinaliseError) as error:
                self.status.error = self.status.error or describe_write_error(error, self.audio_path)
        try:
            self._log_handle.flush()
        except (OSError, ValueError):
            pass  # the disk filled in the log's buffer: rerender reads the complete lines
        if self.status.error:
            state = DISK_FULL if self.status.error == "disk full" else FAILED
        else:
            state = COMPLETE if self.status.frames_written else EMPTY
        try:
            self._write_sidecar(state)
        except OSError:
            pass  # not even the reserve's room: the "recording" sidecar marks the take for repair at the next start
        self.status.state = state
        self.status.finished = True
        try:
            self._log_handle.close()
        except OSError:
            pass

    def _write_sidecar(self, state: str) -> None:
        data = {"format": FORMAT, "version": 1, "state": state, "audio": self.audio_path.name,
                "automation": self.log_path.name, "sample_rate": self.sample_rate, "channels": self.channels,
                "frames": self.status.frames_written,
                "seconds": round(self.status.frames_written / self.sample_rate, 3),
                "error": self.status.error, **self.metadata}
        write_sidecar(self.sidecar_path, data)


def write_sidecar(path: Path, data: dict[str, Any]) -> None:
    """Replace the sidecar atomically (a temporary file, then a rename); when the disk has no room for the
    temporary file, overwrite the old sidecar in place (it already holds its blocks). Leaves no temporary file."""
    text = json.dumps(data, indent=2) + "\n"
    tmp = sidecar_tmp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return
    except OSError:
        tmp.unlink(missing_ok=True)
        if not path.exists():
            raise
    with open(path, "r+", encoding="utf-8") as handle:
        handle.write(text)
        handle.truncate()


def reserve_path_for(sidecar: Path) -> Path:
    return sidecar.with_name(f".{sidecar.stem}.reserve")


def sidecar_tmp_path(sidecar: Path) -> Path:
    return sidecar.with_suffix(".tmp")


def _free_stem(directory: Path, stem: str) -> str:
    """`stem`, or stem-2, stem-3...: a second take in the same second must not overwrite the first."""
    candidate, number = stem, 1
    while any((directory / f"{candidate}{suffix}").exists() for suffix in (".json", ".flac", ".automation.jsonl")) \
            or reserve_path_for(directory / f"{candidate}.json").exists():
        number += 1
        candidate = f"{stem}-{number}"
    return candidate


def _reason(error: BaseException) -> str:
    """An OSError in words ("read-only file system", "permission denied"), without Python's decoration."""
    if isinstance(error, OSError) and error.errno is not None:
        if error.errno == errno.ENOSPC:
            return "the disk is full"
        return os.strerror(error.errno).lower()
    return str(error)


def describe_write_error(error: BaseException, path: Path) -> str:
    """"disk full" (libsndfile reports ENOSPC as a bare RuntimeError: the free space tells), else the error."""
    free = None
    try:
        stats = os.statvfs(path.parent)
        free = stats.f_bavail * stats.f_frsize
    except OSError:
        pass
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or (free is not None and free < 1 << 20):
        return "disk full"
    return f"{type(error).__name__}: {error}"


def read_take_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read a take, finalised or not: (channels, frames) float32 and the rate (pedalboard reads FLAC files
    whose length was never written)."""
    from pedalboard.io import AudioFile

    with AudioFile(str(path)) as handle:
        return handle.read(handle.frames), int(handle.samplerate)

