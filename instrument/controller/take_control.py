"""The app's takes: Record (start, stop, a take that stopped by itself), the takes folder's list and repair, and
re-rendering a take at more steps in a child process."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from engine.vocabulary import SAMPLE_RATE
from instrument.controller.base import ControllerBase
from instrument.controller.config import TakeEntry


class TakeControl(ControllerBase):
    """Record and the takes folder (a part of Instrument)."""

    _rerenders: dict[Path, tuple[subprocess.Popen, Path]]

    def toggle_record(self) -> Future:
        return self._submit("recording", self._stop_take if self.take is not None else self._start_take)

    def _start_take(self) -> None:
        if self.take is not None:
            return
        if self.session is None:  # Record while stopped: start playing, then record
            self._start_session()
            if self.session is None:
                return
        self.take = self.session.start_recording(self.takes_dir, on_stopped=self._on_take_stopped)
        self.takes_version += 1

    def _on_take_stopped(self, status: Any) -> None:
        """The take stopped by itself (a full disk), on its writer thread: the banner says so at once; the
        operations thread lets the take go, so Record records again (once there is room)."""
        self.post("error", f"Recording stopped: {status.error}. The take is kept up to "
                           f"{status.frames_written / SAMPLE_RATE:.1f} s ({self.takes_dir}); still playing. "
                           "Free some space, then Record again.")

        def let_go() -> None:
            if self.take is not None and self.take.status is status:  # not a take started since
                self._stop_take(told=True)

        self._submit("stopping the take", let_go)

    def _repair_takes(self) -> None:
        """Repair the takes a crash left in the takes folder (instrument.take_folder); one banner line."""
        from instrument.take_folder import repair_folder, repair_summary

        results = repair_folder(self.takes_dir)
        if results:
            self.takes_version += 1
            self.post("warning" if any(r.error for r in results) else "info", repair_summary(results, self.takes_dir))

    def _stop_take(self, told: bool = False) -> None:
        """told: the banner already said why the take stopped (_on_take_stopped)."""
        if self.take is None or self.session is None:
            self.take = None
            return
        take, self.take = self.take, None
        status = self.session.stop_recording()
        self.takes_version += 1
        if told:
            return
        if status is not None and status.error:
            self.post("error", f"take {take.audio_path.name}: {status.error}")
        elif status is not None and status.blocks_dropped:
            self.post("warning", f"take {take.audio_path.name}: {status.blocks_dropped} blocks dropped (disk slow)")
        else:
            self.post("info", f"take saved: {take.audio_path}")

    def list_takes(self) -> list[TakeEntry]:
        """Takes in the takes folder, newest first (reads the small JSON sidecars only)."""
        from instrument.take_folder import audio_path_of, is_being_recorded, read_sidecar, sample_rate_of

        entries: list[TakeEntry] = []
        if not self.takes_dir.is_dir():
            return entries
        for sidecar in sorted(self.takes_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            data = read_sidecar(sidecar)
            if data is None:  # another JSON file, unreadable or half-written
                continue
            if data.get("state") == "recording" and sidecar != getattr(self.take, "sidecar_path", None):
                if not is_being_recorded(sidecar, data):  # left by a crash since the start's repair
                    data["state"] = "crashed"
            rerenders = tuple(sorted(sidecar.parent.glob(f"{sidecar.stem}-*steps.flac")))
            entries.append(TakeEntry(sidecar, audio_path_of(sidecar, data),
                                     float(data.get("frames", 0)) / sample_rate_of(data),
                                     str(data.get("state", "?")), rerenders))
        return entries

    def rerender_command(self, sidecar: Path, steps: int, output: Path) -> list[str]:
        """`cascade rerender` on the model that is playing: the debug model when that is what runs (tests,
        --debug-model), the --weights file when one was given, else the shipped model."""
        command = [sys.executable, "-m", "instrument.cli", "rerender", str(sidecar), "--steps", str(steps), "-o",
                   str(output), "--no-progress", "--threads", "1"]
        if self.config.debug_model or getattr(self.generator, "is_debug", False):
            command.append("--debug-model")
        elif self.config.weights:
            command += ["--weights", str(self.config.weights)]
        return command

    def rerender_take(self, sidecar: Path, steps: int = 32) -> Path:
        """Re-render a take at more steps in a separate process (the live engine owns this process's model;
        a child keeps the GUI and the engine free). Returns the output path; poll_rerenders() reports."""
        output = sidecar.with_name(f"{sidecar.stem}-{steps}steps.flac")
        if sidecar in self._rerenders:
            raise RuntimeError(f"{sidecar.name} is already being re-rendered")
        command = self.rerender_command(sidecar, steps, output)
        import shutil

        if shutil.which("nice"):  # below the live engine: a re-render must not cause dropouts
            command = ["nice", "-n", "10", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._rerenders[sidecar] = (process, output)
        return output

    @property
    def rerendering(self) -> tuple[Path, ...]:
        return tuple(self._rerenders)

    def poll_rerenders(self) -> list[tuple[Path, int]]:
        """Finished re-renders since the last call: (output, return code); posts a banner message each."""
        finished: list[tuple[Path, int]] = []
        for sidecar, (process, output) in list(self._rerenders.items()):
            code = process.poll()
            if code is None:
                continue
            del self._rerenders[sidecar]
            finished.append((output, code))
            if code == 0:
                self.post("info", f"re-rendered: {output.name}")
            else:
                tail = (process.stderr.read() if process.stderr else "").strip().splitlines()[-1:] or ["?"]
                self.post("error", f"re-render of {sidecar.name} failed: {tail[0]}")
            self.takes_version += 1
        return finished

