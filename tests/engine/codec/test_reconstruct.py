"""`cascade reconstruct`: any rate/channels in, 44.1 kHz stereo out, clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile
import torch

from engine.codec.checkpoint import save_autoencoder
from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder
from engine.codec.reconstruct import reconstruct_file


def debug_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "debug.safetensors"
    save_autoencoder(MagnitudeAutoencoder(DEBUG_CONFIG), path)
    return path


def test_mono_22k_wav_round_trips_to_44k_stereo(tmp_path: Path) -> None:
    t = np.arange(int(1.3 * 22050)) / 22050
    soundfile.write(tmp_path / "in.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    report = reconstruct_file(tmp_path / "in.wav", tmp_path / "out.flac", debug_weights(tmp_path))
    audio, rate = soundfile.read(tmp_path / "out.flac", always_2d=True)
    assert rate == 44100 and audio.shape[1] == 2
    assert abs(audio.shape[0] - 1.3 * 44100) <= 2
    assert np.all(np.isfinite(audio)) and report["compression"] == 64.0


def test_cli_reports_unreadable_input_and_bad_weights(tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(b"RIFF....not really a wav")
    result = subprocess.run([sys.executable, "-m", "instrument.cli", "reconstruct", str(tmp_path / "noise.wav"),
                             "-o", str(tmp_path / "o.wav"), "--weights", str(debug_weights(tmp_path))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "cannot read audio" in result.stderr
    soundfile.write(tmp_path / "ok.wav", np.zeros(4410, np.float32), 44100)
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    result = subprocess.run([sys.executable, "-m", "instrument.cli", "reconstruct", str(tmp_path / "ok.wav"),
                             "-o", str(tmp_path / "o.wav"), "--weights", str(tmp_path / "bad.safetensors")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "safetensors" in result.stderr
    assert not (tmp_path / "o.wav").exists()
