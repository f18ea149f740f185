"""Probe cases, "runs anywhere, fits any screen" (issue 17): the real `cascade` as a user runs it with no display,
the set-up script's quiet phases and final start there, the real window under Xvfb at a laptop's 1366x768, a
JACK server killed and restarted under `cascade play`, the player killed under its output process, and the
package's metadata built without setuptools' license walls."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.jack import start_dummy_jack
from benchmarks.probe.case import Case, Outcome

ROOT = Path(__file__).resolve().parents[2]
CASCADE = str(Path(sys.executable).with_name("cascade"))
WORK = Path(tempfile.mkdtemp(prefix="cascade-probe-anywhere-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def headless_env(**extra: str) -> dict[str, str]:
    """The environment of an ssh session on a server: no display of any kind (what `env -u DISPLAY` leaves)."""
    return {key: value for key, value in os.environ.items()
            if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")} | extra


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (children inherit it: this finds orphans)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(predicate, timeout_s: float, poll_s: float = 0.1) -> bool:  # noqa: ANN001 - () -> bool
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


def no_display_app() -> Outcome:
    """`env -u DISPLAY cascade`: one line, before the model loads, how to play headless; nothing left behind."""
    marker = f"CASCADE_PROBE_{uuid.uuid4().hex}"
    started_s = time.monotonic()
    result = subprocess.run([CASCADE], capture_output=True, text=True, timeout=120, env=headless_env(**{marker: "1"}))
    elapsed_s = time.monotonic() - started_s
    time.sleep(0.5)
    orphans = processes_with(marker)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    seen = (f"rc {result.returncode} in {elapsed_s:.1f} s, {len(lines)} line(s): {(lines or [''])[0][:90]!r}...; "
            f"{len(orphans)} process(es) left")
    passed = (result.returncode == 2 and len(lines) == 1 and "cascade play --headless" in lines[0]
              and "Traceback" not in result.stderr and "Reinstall" not in result.stderr and elapsed_s < 10
              and not orphans)
    return Outcome(seen, passed)


def setup_without_display() -> Outcome:
    """The README's set-up with no display: quiet phases, and its final start ends cleanly. Only the phases
    that do not reinstall the venv run here (CASCADE_PROBE_FULL_SETUP=1: the whole script, as on a fresh clone)."""
    full = os.environ.get("CASCADE_PROBE_FULL_SETUP") == "1"
    commands = [["bash", "scripts/setup.sh"]] if full else [["bash", "scripts/setup.sh", "--only", "system"],
                                                            ["bash", "scripts/setup.sh", "--only", "start"]]
    out, code, started_s = "", 0, time.monotonic()
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT, env=headless_env())
        out += result.stdout + result.stderr
        code = code or result.returncode
    lines = [line for line in out.splitlines() if line.strip()]
    seen = (f"{'full' if full else 'system + start phases'}: rc {code}, {len(lines)} lines in "
            f"{time.monotonic() - started_s:.0f} s; last: {(lines or [''])[-1][:80]!r}...")
    passed = (code == 0 and "Traceback" not in out and lines and lines[-1].startswith("installed; not starting the app")
              and "cascade play --headless" in lines[-1] and len(lines) <= (4 if full else 2)
              and all(not line.startswith(("Get:", "Selecting", "Unpacking", "!!", "***")) for line in lines))
    return Outcome(seen, passed)


def doctor_without_display() -> Outcome:
    result = subprocess.run([CASCADE, "doctor"], capture_output=True, text=True, timeout=120, env=headless_env())
    display = next((line for line in result.stdout.splitlines() if " display " in line), "")
    platform = next((line for line in result.stdout.splitlines() if "Qt xcb platform" in line), "")
    seen = f"rc {result.returncode}; {platform.split()[0] if platform else '?'} Qt xcb platform; {display[:70]!r}..."
    passed = (platform.startswith("ok") and display.startswith("none") and "cascade play --headless" in display
              and "Traceback" not in result.stderr)
    return Outcome(seen, passed)


def window_fits(size: str) -> Outcome:
    """The real app (shipped model) on an Xvfb screen of `size`: its layout report (gui/layout_report.py)."""
    report_path = WORK / f"layout-{size}.json"
    env = headless_env(QT_QPA_PLATFORM="xcb", CASCADE_USER_DIR=str(WORK / "user"))
    result = subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", CASCADE, "app", "--output", "none",
                             "--quit-after", "2", "--screenshot-after", "2", "--layout-report", str(report_path)],
                            capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0 or not report_path.exists():
        return Outcome(f"rc {result.returncode}: {(result.stderr.strip().splitlines() or [''])[-1][:100]!r}", False)
    report = json.loads(report_path.read_text())
    cut = {name: control["shown"] for name, control in report["controls"].items() if control["shown"] < 1.0}
    seen = (f"frame {report['frame'][2]}x{report['frame'][3]} inside {report['available'][2]}x"
            f"{report['available'][3]}: {report['frame_inside_available']}; scrollbars "
            f"{[name for name, shown in report['scrollbars'].items() if shown] or 'none'}; output panel "
            f"{report['controls']['output']['shown']:.0%}, Save as {report['controls']['save_as']['shown']:.0%} shown; "
            f"cut off: {cut or 'nothing'}")
    passed = (report["frame_inside_available"] and not any(report["scrollbars"].values()) and not cut
              and "Traceback" not in result.stderr)
    return Outcome(seen, passed)


def jack_returns() -> Outcome:
    """`cascade play --headless` into a JACK dummy server that is killed (SIGKILL) and started again: the sound
    comes back by itself, and the player reads words, not a Python call."""
    jack, name = start_dummy_jack("cascade-probe-back")
    if jack is None:
        return Outcome("jackd is not installed or did not start", False)
    log = WORK / "jack-returns.log"
    with open(log, "w") as stderr:
        player = subprocess.Popen([CASCADE, "play", "--headless", "--debug-model", "--seconds", "60",
                                   "--status-every", "5"], stdout=subprocess.PIPE, stderr=stderr, text=True)
    text = lambda: log.read_text()  # noqa: E731
    try:
        playing = wait_for(lambda: "playing on" in text() and "JACK" in text(), 120)
        time.sleep(2.0)
        jack.kill()
        jack.wait(10)
        lost = wait_for(lambda: "output: JACK stopped" in text(), 15)
        time.sleep(3.0)  # the player goes on without a server
        restarted_s = time.monotonic()
        jack = subprocess.Popen(["jackd", "-n", name, "-d", "dummy", "-r", "44100", "-p", "512"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        back = wait_for(lambda: "output: sound is back" in text(), 20)
        back_s = time.monotonic() - restarted_s
        time.sleep(1.5)
        player.send_signal(signal.SIGINT)
        stdout, _ = player.communicate(timeout=60)
    finally:
        if player.poll() is None:
            player.kill()
        jack.terminate()
        jack.wait(10)
    words = next((line for line in text().splitlines() if "JACK stopped" in line), "")
    summary = json.loads(stdout[stdout.index("{"):]) if "{" in stdout else {}
    seen = (f"playing {playing}, loss told {lost}: {words[:70]!r}...; back by itself {back} "
            f"({back_s:.1f} s after jackd restarted); final output {summary.get('output', '?')!r}, "
            f"rc {player.returncode}")
    passed = (playing and lost and back and "restart_output" not in text() and "Traceback" not in text()
              and player.returncode == 0 and "JACK" in str(summary.get("output")))
    return Outcome(seen, passed)


def _output_child(marker: str) -> bool:
    """Whether a process carrying `marker` is an output process (instrument/output_process.py)."""
    for pid in processes_with(marker):
        try:
            if b"instrument.output_process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _kill_player(after_child_s: float | None, log: Path) -> tuple[bool, bool, bool]:
    """`cascade play` into JACK killed with SIGKILL `after_child_s` after its output process appeared (None:
    once it plays): (was it playing, is everything it started gone, did anything print a traceback after)."""
    marker = f"CASCADE_PROBE_{uuid.uuid4().hex}"
    with open(log, "w") as stderr:
        player = subprocess.Popen([CASCADE, "play", "--headless", "--debug-model", "--seconds", "60"],
                                  stdout=subprocess.DEVNULL, stderr=stderr, env=os.environ | {marker: "1"})
    if after_child_s is None:
        wait_for(lambda: "playing on" in log.read_text(), 120)
    else:
        wait_for(lambda: _output_child(marker), 120, poll_s=0.01)
        time.sleep(after_child_s)
    playing = "playing on" in log.read_text()
    size = log.stat().st_size
    player.kill()
    player.wait(10)
    gone = wait_for(lambda: not processes_with(marker), 10)
    time.sleep(0.5)  # a child's last words, if any, land in the log
    after = log.read_bytes()[size:].decode(errors="replace")
    for pid in processes_with(marker):  # what the case found lingering goes now (it is ours)
        os.kill(pid, signal.SIGKILL)
    return playing, gone, "Traceback" in after or "BrokenPipe" in after


def player_killed_under_output() -> Outcome:
    """`cascade play` into JACK killed with SIGKILL (as Qt's abort did to the app) from the moment its output
    process appears (still importing, opening PortAudio, starting its stream) to playing: that child leaves
    without a word (it printed a BrokenPipe traceback after the prompt returned) and does not linger (killed
    during its imports, it waited for ever)."""
    jack, _name = start_dummy_jack("cascade-probe-orphan")
    if jack is None:
        return Outcome("jackd is not installed or did not start", False)
    results = []
    try:
        for index, after_s in enumerate((0.0, 0.05, 0.15, 0.3, 0.5, 0.8, None)):
            results.append((after_s, *_kill_player(after_s, WORK / f"orphan-{index}.log")))
    finally:
        jack.terminate()
        jack.wait(10)
    lingering = [after_s for after_s, _, gone, _ in results if not gone]
    noisy = [after_s for after_s, _, _, traceback in results if traceback]
    seen = (f"{len(results)} kills, 0-0.8 s after the output process appeared and while playing: processes left "
            f"after {lingering or 'none'}, tracebacks after {noisy or 'none'}")
    return Outcome(seen, results[-1][1] and not lingering and not noisy)


def license_metadata() -> Outcome:
    """The package's metadata builds without setuptools' license-deprecation wall (pyproject: SPDX string)."""
    build = WORK / "build-metadata"
    (build / "instrument").mkdir(parents=True)
    (build / "instrument" / "__init__.py").write_text("")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, build / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(build / "dist"), str(build)],
                            capture_output=True, text=True, timeout=600)
    said = (result.stdout + result.stderr).lower()
    wall = "license" in said and "deprecat" in said
    wheel = next((build / "dist").glob("*.whl"), None) if (build / "dist").exists() else None
    seen = f"pip wheel rc {result.returncode}; wheel built {wheel is not None}; license deprecation warning {wall}"
    return Outcome(seen, result.returncode == 0 and wheel is not None and not wall)


CASES: list[Case] = [
    ("`env -u DISPLAY cascade`: one line, how to play headless, no traceback, no orphan", no_display_app),
    ("`env -u DISPLAY bash scripts/setup.sh`: one line a phase, the final start ends cleanly", setup_without_display),
    ("`env -u DISPLAY cascade doctor`: the display and the Qt platform reported", doctor_without_display),
    ("the app under Xvfb at 1366x768: frame on screen, output panel and Save as shown",
     lambda: window_fits("1366x768")),
    ("the app under Xvfb at 1440x900 (the reported screen)", lambda: window_fits("1440x900")),
    ("JACK killed and restarted under `cascade play`: the sound comes back by itself", jack_returns),
    ("`cascade play` killed under its output process: no traceback, no orphan", player_killed_under_output),
    ("pyproject's license: no setuptools deprecation wall", license_metadata),
]
