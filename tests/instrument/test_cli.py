"""The `cascade` command: status screen, doctor, argument errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], capture_output=True, text=True, timeout=120)


def test_status_prints_an_honest_screen_without_importing_qt() -> None:
    # `cascade` with no arguments opens the desktop app (tests/gui); `cascade status` prints the screen, and
    # headless commands never import Qt (the app's import is lazy).
    result = subprocess.run([sys.executable, "-c", "import sys; from instrument.cli import main; code = main(['status']);"
                             " assert not any(m.startswith(('PySide6', 'pyqtgraph', 'gui')) for m in sys.modules),"
                             " sorted(m for m in sys.modules if m.startswith(('PySide6', 'gui'))); sys.exit(code)"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "cascade render" in result.stdout and "cascade app" in result.stdout


def test_no_arguments_is_a_usage_error_without_the_app() -> None:
    """The app's command is gui.cli's (tests/gui/test_cli.py); instrument's own parser has every other one."""
    result = run()
    assert result.returncode == 2 and "no command given" in result.stderr and "Traceback" not in result.stderr
    from instrument.cli import build_parser

    assert build_parser().parse_args(["status"]).func.__name__ == "_cmd_status"


def test_doctor_finds_the_system_packages() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "MISSING" not in result.stdout and "FluidR3_GM.sf2" in result.stdout


def test_bad_arguments_exit_with_usage() -> None:
    result = run("dataset", "build", "--out", "/tmp/nowhere")
    assert result.returncode == 2 and "--hours" in result.stderr


def _debug_diffusion_weights(folder: Path, harmony: bool = False) -> Path:
    import torch

    from engine.debug_models import debug_generator
    from engine.diffusion.checkpoint import save_diffusion

    torch.manual_seed(0)
    path = folder / f"debug-diffusion{'-harmony' if harmony else ''}.safetensors"
    save_diffusion(debug_generator(0, harmony=harmony).network, path)
    return path


def test_render_writes_a_finite_file_of_the_requested_length(tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    out = tmp_path / "out.flac"
    weights = _debug_diffusion_weights(tmp_path)
    result = run("render", "slow ambient pad", "--seconds", "3", "--steps", "2", "-o", str(out),
                 "--weights", str(weights), "--threads", "1", "--no-progress", "--tempo", "90", "--key", "D",
                 "--scale", "minor", "--loudness", "-18")
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(out)
    assert rate == 44100 and audio.shape == (3 * 44100, 2) and np.isfinite(audio).all()
    assert "wrote" in result.stdout


def test_render_refuses_bad_input_clearly(tmp_path: Path) -> None:
    weights = _debug_diffusion_weights(tmp_path)
    empty = run("render", "  ", "--seconds", "1", "-o", str(tmp_path / "x.flac"), "--weights", str(weights))
    assert empty.returncode == 2 and "empty prompt" in empty.stderr
    sampler = run("render", "jazz", "--sampler", "magic", "-o", str(tmp_path / "x.flac"), "--weights", str(weights))
    assert sampler.returncode == 2 and "unknown sampler" in sampler.stderr
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    missing = run("render", "jazz", "-o", str(tmp_path / "x.flac"), "--weights", str(broken))
    assert missing.returncode == 2 and "error:" in missing.stderr
    assert not (tmp_path / "x.flac").exists()


def test_render_reads_tempo_and_key_from_the_words_and_says_so(capsys) -> None:
    from instrument.cli import build_parser
    from instrument.commands.render import _render_request

    parser = build_parser()
    args = parser.parse_args(["render", "deep house at 126 bpm in Eb minor", "-o", "x.flac", "--tempo", "100"])
    request = _render_request(args)
    assert (request.tempo_bpm, request.key, request.scale) == (100.0, "Eb", "minor")  # the flag wins
    said = capsys.readouterr().out
    assert "prompt 1 says: 126 BPM, Eb minor" in said and "tempo 100 BPM (--tempo)" in said
    off = _render_request(parser.parse_args(["render", "deep house at 126 bpm in Eb minor", "-o", "x.flac",
                                             "--no-prompt-words"]))
    assert (off.tempo_bpm, off.key, off.scale) == (None, None, None)
    assert "says" not in capsys.readouterr().out


def test_render_can_leave_the_words_to_the_trained_reader(capsys) -> None:
    from instrument.cli import build_parser
    from instrument.commands.render import _render_request

    parser = build_parser()
    args = parser.parse_args(["render", "deep house at 126 bpm in Eb minor", "-o", "x.flac", "--read-words", "model",
                              "--key", "C"])
    request = _render_request(args)
    assert (request.tempo_bpm, request.key, request.scale) == (126.0, "C", "minor")  # the flag still wins
    said = capsys.readouterr().out
    assert "prompt 1 says (the words reader model): 126 BPM, D# minor (tempo read by the model, p " in said
    assert "key C (--key)" in said and "tempo 126 BPM (the prompt's words, read by the words reader model)" in said
    with pytest.raises(SystemExit):
        parser.parse_args(["render", "x", "-o", "x.flac", "--read-words", "regex"])


def test_render_reads_a_bare_tempo_with_the_trained_reader_by_default(capsys) -> None:
    """A bare number away from a genre's name is no tempo to the rules; by default (--read-words both) the trained
    reader's tempo fills in, and the source says who read it; under --read-words rules it is said, not used."""
    from instrument.cli import build_parser
    from instrument.commands.render import _render_request

    request = _render_request(build_parser().parse_args(["render", "a groove at about 124 in A minor", "-o",
                                                         "x.flac"]))
    assert (request.tempo_bpm, request.key, request.scale) == (124.0, "A", "minor")
    said = capsys.readouterr().out
    assert "prompt 1 says: 124 BPM, A minor (tempo read by the model, p " in said, said
    assert "tempo 124 BPM (the prompt's words, read by the words reader model)" in said
    assert "key A (the prompt's words)" in said and "also hears" not in said

    request = _render_request(build_parser().parse_args(["render", "a groove at about 124", "-o", "x.flac",
                                                         "--read-words", "rules"]))
    assert request.tempo_bpm is None
    said = capsys.readouterr().out
    assert "prompt 1 says: nothing" in said
    assert "the words reader model also hears in prompt 1: 124 BPM" in said and "--read-words model uses it" in said
    # nothing more is said where the rules read everything the model reads, nor of what a flag sets
    _render_request(build_parser().parse_args(["render", "house at 124 bpm in A minor", "-o", "x.flac"]))
    assert "also hears" not in capsys.readouterr().out
    _render_request(build_parser().parse_args(["render", "a groove at about 124", "-o", "x.flac", "--tempo",
                                               "90"]))
    assert "also hears" not in capsys.readouterr().out


def test_render_goes_on_with_the_rules_when_the_reader_file_is_broken(capsys, tmp_path: Path, monkeypatch) -> None:
    import engine.diffusion.words_reader as words_reader
    from instrument.cli import build_parser
    from instrument.commands.render import _render_request

    broken = tmp_path / "words_reader.safetensors"
    broken.write_bytes(b"not a safetensors file")
    monkeypatch.setattr(words_reader, "DEFAULT_WORDS_READER_WEIGHTS", broken)
    request = _render_request(build_parser().parse_args(["render", "a groove at about 128 in F minor", "-o", "x.flac"]))
    assert (request.tempo_bpm, request.key, request.scale) == (None, "F", "minor")
    said = capsys.readouterr().out
    assert "the words reader model is not loaded:" in said and str(broken) in said, said


def test_render_chords_are_checked_before_any_model_work_and_need_a_harmony_model(tmp_path: Path) -> None:
    out = tmp_path / "x.flac"
    # a bad chord is said before the (missing) weights are even looked at
    bad = run("render", "jazz", "--chords", "Am H7 C", "-o", str(out), "--weights", str(tmp_path / "missing.safetensors"))
    assert bad.returncode == 2 and "'H7'" in bad.stderr and "--chords" in bad.stderr
    assert "Traceback" not in bad.stderr and "missing" not in bad.stderr
    # a model without the harmony input (as the shipped one was before session 15): said before rendering,
    # nothing written
    plain = run("render", "jazz", "--chords", "Am F C G", "--seconds", "1", "-o", str(out), "--no-progress",
                "--weights", str(_debug_diffusion_weights(tmp_path)), "--threads", "1")
    assert plain.returncode == 2 and "trained without the harmony control" in plain.stderr, plain.stderr
    assert "Traceback" not in plain.stderr and "wrote" not in plain.stdout and not out.exists()


def test_render_follows_the_chords_with_a_harmony_model(tmp_path: Path) -> None:
    import soundfile

    weights = _debug_diffusion_weights(tmp_path, harmony=True)
    renders = {}
    for chords in ("Am F C G", "C#m E B F#"):
        out = tmp_path / f"{chords.split()[0]}.flac"
        result = run("render", "slow ambient pad", "--chords", chords, "--seconds", "2", "--steps", "2", "-o", str(out),
                     "--weights", str(weights), "--threads", "1", "--no-progress", "--no-prompt-words")
        assert result.returncode == 0, result.stderr
        assert f"chords: {chords}, one a bar of 4 beats" in result.stdout and "120 BPM" in result.stdout
        renders[chords], rate = soundfile.read(out)
        assert rate == 44100 and renders[chords].shape == (2 * 44100, 2)
    assert abs(renders["Am F C G"] - renders["C#m E B F#"]).mean() > 1e-5  # the chords reach the audio


def test_render_says_what_the_key_gives_a_harmony_model(tmp_path: Path) -> None:
    weights = _debug_diffusion_weights(tmp_path, harmony=True)
    out = tmp_path / "x.flac"
    said = {}
    for source in ("progression", "scale", "tonic_chord", "none"):
        result = run("render", "jazz trio in D minor at 140 bpm", "--seconds", "1", "--steps", "1", "-o", str(out),
                     "--weights", str(weights), "--threads", "1", "--no-progress", "--key-harmony", source)
        assert result.returncode == 0, result.stderr
        said[source] = next(line for line in result.stdout.splitlines() if line.startswith("harmony: "))
    assert said["progression"] == ("harmony: the key's changes Dm Bb Gm Am, one a bar of 4 beats at 140 BPM, looped "
                                   "(--key-harmony)")
    assert "D minor scale profile" in said["scale"] and "tonic chord Dm" in said["tonic_chord"]
    waltz = run("render", "jazz trio in D minor at 140 bpm", "--seconds", "1", "--steps", "1", "-o", str(out),
                "--weights", str(weights), "--threads", "1", "--no-progress", "--beats-per-bar", "3")
    assert waltz.returncode == 0, waltz.stderr
    assert "one a bar of 3 beats at 140 BPM" in waltz.stdout  # --beats-per-bar reaches the key's changes too
    assert "key embedding only" in said["none"]
    # a model without the harmony control is told nothing about it
    plain = run("render", "jazz trio in D minor at 140 bpm", "--seconds", "1", "--steps", "1", "-o", str(out),
                "--weights", str(_debug_diffusion_weights(tmp_path)), "--threads", "1", "--no-progress")
    assert plain.returncode == 0 and "harmony:" not in plain.stdout


def test_play_and_the_app_take_the_words_reader_render_takes() -> None:
    """`cascade play` and `cascade app` read the prompts' words as render does (--read-words, default both)."""
    from gui.cli import _app_config_fields, build_parser as build_app_parser
    from instrument.cli import build_parser

    assert build_parser().parse_args(["play"]).read_words == "both"
    assert build_parser().parse_args(["play", "--read-words", "rules"]).read_words == "rules"
    app = build_app_parser().parse_args(["app", "--read-words", "off"])
    assert _app_config_fields(app)["read_words"] == "off"
    for parser, command in ((build_parser(), "play"), (build_app_parser(), "app")):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--read-words", "regex"])
