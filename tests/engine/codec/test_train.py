"""The autoencoder trainer on a tiny real dataset: runs, logs, resumes from its checkpoint, exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.codec.checkpoint import load_autoencoder
from engine.codec.train import TrainConfig, _AutoencoderTraining, export_run, train
from engine.dataset.builder import BuildConfig, build_dataset
from tests.helpers import assert_same_weights, run_killed_at_step


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ae") / "ds"
    # 0.05 h gives a few dozen clips, so both the train and the valid split are non-empty.
    build_dataset(BuildConfig(out_dir=out, hours=0.02, seed=3, workers=2, progress=False))
    # Six-odd pieces rarely include a valid-split one (5 %): move the last piece there for the trainer.
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    last_piece = rows[-1]["source_piece"]
    for row in rows:
        row["split"] = "valid" if row["source_piece"] == last_piece else "train"
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert {r["split"] for r in rows} == {"train", "valid"}
    return out


def test_train_resume_and_export(tiny_dataset: Path, tmp_path: Path) -> None:
    config = dict(dataset=tiny_dataset, out_dir=tmp_path / "run", batch_size=2, segment_latent_frames=8,
                  checkpoint_every=2, eval_every=4, log_every=2, debug_model=True)
    first = train(TrainConfig(steps=4, **config))
    assert first["steps"] == 4 and (tmp_path / "run" / "train_state.pt").exists()
    second = train(TrainConfig(steps=6, **config))
    assert second["steps"] == 6 and [r["step"] for r in second["history"]] == [6]
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4, 6] and "valid_log_spectral_db" in log[1]
    model = load_autoencoder(tmp_path / "run" / "autoencoder.safetensors")
    assert model.latent_std.min() > 0
    exported = export_run(tiny_dataset, tmp_path / "run", tmp_path / "again.safetensors")
    assert load_autoencoder(exported).config == model.config


def test_a_resumed_run_equals_an_uninterrupted_one(tiny_dataset: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The train state holds the data and tone generators whole: a run killed after a checkpoint and rerun
    draws the same batches and ends with the same weights as one that was never interrupted."""
    config = dict(dataset=tiny_dataset, batch_size=2, segment_latent_frames=8, checkpoint_every=2, eval_every=100,
                  log_every=2, debug_model=True, threads=1, steps=5, tone_fraction=0.5, peak_pitch_weight=2.0,
                  output_spectral_weight=1.0)
    train(TrainConfig(out_dir=tmp_path / "straight", **config))
    resumed = TrainConfig(out_dir=tmp_path / "resumed", **config)
    run_killed_at_step(monkeypatch, _AutoencoderTraining, 3, lambda: train(resumed))
    train(resumed)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    log = [json.loads(line) for line in (tmp_path / "straight" / "train_log.jsonl").read_text().splitlines()]
    assert all(r["peak_pitch_cents"] >= 0 and r["output_log_spectral"] > 0 for r in log), log


def test_training_only_the_frequency_branch_keeps_every_other_weight(tiny_dataset: Path, tmp_path: Path) -> None:
    """--frequency-branch-only starts from a file, adds the low-bin frequency branch and trains it alone: the
    encoder, the magnitude path and the latent statistics come out bit for bit as they went in (the shipped
    diffusion model's latent and every level stay), the branch moves and its loss (cents) is logged."""
    from safetensors.torch import load_file

    base = dict(dataset=tiny_dataset, batch_size=2, segment_latent_frames=8, checkpoint_every=2, eval_every=100,
                log_every=2, debug_model=True, threads=1)
    train(TrainConfig(out_dir=tmp_path / "base", steps=2, **base))
    start = tmp_path / "base" / "autoencoder.safetensors"
    with pytest.raises(ValueError, match="frequency_branch_only"):
        train(TrainConfig(out_dir=tmp_path / "bad", steps=1, frequency_branch_only=True, **base))
    train(TrainConfig(out_dir=tmp_path / "branch", steps=4, init_from=start, frequency_bins=8,
                      frequency_branch_only=True, tone_fraction=1.0, low_tone_fraction=0.5, **base))
    before, after = load_file(str(start)), load_file(str(tmp_path / "branch" / "autoencoder.safetensors"))
    branch = {name for name in after if name.startswith("decoder.frequency.")}
    assert branch and set(after) - branch == set(before)
    for name, tensor in before.items():
        assert after[name].equal(tensor), name
    initial = load_autoencoder(tmp_path / "branch" / "autoencoder.safetensors")
    assert initial.config.decoder_frequency_bins == 8
    log = [json.loads(line) for line in (tmp_path / "branch" / "train_log.jsonl").read_text().splitlines()]
    assert all(r["low_bin_frequency_cents"] > 0 and r["grad_norm"] > 0 for r in log), log
    assert "magnitude_log_l1" not in log[0]


def test_a_fine_band_in_the_init_file_is_carried_over_untouched(tiny_dataset: Path, tmp_path: Path) -> None:
    """Training the magnitude decoder from a file with a fine low band (the shipped v2.3 layout) keeps the band:
    the run's model has it (the output loss goes through the phase it steers), its tensors, the encoder and
    the latent statistics come out bit for bit, the magnitude decoder moves, the band's training record stays
    in the file, and no low-bin frequency loss (the old branch's) pulls on the magnitude."""
    from dataclasses import replace

    from safetensors.torch import load_file

    from engine.codec.checkpoint import read_metadata, save_autoencoder
    from engine.codec.model import DEBUG_CONFIG, MagnitudeAutoencoder

    config = replace(DEBUG_CONFIG, decoder_frequency_bins=16, decoder_frequency_dim=16, decoder_frequency_blocks=1,
                     decoder_fine_n_fft=8192, decoder_fine_bins=66)
    start = tmp_path / "start.safetensors"
    save_autoencoder(MagnitudeAutoencoder(config), start, extra={"steps": 0, "fine_band": {"steps": 7}})
    train(TrainConfig(dataset=tiny_dataset, out_dir=tmp_path / "run", steps=3, batch_size=2, segment_latent_frames=8,
                      checkpoint_every=2, eval_every=100, log_every=1, debug_model=True, threads=1,
                      init_from=start, freeze_encoder=True, output_spectral_weight=1.0, peak_pitch_weight=1.0,
                      learning_rate=1e-2, warmup_steps=1, ema_decay=0.0))
    out = tmp_path / "run" / "autoencoder.safetensors"
    before, after = load_file(str(start)), load_file(str(out))
    assert set(before) == set(after)
    kept = [n for n in before if n.startswith(("decoder.fine.", "encoder.", "latent_"))]
    assert any(n.startswith("decoder.fine.") for n in kept)
    for name in kept:
        assert after[name].equal(before[name]), name
    assert not after["decoder.head.weight"].equal(before["decoder.head.weight"])
    assert load_autoencoder(out).config == config
    assert read_metadata(out)["extra"]["fine_band"] == {"steps": 7}
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert all("low_bin_frequency_cents" not in r and r["output_log_spectral"] > 0 for r in log), log
    assert load_autoencoder(export_run(tiny_dataset, tmp_path / "run", tmp_path / "again.safetensors")).config == config
    with pytest.raises(ValueError, match="fine low band"):  # the older branch cannot be added on top of it
        train(TrainConfig(dataset=tiny_dataset, out_dir=tmp_path / "both", steps=1, batch_size=2, debug_model=True,
                          segment_latent_frames=8, init_from=start, freeze_encoder=True, frequency_bins=8))
    start.unlink()  # the band's config is read from the init file: without it, a clear error, not a key mismatch
    with pytest.raises(ValueError, match="is gone"):
        export_run(tiny_dataset, tmp_path / "run", tmp_path / "third.safetensors")
