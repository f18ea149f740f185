"""Does the GUI thread stall while the engine generates? Runs the real app and measures a timer's lateness.

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/gui_stall.py [--seconds 60] [--threads 2]
        [--output jack|none] [--screenshots docs/screenshots] [--out docs/gui_stall_benchmark.txt]

What it does: starts a JACK dummy server (44.1 kHz, period 512) when --output jack and jackd is installed,
then the app exactly as `cascade` starts it (shipped model, default preset, window shown, display timer at
30 Hz, analysis thread, output process), plus a probe: a second QTimer on the GUI thread firing every
10 ms (Qt.PreciseTimer). Each firing's lateness = time since the previous firing - 10 ms; a GUI thread
that is busy or starved for the GIL shows up as lateness. Measurement starts at the first engine sample
played and runs --seconds while a scripted player works the instrument like a person would: a knob or
the XY pad every 1.5 s, a prompt text every 10 s, a take recorded for 15 s, tabs switched. The
display tick's own duration is reported too (what the app itself does per frame).

Works with any Qt platform: offscreen (QT_QPA_PLATFORM=offscreen) or a real X server (xvfb-run); the
screenshots want the latter (they grab the X server's pixels of the window).
"""

from __future__ import annotations

import time


def _process_start_s() -> float:
    """This process's start on time.monotonic()'s clock, from the kernel's record (so "launch" includes the
    interpreter's start and this script's imports, as a user who typed `cascade` waits for theirs); Linux, else
    now."""
    import os

    try:
        with open("/proc/self/stat") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


PROCESS_START_S = _process_start_s()  # "launch" as a user sees it

import argparse
import os
import platform
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.jack import start_dummy_jack  # noqa: E402

PROBE_INTERVAL_MS = 10
STALL_MS = 50.0

PROMPTS = ("Genre: ambient | Instruments: synth pad, strings | BPM: 124 | Key: A minor",
           "Genre: techno | Instruments: drum kit, synth bass",
           "Genre: jazz | Instruments: piano, upright bass, brushes")


def thread_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native thread id (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    result: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            result[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--output", choices=("jack", "none"), default="jack")
    parser.add_argument("--debug-model", action="store_true", help="tiny random model (smoke runs)")
    parser.add_argument("--eager", action="store_true", help="eager U-Net (no TorchScript)")
    parser.add_argument("--engine-nice", type=int, default=5, help="engine thread nice increment (the app's default)")
    parser.add_argument("--screenshots", default=None, help="folder for PNG screenshots of the playing app")
    parser.add_argument("--out", default=None, help="also write the report here")
    parser.add_argument("--no-first-chunk", action="store_true",
                        help="do not compute the engine's first chunk ahead in the preload (A/B)")
    parser.add_argument("--no-prepared-output", action="store_true",
                        help="spawn the output process when the session starts, not while the app loads (A/B)")
    args = parser.parse_args()

    if "CASCADE_USER_DIR" not in os.environ:  # the take it records goes to a scratch folder, not the user's
        import tempfile

        os.environ["CASCADE_USER_DIR"] = tempfile.mkdtemp(prefix="cascade-gui-stall-")
    jack_started_s = time.monotonic()
    jack = start_dummy_jack("cascade-gui")[0] if args.output == "jack" else None
    jack_seconds = time.monotonic() - jack_started_s  # not part of the app's start: taken off "launch"
    if args.output == "jack" and jack is None:
        print("warning: no JACK server could be started (jackd missing, or stale servers?): measuring with the "
              "software clock", file=sys.stderr)
    from instrument.app_start import start_app_instrument

    # Exactly as `cascade` starts: the output process and the model before Qt (instrument/preload.py).
    instrument, preload = start_app_instrument(
        {"output": "auto" if jack is not None else "none", "threads": args.threads,
               "debug_model": args.debug_model, "eager": args.eager, "engine_nice": args.engine_nice},
        prepare_output=not args.no_prepared_output, announce_first_request=not args.no_first_chunk)
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import create_window

    preload.imports_done()

    app = QApplication(sys.argv[:1])
    launched_s = PROCESS_START_S
    window = create_window(instrument, app)
    window.show()
    shown_s = time.monotonic()
    instrument = window.instrument
    store = instrument.store

    gaps_ms: list[float] = []
    tick_ms: list[float] = []
    clock = QElapsedTimer()
    state = {"measuring": False, "first_sound_s": None, "jack_s": jack_seconds, "started_s": 0.0, "next_gesture": 0, "shots": 0}
    window.tick_done.connect(lambda: tick_ms.append(window.tick_seconds_last * 1000.0) if state["measuring"] else None)

    stalls: list[tuple[float, float, float]] = []  # (seconds after the first sound, lateness ms, run-queue wait ms)
    events: list[tuple[float, str]] = []

    def gil_probe() -> None:
        """A plain Python thread waking every 5 ms: it needs the GIL to wake, so when it is late by much more
        than its own run-queue wait, some thread held the GIL (C code that does not release it)."""
        last_s, last_wait = time.perf_counter(), runqueue_wait_ms()
        while not gil_stop.is_set():
            time.sleep(0.005)
            now_s, wait_ms = time.perf_counter(), runqueue_wait_ms()
            late_ms = (now_s - last_s - 0.005) * 1000
            if state["measuring"] and late_ms > STALL_MS:
                gil_stalls.append((time.monotonic() - state["started_s"], late_ms, wait_ms - last_wait))
            last_s, last_wait = now_s, wait_ms

    def runqueue_wait_ms() -> float:
        """Time the GUI thread has spent runnable but waiting for a CPU (Linux schedstat): a stall with as
        much run-queue wait is the scheduler's (other processes had the cores), not this process's GIL."""
        try:
            with open("/proc/thread-self/schedstat", "rb") as handle:
                return int(handle.read().split()[1]) / 1e6
        except (OSError, IndexError, ValueError):
            return float("nan")

    waits = {"last": runqueue_wait_ms(), "total_ms": 0.0}
    import gc

    gc_pauses: list[tuple[float, int, float, int]] = []  # (seconds after first sound, generation, ms, collected)
    gc_started = {"s": 0.0}

    def on_gc(phase: str, info: dict) -> None:
        # Python's cyclic collector holds the GIL for its whole run: a long one stalls every thread.
        if phase == "start":
            gc_started["s"] = time.perf_counter()
        elif state["measuring"]:
            gc_pauses.append((time.monotonic() - state["started_s"], int(info.get("generation", -1)),
                              (time.perf_counter() - gc_started["s"]) * 1000, int(info.get("collected", 0))))

    gc.callbacks.append(on_gc)
    import threading

    gil_stalls: list[tuple[float, float, float]] = []
    gil_stop = threading.Event()
    gil_thread = threading.Thread(target=gil_probe, name="gil-probe", daemon=True)
    gil_thread.start()

    def stall_sampler() -> None:
        """When the GUI thread has not fired the probe for 40 ms, note where it is (its Python stack; a
        stack ending in app.exec() means Qt's C++ was running: painting, layout, X)."""
        import traceback

        main_id = threading.main_thread().ident
        sampled_for = 0.0
        while not gil_stop.is_set():
            time.sleep(0.01)
            seen_s = last_probe["s"]
            if not state["measuring"] or time.perf_counter() - seen_s < 0.04 or sampled_for == seen_s:
                continue
            sampled_for = seen_s
            frames = sys._current_frames()
            frame = frames.get(main_id)
            stack = traceback.extract_stack(frame) if frame is not None else []
            ours = [f"{Path(f.filename).stem}:{f.name}" for f in stack if "site-packages" not in f.filename]
            where = " > ".join(ours[-3:]) or "?"
            stall_places[where] = stall_places.get(where, 0) + 1
            # What the engine's threads were doing as the GUI thread got going again (a GIL holder in C code
            # is usually still inside the same call when this thread finally gets the GIL).
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, other in frames.items():
                name = names.get(ident, "")
                if name.startswith(("cascade-engine", "cascade-tracer", "cascade-pump")):
                    inner = traceback.extract_stack(other)[-2:]
                    doing = " > ".join(f"{Path(f.filename).stem}:{f.name}" for f in inner)
                    key = f"{name}: {doing}"
                    others_at_stalls[key] = others_at_stalls.get(key, 0) + 1

    last_probe = {"s": time.perf_counter()}
    stall_places: dict[str, int] = {}
    others_at_stalls: dict[str, int] = {}

    def probe() -> None:
        last_probe["s"] = time.perf_counter()
        wait_ms = runqueue_wait_ms()
        waited_ms, waits["last"] = wait_ms - waits["last"], wait_ms
        if state["measuring"]:
            gap_ms = clock.nsecsElapsed() / 1e6
            gaps_ms.append(gap_ms)
            waits["total_ms"] += waited_ms
            if gap_ms - PROBE_INTERVAL_MS > STALL_MS:
                stalls.append((time.monotonic() - state["started_s"], gap_ms - PROBE_INTERVAL_MS, waited_ms))
        clock.restart()

    probe_timer = QTimer()
    probe_timer.setTimerType(Qt.PreciseTimer)
    probe_timer.setInterval(PROBE_INTERVAL_MS)
    probe_timer.timeout.connect(probe)
    clock.start()
    probe_timer.start()
    sampler_thread = threading.Thread(target=stall_sampler, name="stall-sampler", daemon=True)
    sampler_thread.start()

    shots = Path(args.screenshots) if args.screenshots else None
    grabbed: list[tuple[str, object]] = []
    rng = random.Random(0)

    def screenshot(name: str) -> None:
        if shots is None:
            return
        # The X server's pixels, not a re-render; PNG-encoded after the run (encoding holds the GIL ~100 ms,
        # which would stall the GUI and starve the pump: the screenshots would show underruns they caused).
        grabbed.append((name, app.primaryScreen().grabWindow(window.winId()).toImage()))

    def gesture(elapsed_s: float) -> None:
        """The scripted player: one action every 1.5 s."""
        step = state["next_gesture"]
        state["next_gesture"] += 1
        events.append((elapsed_s, f"g{step}"))
        if step == 1:
            store.set_prompt_text(1, PROMPTS[0], "gui")
            store.set_prompt_text(2, PROMPTS[1], "gui")
            store.set_prompt_text(3, PROMPTS[2], "gui")
        elif step % 7 == 0:
            store.set_prompt_text(rng.randrange(1, 4), rng.choice(PROMPTS), "gui")
        elif step % 3 == 0:
            window.xy_pad.set_by_player(rng.random() * 0.6, rng.random() * 0.6)
        elif step % 3 == 1:
            window.controls["cfg_scale"].set_by_player(rng.uniform(3.0, 7.0))
        else:
            window.controls[rng.choice(["fx_reverb_mix", "fx_filter_cutoff_hz", "brightness_hz"])] \
                .set_normalised_by_player(rng.uniform(0.3, 0.9))
        if step == 2:  # a drawn brightness curve (a slow rise and fall over 4 bars), played back
            import math

            lane = window.curves["brightness_hz"]
            lane.values = [0.35 + 0.3 * math.sin(2 * math.pi * i / lane.STEPS) for i in range(lane.STEPS)]
            lane.drawn = True
            window.set_curve_active("brightness_hz", True)
        if step == 4:
            store.set("loudness_db_enabled", 1.0, "gui")
        if step == 6:
            instrument.toggle_record()
            window.tabs.setCurrentIndex(1)
        if step == 16:
            instrument.toggle_record()
        if step == 18:
            window.tabs.setCurrentIndex(2)
        if step == 19:  # a control armed for MIDI learn (no controller here: it stays armed until cancelled)
            instrument.arm_learn("fx_reverb_mix")
        if step == 21:
            instrument.cancel_learn()
        if step == 20:
            window.tabs.setCurrentIndex(0)

    def driver() -> None:
        now_s = time.monotonic()
        status = window.analysis.latest.status
        if not state["measuring"]:
            if status is not None and status.start_to_first_sound_seconds is not None:
                state["cpu_before"] = thread_cpu_seconds()
                state["measuring"] = True
                state["started_s"] = now_s
                session = instrument.session
                # The feeder's own time of the first sample played, not this poll's (up to ~0.2 s later).
                heard_s = now_s if session is None or session.started_s is None else \
                    session.started_s + status.start_to_first_sound_seconds
                state["first_sound_s"] = heard_s - launched_s - jack_seconds
            elif now_s - launched_s > 60:
                print("no sound within 60 s", file=sys.stderr)
                window.close()
                app.quit()
            return
        elapsed_s = now_s - state["started_s"]
        if elapsed_s >= 1.5 * (state["next_gesture"] + 1):
            gesture(elapsed_s)
        for at_s, name in ((8.0, "cascade-playing"), (20.0, "cascade-recording"), (31.5, "cascade-midi")):
            if state["shots"] < 3 and elapsed_s >= at_s and name not in state:
                state[name] = True
                state["shots"] += 1
                screenshot(name)
        if elapsed_s >= args.seconds:
            import threading

            state["cpu_after"] = thread_cpu_seconds()
            state["thread_names"] = {t.native_id: t.name for t in threading.enumerate()}
            state["measuring"] = False
            window.close()
            app.quit()

    driver_timer = QTimer()
    driver_timer.setInterval(100)
    driver_timer.timeout.connect(driver)
    driver_timer.start()
    app.exec()
    gil_stop.set()
    gil_thread.join(1.0)
    sampler_thread.join(1.0)
    final_status = window.analysis.latest.status
    instrument.shutdown()
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        for name, image in grabbed:
            image.save(str(shots / f"{name}.png"))
            print(f"screenshot: {shots / name}.png", file=sys.stderr)
    if jack is not None:
        jack.terminate()
        jack.wait(5)

    lateness = [max(0.0, gap - PROBE_INTERVAL_MS) for gap in gaps_ms]
    if not lateness:
        print("no measurement (no sound?)", file=sys.stderr)
        return 1
    engine = final_status.engine if final_status is not None else None
    lines = [
        f"GUI thread stall probe: the real app ({'debug' if args.debug_model else 'shipped'} model, "
        f"{args.threads} torch threads, output {final_status.output if final_status else '?'}), "
        f"Qt platform {app.platformName()}",
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.python_version()}; measured {args.seconds:.0f} s "
        f"after the first sound ({state['first_sound_s']:.2f} s after launch, imports included), while a scripted player moved a "
        "knob or the pad every 1.5 s, changed prompts, recorded a 15 s take and switched tabs",
        "start-up after launch: window and instrument created " + ", ".join(
            f"{label} {instrument.timings_s[key] - launched_s - jack_seconds:.2f} s" for key, label in
            (("created", "at"), ("model_loaded", "model loaded"), ("session_started", "session started"))
            if key in instrument.timings_s) + f", window shown {shown_s - launched_s - jack_seconds:.2f} s"
        + f", first sound {state['first_sound_s']:.2f} s"
        + "; the preload thread: " + ", ".join(
            f"{key} {preload.timings_s[key] - launched_s - jack_seconds:.2f} s"
            for key in ("started", "loaded", "warmed_up", "first_chunk") if key in preload.timings_s)
        + f"; the engine's first chunk computed during the warm-up: "
        f"{'yes' if getattr(instrument.generator, 'prepared_chunks_used', 0) else 'no'}",
        "",
        f"probe: a {PROBE_INTERVAL_MS} ms PreciseTimer on the GUI thread; lateness = gap between firings - "
        f"{PROBE_INTERVAL_MS} ms",
        f"{'':24}{'n':>7}{'median':>9}{'p99':>9}{'max':>9}{'> 50 ms':>9}",
        f"{'timer lateness (ms)':24}{len(lateness):7d}{statistics.median(lateness):9.2f}"
        f"{percentile(lateness, 0.99):9.2f}{max(lateness):9.2f}{sum(1 for v in lateness if v > STALL_MS):9d}",
    ]
    if tick_ms:
        lines.append(f"{'display tick (ms)':24}{len(tick_ms):7d}{statistics.median(tick_ms):9.2f}"
                     f"{percentile(tick_ms, 0.99):9.2f}{max(tick_ms):9.2f}{sum(1 for v in tick_ms if v > STALL_MS):9d}")
    if engine is not None:
        rtf = "-" if engine.real_time_factor is None else f"{engine.real_time_factor:.2f}"
        lines += ["", f"engine meanwhile: {engine.chunks} chunks, real-time factor {rtf}, steps "
                      f"{engine.steps_used}/{engine.steps_requested}, rollbacks {engine.rollbacks}, errors "
                      f"{engine.errors}; underruns output {final_status.output_underruns} + dry "
                      f"{final_status.dry_underruns}; analysis thread's slowest poll "
                      f"{window.analysis.poll_seconds_max * 1000:.1f} ms"]
    if "cpu_after" in state:
        import threading

        names = state["thread_names"]
        main_id = threading.main_thread().native_id
        groups: dict[str, float] = {}
        for tid, seconds in state["cpu_after"].items():
            used = seconds - state["cpu_before"].get(tid, 0.0)
            name = "GUI thread" if tid == main_id else names.get(tid, "unnamed (torch/OpenMP workers, Qt, PortAudio)")
            name = "cascade-app-ops" if name.startswith("cascade-app-ops") else name
            groups[name] = groups.get(name, 0.0) + used
        lines += ["", "CPU use over the measurement (% of one core): " + ", ".join(
            f"{name} {100 * used / args.seconds:.0f}%" for name, used in sorted(groups.items(), key=lambda kv: -kv[1])
            if used / args.seconds >= 0.005)]
    lines += ["", f"GUI thread's run-queue wait (runnable, no CPU free: other processes or threads had both cores): "
                  f"{waits['total_ms']:.0f} ms in total over the {args.seconds:.0f} s"]
    if stalls:
        lines += ["timer firings later than 50 ms (seconds after the first sound: lateness ms / of which run-queue "
                  "wait ms):",
                  "  " + ", ".join(f"{t:.1f}: {ms:.0f}/{wait:.0f}" for t, ms, wait in stalls)]
    held = [(t, ms, wait) for t, ms, wait in gil_stalls if ms - wait > STALL_MS]
    lines += ["", f"GIL probe (a Python thread waking every 5 ms): {len(gil_stalls)} wake-ups later than 50 ms, "
                  f"{len(held)} of them by more than 50 ms beyond its own run-queue wait (the GIL held elsewhere)"
                  + (": " + ", ".join(f"{t:.1f}: {ms:.0f}/{wait:.0f}" for t, ms, wait in held) if held else "")]
    if stall_places:
        lines += ["where the GUI thread was when the probe was 40 ms overdue (count: innermost frames of ours; "
                  "app.exec = inside Qt's C++):"] + [f"  {count:4d}  {where}" for where, count in
                                                     sorted(stall_places.items(), key=lambda kv: -kv[1])[:8]]
    if gc_pauses:
        slow = [p for p in gc_pauses if p[2] > 20]
        lines += [f"Python garbage collections meanwhile: {len(gc_pauses)}, longest {max(p[2] for p in gc_pauses):.0f} ms"
                  + (" (over 20 ms, seconds after the first sound: ms, generation): " + ", ".join(
                      f"{t:.1f}: {ms:.0f} ms gen {gen}" for t, gen, ms, _ in slow) if slow else "")]
    if others_at_stalls:
        lines += ["the engine's threads at those moments (count: thread: innermost two frames):"] + [
            f"  {count:4d}  {where}" for where, count in sorted(others_at_stalls.items(), key=lambda kv: -kv[1])[:8]]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
