"""A folder of takes: list them (what each sidecar says, in one row) and repair those a crash left behind.

A take needs repair when its sidecar still says "recording" while no process holds the lock on its automation
log (the writer holds it until the take is finalised: instrument.takes), or when its FLAC was never finalised
(STREAMINFO's length still unknown). Repair finalises the FLAC in place (complete frames kept, a partial last
one cut: no second copy, so it works on a full disk too), sets the sidecar's state to "repaired" with the real
frame count and what it was before, and removes the take's stray temporary and reserve files.
"""

from __future__ import annotations

import fcntl
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.vocabulary import SAMPLE_RATE
from instrument.flac_finalise import FlacFinaliseError, finalise_flac, flac_total_samples
from instrument.takes import (EMPTY, FORMAT, RECORDING, REPAIRED, reserve_path_for, sidecar_tmp_path,
                              write_sidecar)

CRASH_REASON = "the recording process ended without closing the take (a crash, a kill or a power cut)"


@dataclass(frozen=True)
class TakeInfo:
    sidecar: Path
    name: str
    state: str
    seconds: float | None  # None: unknown (a take being recorded, or one that needs repair)
    prompt: str  # the prompts playing when the take started, joined by " | "
    error: str | None


@dataclass(frozen=True)
class RepairResult:
    sidecar: Path
    previous_state: str
    state: str  # "repaired", or "empty" when not one complete FLAC frame was on disk
    frames: int
    seconds: float
    error: str | None = None  # the take could not be repaired (why); it is left as it was

    def line(self) -> str:
        if self.error:
            return f"{self.sidecar.stem}: not repaired: {self.error}"
        if self.state == EMPTY:
            return f"{self.sidecar.stem}: nothing had been recorded (marked empty)"
        return f"{self.sidecar.stem}: repaired, {self.seconds:.1f} s kept (was {self.previous_state!r})"


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """A take's sidecar, or None when `path` is not one (any other JSON file, unreadable, half-written)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def take_sidecars(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(sidecar path, its data) for every take in `directory`, by name."""
    found = []
    for path in sorted(Path(directory).glob("*.json")):
        data = read_sidecar(path)
        if data is not None:
            found.append((path, data))
    return found


def audio_path_of(sidecar: Path, data: dict[str, Any]) -> Path:
    """The take's FLAC, as its sidecar names it."""
    return sidecar.with_name(str(data.get("audio", f"{sidecar.stem}.flac")))


def sample_rate_of(data: dict[str, Any]) -> int:
    """The take's sample rate, as its sidecar says (older sidecars: the instrument's)."""
    return int(data.get("sample_rate", SAMPLE_RATE) or SAMPLE_RATE)


def is_being_recorded(sidecar: Path, data: dict[str, Any]) -> bool:
    """Whether a running process records this take now (it holds the lock on the automation log)."""
    log = sidecar.with_name(str(data.get("automation", f"{sidecar.stem}.automation.jsonl")))
    try:
        with open(log, "rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass  # no log at all: nobody records it
    return False


def needs_repair(sidecar: Path, data: dict[str, Any]) -> bool:
    if data.get("state") == REPAIRED or data.get("state") == EMPTY:
        return False
    audio = audio_path_of(sidecar, data)
    unfinalised = audio.exists() and flac_total_samples(audio) == 0
    if data.get("state") != RECORDING and not unfinalised:
        return False
    return not is_being_recorded(sidecar, data)


def repair_take_files(sidecar: Path, data: dict[str, Any] | None = None) -> RepairResult:
    """Repair one take (see the module's docstring); the sidecar keeps everything else it said."""
    sidecar = Path(sidecar)
    data = dict(data if data is not None else read_sidecar(sidecar) or {})
    previous = str(data.get("state", "?"))
    rate = sample_rate_of(data)
    audio = audio_path_of(sidecar, data)
    try:
        frames = finalise_flac(audio) if audio.exists() else 0  # killed before its first frame: nothing to keep
    except (OSError, FlacFinaliseError) as error:
        return RepairResult(sidecar, previous, previous, int(data.get("frames", 0) or 0), 0.0, str(error))
    state = REPAIRED if frames else EMPTY
    data.update(state=state, frames=frames, seconds=round(frames / rate, 3),
                repair={"previous_state": previous, "repaired_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "reason": CRASH_REASON if previous == RECORDING else f"its audio was never finalised "
                                                                               f"(state {previous!r})"})
    try:
        write_sidecar(sidecar, data)
    except OSError as error:
        return RepairResult(sidecar, previous, previous, frames, frames / rate,
                            f"the audio was finalised, but the sidecar cannot be written: {error}")
    for stray in (sidecar_tmp_path(sidecar), reserve_path_for(sidecar)):
        stray.unlink(missing_ok=True)
    return RepairResult(sidecar, previous, state, frames, frames / rate)


def repair_folder(directory: Path) -> list[RepairResult]:
    """Repair every take in `directory` that needs it (none: an empty list); a missing folder has none."""
    if not Path(directory).is_dir():
        return []
    return [repair_take_files(path, data) for path, data in take_sidecars(directory) if needs_repair(path, data)]


def repair_summary(results: list[RepairResult], directory: Path) -> str:
    """One line for the player: what was repaired in `directory` at start."""
    done = [r for r in results if not r.error]
    failed = [r for r in results if r.error]
    parts = []
    if done:
        parts.append(f"repaired {len(done)} take{'s' if len(done) != 1 else ''} left by a crash in {directory}: "
                     + ", ".join(f"{r.sidecar.stem} ({r.seconds:.1f} s)" for r in done))
    if failed:
        parts.append("could not repair " + "; ".join(r.line() for r in failed))
    return "; ".join(parts)


def list_folder(directory: Path) -> list[TakeInfo]:
    """Every take in `directory`, by name, as its sidecar describes it."""
    infos = []
    for path, data in take_sidecars(directory):
        state = str(data.get("state", "?"))
        rate = sample_rate_of(data)
        if state == RECORDING:
            state = RECORDING if is_being_recorded(path, data) else "crashed (run `cascade takes repair`)"
            seconds = None
        else:
            seconds = float(data.get("frames", 0) or 0) / rate
        infos.append(TakeInfo(path, path.stem, state, seconds, _prompt_of(path, data), data.get("error")))
    return infos


def _prompt_of(sidecar: Path, data: dict[str, Any]) -> str:
    """The sidecar's prompts; older takes have them only in the automation log's first event (take_start)."""
    prompts = data.get("prompts")
    if not isinstance(prompts, list):
        prompts = []
        log = sidecar.with_name(str(data.get("automation", "")))
        try:
            with open(log, encoding="utf-8") as handle:
                for _, line in zip(range(50), handle):
                    event = json.loads(line)
                    if event.get("name") == "take_start":
                        prompts = event.get("value", {}).get("prompts", [])
                        break
        except (OSError, ValueError, AttributeError):
            pass
    return " | ".join(str(p) for p in prompts if str(p).strip())


def format_table(infos: list[TakeInfo]) -> str:
    """The `cascade takes list` table: name, state, seconds, prompt (and the error, when there was one)."""
    rows = [("name", "state", "seconds", "prompt")]
    for info in infos:
        prompt = info.prompt + (f"  [{info.error}]" if info.error else "")
        rows.append((info.name, info.state, "-" if info.seconds is None else f"{info.seconds:.2f}", prompt))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
                     for row in rows)
