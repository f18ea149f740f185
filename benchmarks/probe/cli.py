"""Probe cases, command line (issue 17, "the command line never crashes and never makes a full-scale burst"): the
real `cascade` command as a user types it: a quiet play measured from /proc, hostile numbers, a render with every
loudness knob at its end, unwritable outputs, and a MIDI flood through a real JACK virtual port."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.probe.case import Case, Outcome

CASCADE = str(Path(sys.executable).with_name("cascade"))
WORK = Path(tempfile.mkdtemp(prefix="cascade-probe-cli-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
RENDER_PEAK = 10 ** (-1.0 / 20)  # -1 dBFS: engine.render_peak.RENDER_PEAK, every render's ceiling


def cascade(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASCADE, *args], capture_output=True, text=True, timeout=timeout_s)


def last_line(text: str) -> str:
    return (text.strip().splitlines() or ["(nothing)"])[-1]


def refused(args: list[str], words: str) -> Outcome:
    """The command exits at once with status 2 and one clear line naming the option and its range."""
    started_s = time.monotonic()
    result = cascade(*args)
    elapsed_s = time.monotonic() - started_s
    line = last_line(result.stderr)
    seen = f"rc {result.returncode} in {elapsed_s:.1f} s: {line[:110]!r}"
    passed = (result.returncode == 2 and words in line and "Traceback" not in result.stderr and elapsed_s < 10
              and result.stdout == "")
    return Outcome(seen, passed)


def _main_thread_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_play(*args: str) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    """`cascade play ARGS` started, its stderr collected line by line on a thread; the event is set at its
    "playing on" line."""
    process = subprocess.Popen([CASCADE, "play", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    playing = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("playing on"):
                playing.set()

    threading.Thread(target=read, daemon=True).start()
    return process, lines, playing


def quiet_play_idles() -> Outcome:
    """`cascade play --quiet` (the shipped model): the main thread's CPU over 3 s of playing, from /proc."""
    process, lines, playing = start_play("--headless", "--output", "none", "--seconds", "6", "--quiet")
    try:
        playing.wait(120)
        time.sleep(1.0)
        before_s = _main_thread_cpu_s(process.pid)
        time.sleep(3.0)
        after_s = _main_thread_cpu_s(process.pid)
        stdout, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    share = None if before_s is None or after_s is None else (after_s - before_s) / 3.0
    status_lines = sum(line.startswith("chunks") for line in lines)
    underruns = stdout.split('"dry_underruns":', 1)[1].split(",")[0].strip() if '"dry_underruns"' in stdout else "?"
    seen = (f"rc {process.returncode}; main thread {'?' if share is None else f'{100 * share:.1f} %'} of a core "
            f"(was ~82 %); {status_lines} status lines; dry underruns {underruns}")
    return Outcome(seen, process.returncode == 0 and share is not None and share < 0.05 and status_lines == 0)


def loudest_render_stays_under_full_scale() -> Outcome:
    """Every loudness-raising knob at the end of its range through the shipped model: the file's peak."""
    import numpy as np
    import soundfile

    out = WORK / "loudest.wav"
    result = cascade("render", "distorted noise wall, loud", "--seconds", "1", "--steps", "2", "--cfg", "30",
                     "--negative", "quiet soft ambient", "--negative-scale", "30", "--loudness", "0",
                     "--noisiness", "1", "--no-progress", "-o", str(out))
    if result.returncode != 0 or not out.exists():
        return Outcome(f"rc {result.returncode}: {last_line(result.stderr)[:100]!r}", False)
    audio, _ = soundfile.read(out, dtype="float32")
    peak = float(np.abs(audio).max())
    finite = bool(np.isfinite(audio).all())
    seen = f"rc 0; peak {peak:.3f} ({20 * np.log10(max(peak, 1e-9)):.1f} dBFS), finite {finite} (was 16.9)"
    return Outcome(seen, finite and peak <= RENDER_PEAK + 1e-4)


def render_output_checked_first(output: Path, words: str) -> Outcome:
    """A 10-minute render to an output it cannot write: refused before any work, nothing left behind."""
    before = set(WORK.rglob("*"))
    started_s = time.monotonic()
    result = cascade("render", "ambient pad", "--seconds", "600", "-o", str(output))
    elapsed_s = time.monotonic() - started_s
    line = last_line(result.stderr)
    seen = f"rc {result.returncode} in {elapsed_s:.1f} s: {line[:100]!r}"
    passed = (result.returncode == 2 and words in line and elapsed_s < 10 and "Traceback" not in result.stderr
              and set(WORK.rglob("*")) == before)
    return Outcome(seen, passed)


def render_under_a_file() -> Outcome:
    blocker = WORK / "a-file"
    blocker.write_text("")
    return render_output_checked_first(blocker / "out.flac", "not a folder")


def midi_flood_summarised() -> Outcome:
    """200,000 CCs as fast as python-rtmidi sends them into `cascade play --midi` over a JACK dummy server."""
    from benchmarks.jack import start_dummy_jack

    saved_environment = dict(os.environ)
    jackd, server = start_dummy_jack("cascade-probe-midi")
    if jackd is None:
        return Outcome("no JACK server (jackd missing or not starting)", False)
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Flood")
    out.open_virtual_port("knobs")
    process, lines, playing = start_play("--headless", "--debug-model", "--output", "none", "--seconds", "8",
                                         "--quiet", "--midi", "Flood:knobs")
    try:
        playing.wait(120)
        for index in range(200_000):
            out.send_message([0xB0, 21, index % 128])
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        out.close_port()
        out.delete()
        jackd.terminate()
        jackd.wait(10)
        os.environ.clear()
        os.environ.update(saved_environment)
    time.sleep(0.2)  # the reader thread's last lines
    raw = sum("message queue limit reached!!" in line for line in lines)
    summaries = [line.strip() for line in lines if line.startswith("MIDI:") and "dropped" in line]
    seen = (f"rc {process.returncode}; {len(lines)} stderr lines, {raw} raw RtMidi lines (was 154,695), "
            f"{len(summaries)} summaries: {summaries[0][:60] + '...' if summaries else 'none'}")
    return Outcome(seen, process.returncode == 0 and raw == 0 and 1 <= len(summaries) <= 3 and len(lines) < 20)


CASES: list[Case] = [
    ("play --quiet leaves the main loop idle", quiet_play_idles),
    ("play --status-every 0", lambda: refused(["play", "--headless", "--status-every", "0"], "--status-every")),
    ("play --seconds -1", lambda: refused(["play", "--headless", "--seconds", "-1"], "above 0")),
    ("play --seconds nan", lambda: refused(["play", "--headless", "--seconds", "nan"], "above 0")),
    ("play --threads 100000", lambda: refused(["play", "--headless", "--threads", "100000"], "--threads")),
    ("play --threads -4", lambda: refused(["play", "--headless", "--threads", "-4"], "--threads")),
    ("render --negative-scale 1e9", lambda: refused(["render", "x", "--negative", "y", "--negative-scale", "1e9",
                                                     "-o", str(WORK / "x.flac")], "0..30")),
    ("render --negative-scale nan", lambda: refused(["render", "x", "--negative", "y", "--negative-scale", "nan",
                                                     "-o", str(WORK / "x.flac")], "0..30")),
    ("render --cfg inf", lambda: refused(["render", "x", "--cfg", "inf", "-o", str(WORK / "x.flac")], "0..30")),
    ("render at every loudness knob's end stays under -1 dBFS", loudest_render_stays_under_full_scale),
    ("render -o unknown extension", lambda: render_output_checked_first(WORK / "out.xyz", "cannot write .xyz")),
    ("render -o under a file", render_under_a_file),
    ("render -o in /proc", lambda: render_output_checked_first(Path("/proc/cascade-out.flac"), "cannot write there")),
    ("MIDI flood into play --midi", midi_flood_summarised),
]
