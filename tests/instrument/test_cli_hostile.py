"""The command line against a clumsy or hostile user (issue 17): every numeric option range-checked at parse time,
no crash, no busy loop, no render that exceeds full scale or is thrown away after the work (subprocesses, as a
user runs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from instrument.arguments import cpu_count


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=os.environ | {"OMP_NUM_THREADS": "1"})


# (sub-command and its required arguments, option, bad value, words the error must hold)
BAD_VALUES = [
    (["play"], "--threads", "100000", "0.."),  # libgomp segfaulted (rc 139)
    (["play"], "--threads", "-4", "0.."),  # a RuntimeError traceback
    (["play"], "--seconds", "-1", "above 0"),  # exited at once, no error
    (["play"], "--seconds", "nan", "above 0"),
    (["play"], "--seconds", "inf", "above 0"),
    (["play"], "--status-every", "0", "0.1..3600"),  # 14,373 status lines in 3 s
    (["play"], "--midi-latency-ms", "1e9", "-500..500"),
    (["app"], "--threads", "1e3", "whole number"),
    (["render", "x", "-o", "x.flac"], "--negative-scale", "1e9", "0..30"),  # rendered at 17x full scale
    (["render", "x", "-o", "x.flac"], "--negative-scale", "nan", "0..30"),  # dropped the negative prompt
    (["render", "x", "-o", "x.flac"], "--cfg", "-1", "0..30"),
    (["render", "x", "-o", "x.flac"], "--cfg", "inf", "0..30"),
    (["render", "x", "-o", "x.flac"], "--steps", "0", "1..200"),
    (["render", "x", "-o", "x.flac"], "--seconds", "0", "above 0"),
    (["render", "x", "-o", "x.flac"], "--seconds", "1e12", "3600"),
    (["render", "x", "-o", "x.flac"], "--weight", "-1", "0..1000"),
    (["render", "x", "-o", "x.flac"], "--variation", "nan", "0..1"),
    (["render", "x", "-o", "x.flac"], "--tempo", "0", "20..400 BPM"),
    (["render", "x", "-o", "x.flac"], "--loudness", "1e6", "-40..0 dB"),
    (["render", "x", "-o", "x.flac"], "--brightness", "-5", "200..8000 Hz"),
    (["render", "x", "-o", "x.flac"], "--strength", "0", "above 0"),
    (["render", "x", "-o", "x.flac"], "--seed", "-1", "0..2147483647"),
    (["rerender", "t.json"], "--steps", "1000", "1..200"),
    (["dataset", "build", "--out", "d"], "--hours", "nan", "above 0"),
    (["dataset", "build", "--hours", "1", "--out", "d"], "--workers", "0", "1.."),
    (["dataset", "check", "d"], "--sample", "-3", "1.."),
    (["train", "autoencoder", "--dataset", "d", "--out", "r"], "--learning-rate", "0", "above 0"),
    (["train", "autoencoder", "--dataset", "d", "--out", "r"], "--tone-fraction", "2", "0..1"),
    (["train", "diffusion", "--cache", "c", "--out", "r"], "--batch-size", "0", "1..4096"),
]


def test_every_listed_option_refuses_nan_inf_and_out_of_range_at_parse_time() -> None:
    """One interpreter parses them all (argparse exits with status 2 and a message naming the option and
    range); each case would otherwise cost a subprocess."""
    from gui.cli import build_parser  # `cascade`'s: instrument's commands and the app's

    for command, option, value, words in BAD_VALUES:
        parser = build_parser()
        messages: list[str] = []
        for sub in [parser, *_subparsers(parser)]:
            sub.error = lambda message, sub=sub: (messages.append(f"{sub.prog}: {message}"), sys.exit(2))[1]
        with pytest.raises(SystemExit) as exited:
            parser.parse_args([*command, option, value])
        assert exited.value.code == 2, (command, option, value)
        assert messages and option in messages[-1] and words in messages[-1] and value in messages[-1], \
            (command, option, value, messages)


def _subparsers(parser: object) -> list[object]:
    import argparse

    found = []
    for action in parser._actions:  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subparsers(sub)]
    return found


def test_no_numeric_option_is_left_unchecked() -> None:
    """Every option that takes a number goes through instrument.arguments (a plain int/float type lets NaN,
    inf and any range through)."""
    from gui.cli import build_parser  # `cascade`'s: instrument's commands and the app's

    parser = build_parser()
    unchecked = [f"{sub.prog} {action.option_strings}" for sub in [parser, *_subparsers(parser)]
                 for action in sub._actions if action.type in (int, float)]
    assert unchecked == []


def test_thread_cap_is_the_cpu_count_and_the_extremes_are_refused_by_the_real_command() -> None:
    too_many = run("play", "--headless", "--debug-model", "--threads", "100000", "--seconds", "1")
    assert too_many.returncode == 2 and "Traceback" not in too_many.stderr
    assert f"0..{cpu_count()}" in too_many.stderr and "--threads" in too_many.stderr
    negative = run("render", "x", "-o", "x.flac", "--threads", "-4")
    assert negative.returncode == 2 and "Traceback" not in negative.stderr and "--threads" in negative.stderr


def _thread_cpu_seconds(pid: int) -> float | None:
    """utime + stime of the process's main thread (its tid is its pid), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_quiet_play_leaves_the_main_thread_idle() -> None:
    """`play --quiet` spun its main loop (~82 % of a core: the wait timeout went negative for ever) and starved
    the engine into underruns. The main thread's CPU time over 3 s of quiet playing must stay near zero."""
    process = subprocess.Popen([sys.executable, "-m", "instrument.cli", "play", "--headless", "--debug-model",
                                "--output", "none", "--seconds", "5", "--threads", "1", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"OMP_NUM_THREADS": "1"})
    playing = threading.Event()
    stderr_lines: list[str] = []

    def read_stderr() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            stderr_lines.append(line)
            if line.startswith("playing on"):
                playing.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert playing.wait(60), "".join(stderr_lines)
        time.sleep(0.5)  # past the first chunk's hand-over
        before_s = _thread_cpu_seconds(process.pid)
        time.sleep(3.0)
        after_s = _thread_cpu_seconds(process.pid)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    assert process.returncode == 0, "".join(stderr_lines)
    assert before_s is not None and after_s is not None
    assert after_s - before_s < 0.3, f"the main thread used {after_s - before_s:.2f} s of CPU in 3 s of quiet play"
    assert not any(line.startswith("chunks") for line in stderr_lines), "--quiet printed status lines"
    assert json.loads(stdout[stdout.index("{"):])["engine"]["chunks"] >= 3


def test_render_checks_its_output_before_loading_anything(tmp_path: Path) -> None:
    """An unwritable -o or an unknown extension was reported only after the whole render."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for output, words in ((tmp_path / "out.xyz", "cannot write .xyz"), (a_file / "out.flac", "not a folder"),
                          (tmp_path, "without an extension")):
        started_s = time.monotonic()
        result = run("render", "ambient pad", "--seconds", "600", "-o", str(output), "--weights",
                     str(tmp_path / "no-model-loaded.safetensors"))
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert time.monotonic() - started_s < 20, "checked before torch and the model load"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "nothing left behind"


def test_render_writes_long_ogg_in_blocks_and_other_formats(tmp_path: Path) -> None:
    """libsndfile's Vorbis encoder crashed (SIGSEGV) on one 60 s write: the writer goes block by block."""
    import numpy as np
    import soundfile

    from engine.audio_file import write_audio_file

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((2, 44100 * 60))).astype(np.float32)
    for name in ("long.ogg", "long.flac", "long.aiff"):
        write_audio_file(tmp_path / name, audio, 44100)
        assert soundfile.info(tmp_path / name).frames == audio.shape[1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"


def test_play_tells_what_is_wrong_with_a_preset(tmp_path: Path) -> None:
    """A truncated user preset was "no preset named"; a preset's bad values loaded silently; a user "Default"
    was never reachable."""
    folder = tmp_path / "user" / "presets"
    folder.mkdir(parents=True)
    env = os.environ | {"OMP_NUM_THREADS": "1", "CASCADE_USER_DIR": str(tmp_path / "user")}

    def play(preset: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "instrument.cli", "play", "--headless", "--debug-model",
                               "--output", "none", "--seconds", "0.5", "--threads", "1", "--quiet", "--preset",
                               preset], capture_output=True, text=True, timeout=120, env=env)

    (folder / "cut.json").write_text('{\n  "format": "cascade-preset",\n  "version": 1,\n  "parameters": {')
    cut = play("cut")
    assert cut.returncode == 2 and str(folder / "cut.json") in cut.stderr and "invalid JSON at line 4" in cut.stderr

    (folder / "default.json").write_text(json.dumps({
        "format": "cascade-preset", "version": 1, "name": "Default", "extra": 1,
        "parameters": {"cfg_scale": "loud", "master_gain_db": 1e6, "seed": 7}, "prompts": ["my own default"]}))
    mine = play("Default")
    assert mine.returncode == 0, mine.stderr
    warnings = [line for line in mine.stderr.splitlines() if line.startswith("warning: preset:")]
    assert len(warnings) == 3 and "'extra'" in mine.stderr and "'loud'" in mine.stderr and "1000000" in mine.stderr
    assert "note:" in mine.stderr and "factory:Default" in mine.stderr
    factory = play("factory:Default")
    assert factory.returncode == 0 and "warning:" not in factory.stderr and "note:" not in factory.stderr


@pytest.mark.parametrize("reader", ["both", "rules", "model"])
def test_a_prompt_of_control_characters_is_refused_by_either_words_reader(tmp_path: Path, reader: str) -> None:
    out = tmp_path / "x.flac"
    result = run("render", "\x01\x02", "--read-words", reader, "--seconds", "1", "-o", str(out), "--no-progress")
    assert result.returncode == 2 and "empty prompt" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
