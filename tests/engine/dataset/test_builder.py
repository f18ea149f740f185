"""The dataset builder end to end: manifest schema, splits, determinism, resume after a kill, disk full."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from engine.dataset import builder, descriptors, manifest, piece_job
from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS

HOURS = 0.03  # ~108 s of audio: a few pieces, a few seconds of rendering
# Three soundfonts of the pool, chosen per piece (the .sf3 ones decode Ogg on first use: slower to start).
SOUNDFONTS = "FluidR3_GM,sf_GMbank,OPL-3_FM_128M"


def build(out: Path, hours: float, seed: int, workers: int, **settings: object) -> builder.BuildSummary:
    return builder.build_dataset(builder.BuildConfig(out_dir=out, hours=hours, seed=seed, workers=workers,
                                                     soundfonts=SOUNDFONTS, progress=False, **settings))


def manifest_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / manifest.MANIFEST_NAME).read_text().splitlines()]


def fingerprint(out: Path) -> dict[str, str]:
    """Manifest text plus a hash of every clip's audio samples."""
    prints = {"manifest": hashlib.sha256((out / manifest.MANIFEST_NAME).read_bytes()).hexdigest()}
    for row in manifest_rows(out):
        samples, _ = soundfile.read(out / row["path"], dtype="int16")
        prints[row["clip_id"]] = hashlib.sha256(samples.tobytes()).hexdigest()
    return prints


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset") / "ds"
    build(out, hours=HOURS, seed=11, workers=2)
    return out


def test_manifest_schema_and_files(built: Path) -> None:
    rows = manifest.validate_manifest(built)
    assert sum(r["duration_seconds"] for r in rows) >= HOURS * 3600
    for row in rows:
        assert 6.0 - 1e-3 <= row["duration_seconds"] <= 12.0 + 1e-3
        audio, rate = soundfile.read(built / row["path"], dtype="float32", always_2d=True)
        assert rate == 44100 and audio.shape[1] == 2
        assert abs(audio.shape[0] / rate - row["duration_seconds"]) < 1e-3
        assert np.max(np.abs(audio)) < 0.95, "clips keep headroom"
        assert row["key"] in PITCH_CLASS_NAMES and row["scale"] in SCALE_INTERVALS
        assert row["instruments"] and row["caption"]
        assert str(round(row["tempo"])) in row["caption"]
        frames = np.load(built / row["descriptors"])
        assert set(frames.files) == {"loudness_db", "centroid_hz", "flatness", "onset_density", "chroma"}
        assert len(frames["loudness_db"]) == descriptors.frame_count(audio.shape[0])
        chroma = frames["chroma"].astype(np.float64)
        assert chroma.shape == (len(frames["loudness_db"]), 12) and (chroma >= 0).all() and chroma.sum() > 0
        if row["key_source"] == "composed":  # the score's harmony sits mostly in the key it was composed in
            tonic = PITCH_CLASS_NAMES.index(row["key"])
            in_scale = [(tonic + step) % 12 for step in SCALE_INTERVALS[row["scale"]]]
            assert chroma[:, in_scale].sum() >= 0.6 * chroma.sum(), (row["clip_id"], chroma.sum(axis=0).round(1))
    assert len({row["soundfont"] for row in rows}) >= 2, "pieces are rendered with several soundfonts"


def test_paraphrases_are_separate_from_captions(built: Path) -> None:
    captions = {r["clip_id"]: r["caption"] for r in manifest_rows(built)}
    paraphrases = [json.loads(line) for line in (built / manifest.PARAPHRASES_NAME).read_text().splitlines()]
    assert {p["clip_id"] for p in paraphrases} == set(captions)
    assert all(p["prompt"] != captions[p["clip_id"]] for p in paraphrases)


def test_same_seed_same_dataset_and_resume_extends_exactly(built: Path, tmp_path: Path) -> None:
    # Build half, then "resume" to the full size: must equal the one-shot build byte for byte.
    out = tmp_path / "ds"
    build(out, hours=0.004, seed=11, workers=1)
    first_half = len(manifest_rows(out))
    summary = build(out, hours=HOURS, seed=11, workers=2)
    assert summary.resumed_from_piece > 0 and len(manifest_rows(out)) > first_half
    assert fingerprint(out) == fingerprint(built)


def test_other_seed_other_dataset_and_settings_guard(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build(out, hours=0.003, seed=12, workers=1)
    assert manifest_rows(out)[0]["caption"] != manifest_rows(built)[0]["caption"]
    with pytest.raises(builder.DatasetConfigError, match="other settings"):
        build(out, hours=0.003, seed=13, workers=1)


def test_killed_build_resumes_to_the_same_dataset(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    command = [sys.executable, "-m", "instrument.cli", "dataset", "build", "--hours", str(HOURS),
               "--out", str(out), "--seed", "11", "--workers", "2", "--no-progress",
               "--soundfonts", SOUNDFONTS]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 60
    # Kill it hard (no cleanup) once at least one piece is logged.
    while time.monotonic() < deadline:
        log = out / manifest.PIECES_LOG_NAME
        if log.exists() and log.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # Simulate the worst moment too: a torn manifest line and an orphan half-written file.
    with open(out / manifest.MANIFEST_NAME, "a") as handle:
        handle.write('{"clip_id": "p999999_c00", "pa')
    (out / "audio" / "p999999_c00.tmp.flac").write_bytes(b"half")
    assert subprocess.run(command, timeout=120).returncode == 0
    assert fingerprint(out) == fingerprint(built)
    assert not (out / "audio" / "p999999_c00.tmp.flac").exists()


def test_missing_soundfont_is_a_clear_cli_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "instrument.cli", "dataset", "build", "--hours", "0.001",
                             "--out", str(tmp_path / "ds"), "--soundfont", str(tmp_path / "missing.sf2")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "fluid-soundfont-gm" in result.stderr


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_stops_cleanly_with_a_consistent_manifest(tmp_path: Path) -> None:
    mount = tmp_path / "small_disk"
    if not _mount_tmpfs(mount, "8m"):
        pytest.skip("needs root to mount a small tmpfs (a real full disk)")
    try:
        out = mount / "ds"
        with pytest.raises(builder.DiskFullError, match="disk full"):
            build(out, hours=0.2, seed=11, workers=2)
        rows = manifest_rows(out)
        assert rows, "8 MB holds at least one piece"
        manifest.validate_manifest(out)  # consistent: every listed clip exists and is complete
        listed = {r["clip_id"] for r in rows}
        on_disk = {p.name.split(".")[0] for p in (out / "audio").iterdir()}
        assert on_disk == listed
        for row in rows:
            soundfile.read(out / row["path"])  # decodes: not truncated
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_bug_failing_every_piece_stops_the_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken_compose(*args, **kwargs):
        raise ZeroDivisionError("composer bug")

    monkeypatch.setattr(piece_job.composer, "compose", broken_compose)  # forked workers inherit it
    with pytest.raises(RuntimeError, match="in a row failed"):
        build(tmp_path / "ds", hours=0.01, seed=1, workers=2, composer_fraction=1.0)
    assert "composer bug" in (tmp_path / "ds" / "build.log").read_text()
