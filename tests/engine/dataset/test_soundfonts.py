"""The soundfont pool: which soundfonts train, the per-piece choice, the held-out TimGM6mb, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from engine.dataset import builder, manifest, render, soundfonts
from engine.dataset.score import Note, Piece, Track

TIMGM6MB = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
# Fast to load (no Ogg decoding): the end-to-end build below uses these three.
CHEAP_POOL = "FluidR3_GM,sf_GMbank,OPL-3_FM_128M"


def drum_piece(kit: int) -> Piece:
    drums = Track("drums", 0, True, "drums", [Note(36 + 2 * (i % 2), i * 0.25, i * 0.25 + 0.1, 100) for i in range(8)],
                  drum_kit=kit)
    bass = Track("bass", 33, False, "bass", [Note(40, 0.0, 1.9, 90)])
    return Piece("p000000", "composer", "composer/test/p000000", "test", 120.0, "E", "minor", 4, [0.0], 2.0,
                 [drums, bass], [0.5])


@pytest.fixture(autouse=True)
def no_soundfont_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASCADE_SOUNDFONT", raising=False)


def test_every_training_soundfont_is_installed_and_renders_gm() -> None:
    """scripts/setup.sh installs the whole pool; each has the 128 GM programs and a standard kit."""
    pool = soundfonts.resolve_soundfont_pool("all")
    assert [p.name for p in pool] == sorted(f.name for f in soundfonts.TRAINING_SOUNDFONTS), \
        f"missing: {[f.package for f in soundfonts.missing_training_soundfonts()]} (run scripts/setup.sh)"
    for path in pool:
        render.check_soundfont_loads(path)
    for path in soundfonts.resolve_soundfont_pool(CHEAP_POOL):
        renderer = render.FluidRenderer(path)
        assert all(renderer.has_preset(0, program) for program in range(128)), path.name
        assert renderer.has_preset(render.DRUM_BANK, render.STANDARD_KIT), path.name


def test_pool_names_packages_paths_and_order() -> None:
    by_name = soundfonts.resolve_soundfont_pool("sf_GMbank.sf2, fluid-soundfont-gm")
    assert [p.name for p in by_name] == ["FluidR3_GM.sf2", "sf_GMbank.sf2"], "sorted, whatever the order asked"
    assert soundfonts.resolve_soundfont_pool("fluidr3_gm,/usr/share/sounds/sf2/FluidR3_GM.sf2") == by_name[:1]
    assert soundfonts.resolve_soundfont_pool(None) == soundfonts.resolve_soundfont_pool("all")


def test_soundfont_choice_is_deterministic_and_varied() -> None:
    pool = [Path(f"/fonts/{name}.sf2") for name in "abcde"]
    picks = [soundfonts.choose_soundfont(pool, 1, index) for index in range(500)]
    assert picks == [soundfonts.choose_soundfont(pool, 1, index) for index in range(500)]
    counts = {path: picks.count(path) for path in pool}
    assert all(60 < count < 140 for count in counts.values()), counts  # ~uniform
    assert picks != [soundfonts.choose_soundfont(pool, 2, index) for index in range(500)], "the seed matters"
    assert len({soundfonts.choose_soundfont(pool, 1, index) for index in range(10)}) >= 3, "varies piece to piece"
    assert soundfonts.choose_soundfont(pool[:1], 1, 7) == pool[0]


@pytest.mark.parametrize("spec", ["TimGM6mb", "timgm6mb.sf2", str(TIMGM6MB), f"FluidR3_GM,{TIMGM6MB}"])
def test_timgm6mb_is_refused_in_the_pool(spec: str) -> None:
    with pytest.raises(render.HeldOutSoundfontError, match="held out"):
        soundfonts.resolve_soundfont_pool(spec)


def test_held_out_copies_and_links_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "TimGM6mb_copy.sf2"
    copy.write_bytes(b"RIFF")
    link = tmp_path / "general.sf2"
    link.symlink_to(TIMGM6MB)
    for path in (copy, link):
        with pytest.raises(render.HeldOutSoundfontError):
            soundfonts.resolve_soundfont_pool(str(path))
    # Even if someone lists it as a training soundfont, "all" refuses it.
    held_out = soundfonts.TrainingSoundfont("TimGM6mb.sf2", (str(TIMGM6MB),), "timgm6mb-soundfont", "")
    monkeypatch.setattr(soundfonts, "TRAINING_SOUNDFONTS", soundfonts.TRAINING_SOUNDFONTS + (held_out,))
    with pytest.raises(render.HeldOutSoundfontError):
        soundfonts.resolve_soundfont_pool("all")


def test_builder_refuses_held_out_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(render.HeldOutSoundfontError):
        builder.build_dataset(builder.BuildConfig(out_dir=tmp_path / "a", hours=0.001, soundfonts=str(TIMGM6MB),
                                                  workers=1, progress=False))
    monkeypatch.setenv("CASCADE_SOUNDFONT", str(TIMGM6MB))
    with pytest.raises(render.HeldOutSoundfontError):
        builder.build_dataset(builder.BuildConfig(out_dir=tmp_path / "b", hours=0.001, workers=1, progress=False))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    # The one fixed soundfont of the Python API may be held out: that is how the autoencoder benchmark
    # renders its unseen-soundfont clips (never a training set).
    assert builder.soundfont_pool(builder.BuildConfig(out_dir=tmp_path, hours=0.0, soundfont=str(TIMGM6MB))) \
        == [TIMGM6MB]


def test_missing_pool_soundfont_names_its_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absent = tuple(soundfonts.TrainingSoundfont(f.name, (str(tmp_path / f.name),), f.package, f.timbre)
                   for f in soundfonts.TRAINING_SOUNDFONTS)
    monkeypatch.setattr(soundfonts, "TRAINING_SOUNDFONTS", absent)
    with pytest.raises(render.SoundfontMissingError, match="apt-get install musescore-general-soundfont-small`"):
        soundfonts.resolve_soundfont_pool("MuseScore_General_Lite")
    with pytest.raises(render.SoundfontMissingError, match="apt-get install fluid-soundfont-gm opl3-soundfont`"):
        soundfonts.resolve_soundfont_pool("FluidR3_GM.sf2,opl3-soundfont")
    with pytest.raises(render.SoundfontMissingError, match="fluid-soundfont-gm .*opl3-soundfont"):
        soundfonts.resolve_soundfont_pool("all")
    with pytest.raises(render.SoundfontMissingError, match="not a training soundfont name"):
        soundfonts.resolve_soundfont_pool(str(tmp_path / "nowhere.sf2"))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CASCADE_SOUNDFONT"}
    return subprocess.run([sys.executable, "-m", "instrument.cli", "dataset", "build", "--hours", "0.001", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    result = run_cli("--out", str(tmp_path / "a"), "--soundfonts", f"FluidR3_GM,{tmp_path / 'gone.sf3'}")
    assert result.returncode == 2 and "gone.sf3 does not exist" in result.stderr, result.stderr
    result = run_cli("--out", str(tmp_path / "b"), "--soundfonts", "TimGM6mb")
    assert result.returncode == 2 and "held out" in result.stderr, result.stderr
    result = run_cli("--out", str(tmp_path / "c"), "--soundfont", str(TIMGM6MB))
    assert result.returncode == 2 and "held out" in result.stderr, result.stderr


def test_each_soundfont_loads_once_per_process_and_renders_repeatably() -> None:
    fluid, opl = soundfonts.resolve_soundfont_pool("FluidR3_GM,OPL-3_FM_128M")
    first, second, other = render.FluidRenderer(fluid), render.FluidRenderer(fluid), render.FluidRenderer(opl)
    assert first._font is second._font and first._font is not other._font
    piece = drum_piece(kit=0)
    a = first.render(piece)
    b = other.render(piece)
    assert not np.array_equal(a, b), "another soundfont, another sound"
    np.testing.assert_array_equal(second.render(piece), a)  # a fresh synth per piece, whoever rendered before
    np.testing.assert_array_equal(other.render(piece), b)


def test_missing_drum_kit_becomes_the_standard_kit() -> None:
    fluid, opl = (render.FluidRenderer(p) for p in soundfonts.resolve_soundfont_pool("FluidR3_GM,OPL-3_FM_128M"))
    piece = drum_piece(kit=25)  # TR-808: a GS kit that the OPL3 soundfont lacks
    same, notes = fluid.adapt(piece)
    assert same is piece and not notes
    adapted, notes = opl.adapt(piece)
    assert adapted.tracks[0].drum_kit == render.STANDARD_KIT and "no drum kit 25" in notes[0]
    assert piece.tracks[0].drum_kit == 25, "the original piece is not modified"
    with pytest.raises(render.RenderError, match="no preset 128:25"):
        opl.render(piece)
    assert np.sqrt(np.mean(opl.render(adapted) ** 2)) > 1e-3


def test_sf3_soundfonts_render() -> None:
    (mono,) = soundfonts.resolve_soundfont_pool("FluidR3Mono_GM")
    audio = render.FluidRenderer(mono).render(drum_piece(kit=0), tail_seconds=0.0)
    assert 20 * np.log10(np.sqrt(np.mean(audio**2))) > -45.0


def test_manifest_and_piece_log_record_the_soundfont(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    builder.build_dataset(builder.BuildConfig(out_dir=out, hours=0.02, seed=3, workers=2, soundfonts=CHEAP_POOL,
                                              progress=False))
    pool = soundfonts.resolve_soundfont_pool(CHEAP_POOL)
    settings = json.loads((out / manifest.CONFIG_NAME).read_text())
    assert settings["soundfonts"] == [p.name for p in pool]
    rows = manifest.validate_manifest(out)
    for row in rows:
        assert row["soundfont"] == soundfonts.choose_soundfont(pool, 3, row["piece_index"]).name
    pieces = [json.loads(line) for line in (out / manifest.PIECES_LOG_NAME).read_text().splitlines()]
    assert [p["soundfont"] for p in pieces] == [soundfonts.choose_soundfont(pool, 3, p["index"]).name for p in pieces]
    with pytest.raises(builder.DatasetConfigError, match="soundfonts"):
        builder.build_dataset(builder.BuildConfig(out_dir=out, hours=0.03, seed=3, workers=1,
                                                  soundfonts="FluidR3_GM", progress=False))


def test_a_soundfont_that_fails_to_load_stops_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: object) -> None:
        raise render.SoundfontLoadError(f"FluidSynth could not load soundfont {path}")

    monkeypatch.setattr(render, "FluidRenderer", broken)  # forked workers inherit it
    with pytest.raises(render.SoundfontLoadError, match="could not load"):
        builder.build_dataset(builder.BuildConfig(out_dir=tmp_path / "ds", hours=0.01, seed=1, workers=2,
                                                  soundfonts="sf_GMbank", progress=False))
    assert not (tmp_path / "ds" / manifest.MANIFEST_NAME).read_text()
