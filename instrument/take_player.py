"""Plays a take (FLAC, or anything libsndfile reads) in a child process: `python -m instrument.take_player FILE`.

Why a child. The app's process must never initialise PortAudio: a JACK server that dies under a process that
initialised PortAudio makes it hang or abort (docs/realtime.md, "Losing the audio output";
instrument/output_process.py has the measurements). So the app starts this small program per playback and
stops it by terminating it; PortAudio lives and dies with the child.

The child reads the file with soundfile on a reader thread (blocks into a bounded queue; a long take is never
loaded whole), plays it with a sounddevice callback that only copies from that queue, on the device chosen
like the live output (instrument.output.choose_output_device: JACK when a server runs, else PortAudio's
default). It reports on stdout, one JSON object per line:

    {"event": "opened", "path": ..., "seconds": ..., "sample_rate": ..., "channels": ...}
    {"event": "device", "device": {...OutputDevice...}, "sample_rate": ...}
    {"event": "started"}
    {"event": "finished"}                       the whole file played
    {"event": "stopped"}                        SIGTERM/SIGINT (the app's Stop)
    {"event": "error", "message": "..."}        missing / unreadable file, no device, stream failure, lost server

Exit codes: 0 finished or stopped, 2 error, 3 the audio server went away under the stream (left with
os._exit: any further PortAudio call would hang, as in instrument/output_process.py).

`TakePlayer` is the parent's handle (no Qt): start, stop, and the events read back on a thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parent's handle stays import-light: instrument.output (numpy) loads in the child only
    from instrument.output import OutputDevice

logger = logging.getLogger(__name__)

BLOCK_FRAMES = 2048
QUEUE_BLOCKS = 32  # ~1.5 s read ahead at 44.1 kHz
EXIT_ERROR = 2
EXIT_LOST = 3


# --- the parent's handle ------------------------------------------------------------------------------------


class TakePlayer:
    """Plays one file in a child process. `on_event(event_dict)` is called on the reader thread for every
    event the child reports, plus {"event": "exited", "code": N, "stderr": "..."} when it has gone (also after
    stop()). Only one playback at a time: start() stops the previous one."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.on_event = on_event
        self.path: Path | None = None
        self.started_s: float | None = None  # time.monotonic() when the child said "started"
        self.seconds: float | None = None  # the file's duration, once the child opened it
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def playing(self) -> bool:
        """A child is running (opening, playing or stopping)."""
        process = self._process
        return process is not None and process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, path: str | os.PathLike[str], device: str | int | None = "auto", *, nice: int = 0) -> None:
        """Start playing `path`; errors (missing file, no device...) arrive as events, not exceptions."""
        self.stop()
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # the parent's pid on the command line: a parent killed while the child still imports would otherwise
        # leave the child reading init's pid as its parent and playing on forever
        command = [sys.executable, "-m", "instrument.take_player", "--device", json.dumps(device),
                   "--parent-pid", str(os.getpid()), str(path)]
        with self._lock:
            self.path = Path(path)
            self.started_s = None
            self.seconds = None
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env,
                                       preexec_fn=(lambda: os.nice(nice)) if nice and os.name == "posix" else None)
            self._process = process
            self._reader = threading.Thread(target=self._read, args=(process,), name="cascade-take-player",
                                             daemon=True)
            self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "opened":
                self.seconds = float(event.get("seconds") or 0.0)
            elif event.get("event") == "started":
                self.started_s = time.monotonic()
            self._emit(event)
        code = process.wait()
        stderr = process.stderr.read()
        self._emit({"event": "exited", "code": code, "stderr": stderr[-2000:]})

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - a listener's bug must not kill the reader
                logger.exception("take player event listener failed")

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop playback: SIGTERM (the child stops its stream and leaves), SIGKILL if it does not go in time."""
        with self._lock:
            process, reader = self._process, self._reader
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("take player did not stop in %.0f s: killed", timeout_s)
                process.kill()
                process.wait(5.0)
        if reader is not None and reader is not threading.current_thread():
            reader.join(2.0)

    @property
    def elapsed_s(self) -> float | None:
        return None if self.started_s is None else time.monotonic() - self.started_s


# --- the child ---------------------------------------------------------------------------------------------------


def _emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if "\n" in text else text


def _open_file(path: Path) -> Any:
    import soundfile

    if not path.exists():
        raise FileNotFoundError(f"no such file ({path})")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not an audio file")
    try:
        handle = soundfile.SoundFile(str(path))
    except Exception as error:  # noqa: BLE001 - libsndfile's errors come as RuntimeError/LibsndfileError
        raise ValueError(f"not a readable audio file ({_describe(error)})") from error
    if handle.frames <= 0 or handle.samplerate <= 0:
        handle.close()
        raise ValueError("the file holds no audio")
    return handle


def _resampled_blocks(handle: Any, rate: int, channels: int) -> Any:
    """The whole file resampled to `rate` (only when the device cannot run at the file's rate, e.g. a JACK
    server at 48 kHz), in blocks; scipy's polyphase resampler."""
    import numpy as np
    from scipy.signal import resample_poly

    data = handle.read(dtype="float32", always_2d=True)
    from math import gcd

    g = gcd(rate, handle.samplerate)
    data = resample_poly(data, rate // g, handle.samplerate // g, axis=0).astype(np.float32)
    data = _fit_channels(data, channels)
    for start in range(0, len(data), BLOCK_FRAMES):
        yield data[start:start + BLOCK_FRAMES]


def _fit_channels(block: Any, channels: int) -> Any:
    import numpy as np

    if block.shape[1] == channels:
        return block
    if block.shape[1] == 1:
        return np.repeat(block, channels, axis=1)
    if block.shape[1] > channels:
        return np.ascontiguousarray(block[:, :channels])
    return np.concatenate([block, np.repeat(block[:, -1:], channels - block.shape[1], axis=1)], axis=1)


class _Leave(Exception):
    """Leave _child_main with `code` (its event has been emitted)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Playback:
    """One playback's file -> queue -> callback path: a reader thread reads (and fits, or resamples) blocks into
    a bounded queue; the PortAudio callback only copies from it. `stop` is set by SIGTERM/SIGINT or the end;
    `done` once the callback met the end of the file."""

    def __init__(self, handle: Any, rate: int, channels: int, name: str, stop: threading.Event) -> None:
        import numpy as np

        self.handle = handle
        self.rate = rate
        self.channels = channels
        self.name = name
        self.stop = stop
        self.done = threading.Event()
        self.blocks: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self.reader_error: list[str] = []
        self._pending: Any = np.zeros((0, channels), np.float32)  # what the callback has left of a block

    def read(self) -> None:
        """The reader thread: file -> queue; None marks the end."""
        try:
            if self.rate == self.handle.samplerate:
                while not self.stop.is_set():
                    block = self.handle.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                    if not len(block):
                        break
                    self._put(_fit_channels(block, self.channels))
            else:
                for block in _resampled_blocks(self.handle, self.rate, self.channels):
                    if self.stop.is_set():
                        break
                    self._put(block)
        except Exception as error:  # noqa: BLE001 - a file cut short mid-way, a disk error
            self.reader_error.append(f"reading {self.name} failed: {_describe(error)}")
        finally:
            self._put(None)

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def callback(self, outdata: Any, frames: int, _time: Any, _status: Any) -> None:
        """PortAudio's thread: copy queued blocks into outdata; silence where the reader is behind."""
        filled = 0
        while filled < frames:
            block = self._pending
            if not len(block):
                try:
                    item = self.blocks.get_nowait()
                except queue.Empty:
                    break  # the reader is behind: silence for the rest of this block
                if item is None:
                    self.done.set()
                    break
                self._pending = block = item
            take = min(frames - filled, len(block))
            outdata[filled:filled + take] = block[:take]
            self._pending = block[take:]
            filled += take
        if filled < frames:
            outdata[filled:] = 0.0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m instrument.take_player",
                                     description="Play an audio file on the instrument's output device "
                                                 "(JACK when a server runs); JSON events on stdout.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--device", default='"auto"', help="JSON: \"auto\", a device index or a name substring")
    parser.add_argument("--parent-pid", type=int, default=0, help="the app's process (the child ends with it)")
    return parser.parse_args(argv)


def _child_main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    parent_pid = args.parent_pid or os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        handle = _open_take(args.path)
        device = _choose_device(args.device)
        # JACK runs at the server's rate; elsewhere PortAudio plays the file's own rate.
        rate = int(device.default_sample_rate) if "JACK" in device.host_api else handle.samplerate
        _emit(event="device", device=asdict(device), sample_rate=rate)
        playback = _Playback(handle, rate, min(2, device.channels), args.path.name, stop)
        stream = _start_stream(playback, device)
    except _Leave as leave:
        return leave.code
    finished = _play_until_done(playback, stream, device, parent_pid)
    return _finish(playback, stream, finished)


def _open_take(path: Path) -> Any:
    """The file, opened and reported ("opened"); _Leave(2) with an error event for a missing or broken take, before
    any audio device is touched."""
    try:
        handle = _open_file(path)
    except (OSError, ValueError) as error:
        _emit(event="error", message=f"cannot play {path.name}: {_describe(error)}")
        raise _Leave(EXIT_ERROR) from None
    _emit(event="opened", path=str(path), seconds=handle.frames / handle.samplerate,
          sample_rate=handle.samplerate, channels=handle.channels)
    return handle


def _choose_device(device_argument: str) -> OutputDevice:
    """The OutputDevice to play on (chosen like the live output); _Leave(2) with an error event when there is none."""
    from instrument.output import choose_output_device

    try:
        requested = json.loads(device_argument)
    except json.JSONDecodeError:
        requested = device_argument
    try:  # importing sounddevice initialises PortAudio (in this process only)
        device = choose_output_device(None if requested in ("auto", "none", None) else requested)
    except Exception as error:  # noqa: BLE001
        _emit(event="error", message=f"no audio output for the take player: {_describe(error)}")
        raise _Leave(EXIT_ERROR) from None
    if device is None:
        _emit(event="error", message="no audio output device to play the take on (start JACK or plug one in)")
        raise _Leave(EXIT_ERROR)
    return device


def _start_stream(playback: _Playback, device: OutputDevice) -> Any:
    """Start the reader thread, then the stream ("started"); _Leave(2) with an error event when it cannot open."""
    import sounddevice

    reader = threading.Thread(target=playback.read, name="take-reader", daemon=True)
    reader.start()
    jack = "JACK" in device.host_api
    extra = sounddevice.default.extra_settings if jack else None
    try:
        stream = sounddevice.OutputStream(samplerate=playback.rate, blocksize=1024, device=device.index,
                                          channels=playback.channels, dtype="float32", callback=playback.callback,
                                          extra_settings=extra)
        stream.start()
    except Exception as error:  # noqa: BLE001
        playback.stop.set()
        _emit(event="error", message=f"cannot open {device.name} ({device.host_api}): {_describe(error)}")
        raise _Leave(EXIT_ERROR) from None
    _emit(event="started")
    return stream


def _play_until_done(playback: _Playback, stream: Any, device: OutputDevice, parent_pid: int) -> bool:
    """Wait for the end of the file, a stop or the app's end; True when the whole file played. A stream that dies
    under us (the server gone) leaves at once with os._exit."""
    while not playback.stop.is_set() and not playback.done.is_set():
        if not stream.active:
            # The server (or device) went away: no more PortAudio calls, they would hang (output_process.py).
            _emit(event="error", message=f"{device.name} ({device.host_api}) stopped: the audio server or device "
                                         "has gone")
            os._exit(EXIT_LOST)
        if os.getppid() != parent_pid:  # the app has gone: stop with it
            playback.stop.set()
            break
        time.sleep(0.02)
    return playback.done.is_set() and not playback.stop.is_set()


def _finish(playback: _Playback, stream: Any, finished: bool) -> int:
    """Let the last blocks reach the DAC (when finished), close the stream and the file, say how it ended."""
    if finished:
        time.sleep(min(0.5, 2 * 1024 / playback.rate + float(stream.latency or 0.0)))
    playback.stop.set()
    try:
        stream.stop()
        stream.close()
    except Exception as error:  # noqa: BLE001
        logger.debug("closing the stream failed: %s", error)
    playback.handle.close()
    if playback.reader_error:
        _emit(event="error", message=playback.reader_error[0])
        return EXIT_ERROR
    _emit(event="finished" if finished else "stopped")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
