"""`cascade reconstruct`: any rate/channels in, 44.1 kHz stereo out, clear errors for bad input and output,
streamed in chunks that reproduce whole-file encoding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from engine.codec.checkpoint import load_autoencoder, save_autoencoder
from engine.codec.model import DEBUG_CONFIG, AutoencoderConfig, MagnitudeAutoencoder
from engine.codec.reconstruct import (AudioInputError, AudioOutputError, ChunkedEncoder, encoder_context_frames,
                                      reconstruct_file)


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


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "instrument.cli", "reconstruct", *args], capture_output=True,
                          text=True, timeout=120)


def noise(samples: int, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal((2, samples))).astype(np.float32)


def whole_file_encoding(model: MagnitudeAutoencoder, audio: np.ndarray) -> torch.Tensor:
    """The reference: the whole audio zero-padded to whole latent frames, at least two (the STFT's padding)."""
    hop = model.config.hop_frames
    frames = max(-(-audio.shape[1] // hop), 2)
    padded = np.pad(audio, ((0, 0), (0, frames * hop - audio.shape[1])))
    with torch.no_grad():
        return model.encode(torch.from_numpy(padded)[None])


# The shipped encoder's block counts (2 frame blocks, 3 latent blocks) at a small width: the context that
# encoder_context_frames computes must cover the full-size receptive field, not only the debug model's.
FULL_DEPTH_SMALL = AutoencoderConfig(encoder_dim=16, decoder_latent_dim=16, decoder_latent_blocks=1,
                                     decoder_frame_dim=16, decoder_frame_blocks=1)


@pytest.mark.parametrize("config", [DEBUG_CONFIG, FULL_DEPTH_SMALL], ids=["debug", "full-depth"])
def test_chunked_encoding_equals_whole_file_encoding(config: AutoencoderConfig) -> None:
    torch.manual_seed(0)
    model = MagnitudeAutoencoder(config).eval()
    audio = noise(30 * config.hop_frames + 300)
    whole = whole_file_encoding(model, audio)
    blocks = [audio[:, i:i + 3000] for i in range(0, audio.shape[1], 3000)]  # not aligned to latent frames
    for chunk_frames in (2, 9, 100):
        chunked = torch.cat(list(ChunkedEncoder(model, chunk_frames).chunks(blocks)), dim=-1)
        assert chunked.shape == whole.shape == (1, config.latent_channels, 31)
        assert (chunked - whole).abs().max() <= 1e-6 * whole.abs().max(), chunk_frames
    # Without context the chunk edges show: the test can tell.
    chunked = torch.cat(list(ChunkedEncoder(model, 9, context_frames=0).chunks(blocks)), dim=-1)
    assert (chunked - whole).abs().max() > 1e-4 * whole.abs().max()
    assert encoder_context_frames(AutoencoderConfig()) == 12  # 3 * 3 + ceil((2 * 3 + 4) / 4)


def test_chunked_round_trip_equals_whole_file_round_trip(tmp_path: Path) -> None:
    weights = debug_weights(tmp_path)
    audio = noise(20 * 1024 + 300, seed=1)
    soundfile.write(tmp_path / "in.wav", audio.T, 44100, subtype="FLOAT")
    report = reconstruct_file(tmp_path / "in.wav", tmp_path / "out.wav", weights, chunk_frames=4)
    model = load_autoencoder(weights)
    with torch.no_grad():
        expected = model.decode(whole_file_encoding(model, audio))[0, :, :audio.shape[1]].numpy()
    expected = np.clip(expected, -1.0, 1.0)
    output, rate = soundfile.read(tmp_path / "out.wav", always_2d=True, dtype="float32")
    assert rate == 44100 and output.shape == (audio.shape[1], 2)
    assert np.abs(output.T - expected).max() < 1e-4  # 16-bit output: 3e-5 per step
    assert set(report) == {"input", "output", "seconds", "latent_shape", "compression", "encode_x_real_time",
                           "decode_x_real_time"}
    assert report["latent_shape"] == [1, 32, 21] and report["seconds"] == round(audio.shape[1] / 44100, 3)
    assert sorted(os.listdir(tmp_path)) == ["debug.safetensors", "in.wav", "out.wav"]  # no temporary left


@pytest.mark.parametrize("samples", [1, 500, 1024])
def test_inputs_shorter_than_the_stft_window_round_trip(tmp_path: Path, samples: int) -> None:
    soundfile.write(tmp_path / "in.wav", noise(samples).T, 44100, subtype="FLOAT")
    reconstruct_file(tmp_path / "in.wav", tmp_path / "out.wav", debug_weights(tmp_path))
    output, rate = soundfile.read(tmp_path / "out.wav", always_2d=True)
    assert output.shape == (samples, 2) and rate == 44100
    assert np.all(np.isfinite(output)) and np.abs(output).max() <= 1.0


def test_output_that_is_the_input_is_refused_before_any_work(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    soundfile.write(source, noise(4410).T, 44100)
    original = source.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.wav").symlink_to(source)
    os.link(source, tmp_path / "hard.wav")
    # Missing weights: had the model been loaded first, CheckpointError would say so instead.
    for output in (source, tmp_path / "sub" / ".." / "in.wav", tmp_path / "link.wav", tmp_path / "hard.wav"):
        with pytest.raises(AudioOutputError, match="is the input file"):
            reconstruct_file(source, output, tmp_path / "missing.safetensors")
    result = run_cli(str(source), "-o", str(tmp_path / "link.wav"), "--weights", str(debug_weights(tmp_path)))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "is the input file" in result.stderr
    assert source.read_bytes() == original and (tmp_path / "link.wav").is_symlink()


def test_bad_output_path_fails_before_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    soundfile.write(tmp_path / "in.wav", noise(4410).T, 44100)
    (tmp_path / "plain.txt").write_text("a regular file")
    (tmp_path / "folder.wav").mkdir()
    weights = debug_weights(tmp_path)
    before = sorted(os.listdir(tmp_path))

    def no_encoding(*args: object) -> None:
        raise AssertionError("encoding started before the output was checked")

    monkeypatch.setattr(ChunkedEncoder, "chunks", no_encoding)
    for output, message in ((tmp_path / "plain.txt" / "sub" / "out.wav", "cannot write there"),
                            (tmp_path / "out.xyz", "cannot write .xyz"), (tmp_path / "out", "without an extension"),
                            (tmp_path / "folder.wav", "is a directory")):
        with pytest.raises(AudioOutputError, match=message):
            reconstruct_file(tmp_path / "in.wav", output, weights)
        assert sorted(os.listdir(tmp_path)) == before  # no partial or temporary file
    result = run_cli(str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.xyz"), "--weights", str(weights))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and ".wav" in result.stderr and "Traceback" not in result.stderr


def test_error_midway_leaves_no_partial_output(tmp_path: Path) -> None:
    audio = noise(30 * 1024)
    audio[:, -100] = np.nan  # read only after several chunks were written
    soundfile.write(tmp_path / "in.wav", audio.T, 44100, subtype="FLOAT")
    (tmp_path / "out.flac").write_bytes(b"the previous take")
    with pytest.raises(AudioInputError, match="NaN"):
        reconstruct_file(tmp_path / "in.wav", tmp_path / "out.flac", debug_weights(tmp_path), chunk_frames=2)
    assert (tmp_path / "out.flac").read_bytes() == b"the previous take"
    assert sorted(os.listdir(tmp_path)) == ["debug.safetensors", "in.wav", "out.flac"]
