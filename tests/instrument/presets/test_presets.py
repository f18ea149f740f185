"""Preset validation, files, factory presets and the user folder."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from instrument.parameters import PARAMETER_SPECS, ParameterStore
from instrument.presets import (
    CURVE_PARAMETERS,
    CURVE_STEPS,
    MAX_PRESET_BYTES,
    PRESET_FORMAT,
    PRESET_VERSION,
    PresetError,
    apply_preset,
    factory_preset_dir,
    list_presets,
    load_preset_file,
    preset_file_name,
    preset_from_store,
    save_preset_file,
    user_preset_dir,
    validate_curves,
    validate_preset,
)


@pytest.fixture(autouse=True)
def _user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Never touch the real user data folder.
    base = tmp_path / "user"
    monkeypatch.setenv("CASCADE_USER_DIR", str(base))
    return base


def _minimal(**parameters: object) -> dict:
    return {"format": PRESET_FORMAT, "version": 1, "name": "t", "parameters": parameters, "prompts": ["a"]}


def _changed_store() -> ParameterStore:
    store = ParameterStore()
    store.set("cfg_scale", 6.5)
    store.set("steps", 17)
    store.set("sampler", 2)
    store.set("seed", 2**31 - 1)
    store.set("key", 9)
    store.set("fx_filter_cutoff_hz", 1234.5678)
    store.set("fx_limiter_enabled", 0)
    store.set("density_enabled", 1)
    store.set("master_gain_db", -12.3)
    store.set_prompt_text(0, "Genre: house | BPM: 124 | Key: A minor")
    store.set_prompt_text(2, "Ambient pads, ünïcödé ♯ 🎹")
    return store


def test_factory_presets_load_without_warnings() -> None:
    paths = sorted(factory_preset_dir().glob("*.json"))
    names = {p.stem for p in paths}
    assert "default" in names and len(paths) >= 5
    for path in paths:
        preset, warnings = load_preset_file(path)
        assert warnings == [], (path, warnings)
        assert preset["prompts"][0], path
        assert set(preset["parameters"]) == {spec.name for spec in PARAMETER_SPECS}, path
        store = ParameterStore()
        apply_preset(store, preset)  # and they apply cleanly


def test_default_preset_is_a_sensible_start() -> None:
    store = ParameterStore()
    apply_preset(store, load_preset_file(factory_preset_dir() / "default.json")[0])
    assert store.get("cfg_scale") == 4.0 and store.get("steps") == 8.0
    assert "house" in store.prompt_texts()[0].lower()


def test_round_trip_store_file_store(tmp_path: Path) -> None:
    source = _changed_store()
    path = tmp_path / "sub" / "mine.json"
    save_preset_file(path, preset_from_store(source, "Mine", "a test"))
    assert not [p for p in path.parent.iterdir() if p.name != "mine.json"]  # no temporary file left
    text = path.read_text(encoding="utf-8")
    assert "\n  " in text and "🎹" in text  # pretty, UTF-8 (not \u escapes)
    assert json.loads(text)["parameters"]["sampler"] == "euler"  # choices by label
    preset, warnings = load_preset_file(path)
    assert warnings == [] and preset["name"] == "Mine" and preset["description"] == "a test"
    target = ParameterStore()
    apply_preset(target, preset)
    assert dict(target.snapshot().values) == dict(source.snapshot().values)
    assert target.prompt_texts() == source.prompt_texts()


def test_apply_resets_unspecified_parameters_unless_merging() -> None:
    store = ParameterStore()
    store.set("fx_delay_mix", 0.8)
    apply_preset(store, _minimal(cfg_scale=5))
    assert store.get("fx_delay_mix") == 0.0 and store.get("cfg_scale") == 5.0
    assert store.prompt_texts() == ("a", "", "", "")
    store.set("fx_delay_mix", 0.8)
    apply_preset(store, _minimal(cfg_scale=6), merge=True)
    assert store.get("fx_delay_mix") == 0.8 and store.get("cfg_scale") == 6.0


def test_apply_is_all_or_nothing() -> None:
    store = _changed_store()
    before = store.snapshot()
    for bad in [None, [], {"format": "other"}, {**_minimal(), "version": PRESET_VERSION + 1},
                {**_minimal(), "prompts": [1]}, {**_minimal(), "prompts": ["a"] * 5}, {**_minimal(), "parameters": []}]:
        with pytest.raises(PresetError):
            apply_preset(store, bad)  # type: ignore[arg-type]
    after = store.snapshot()
    assert after.version == before.version and dict(after.values) == dict(before.values)


def test_out_of_range_values_clamp_with_warning() -> None:
    preset, warnings = validate_preset(_minimal(cfg_scale=99, steps=3.6, master_gain_db=-500, tempo_bpm=120))
    assert preset["parameters"]["cfg_scale"] == 12.0
    assert preset["parameters"]["steps"] == 4
    assert preset["parameters"]["master_gain_db"] == -60.0
    assert preset["parameters"]["tempo_bpm"] == 120.0
    assert len(warnings) == 3
    assert any("cfg_scale" in w and "12" in w for w in warnings)


def test_unknown_and_bad_values_dropped_with_warning() -> None:
    preset, warnings = validate_preset(_minimal(
        cfg_scal=5, steps="eight", seed=math.nan, variation=math.inf, sampler="heun", scale=2, key="Bb",
        fx_limiter_enabled=False, cfg_scale=True, tempo_bpm=[120]), "x.json")
    assert preset["parameters"] == {"key": "A#", "fx_limiter_enabled": False}  # flat tonic accepted
    joined = "\n".join(warnings)
    for name in ("cfg_scal", "steps", "seed", "variation", "sampler", "scale", "cfg_scale", "tempo_bpm"):
        assert name in joined
    assert all(w.startswith("x.json") for w in warnings)
    assert len(warnings) == 8


def test_prompts_cleaned_and_padded() -> None:
    preset, warnings = validate_preset({**_minimal(), "prompts": ["a\x00b", "y" * 5000]})
    assert preset["prompts"] == ["ab", "y" * 1000, "", ""]
    assert len(warnings) == 2


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("content, message", [
    (b'{"format": "cascade-preset",\n "version": 1,\n "name": "x" oops}', "line 3"),
    (b'{"format": "cascade-preset", "name": "caf\xe9"}', "UTF-8"),
    (b'["not", "a", "dict"]', "JSON object"),
    (b'{"format": "something-else", "version": 1}', "not a Cascade preset"),
    (b'{"format": "cascade-preset", "version": 99}', "newer"),
    (b'{"format": "cascade-preset", "version": "1"}', "version"),
    (b"[" * 200_000, "nested"),
    (b" " * (MAX_PRESET_BYTES + 1), "larger"),
])
def test_broken_files_raise_preset_error_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path / "broken.json", content)
    store = _changed_store()
    before = store.snapshot()
    with pytest.raises(PresetError, match=message) as info:
        apply_preset(store, load_preset_file(path)[0])
    assert str(path) in str(info.value)
    assert store.snapshot() == before


def test_bad_utf8_reports_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin1.json", b'{\n  "name": "caf\xe9"\n}')
    with pytest.raises(PresetError, match="line 2, column 15"):
        load_preset_file(path)


def test_missing_file_is_a_preset_error(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="nope.json"):
        load_preset_file(tmp_path / "nope.json")


def test_save_refuses_invalid_preset_and_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.json"
    save_preset_file(path, preset_from_store(ParameterStore(), "Keep"))
    before = path.read_bytes()
    with pytest.raises(PresetError):
        save_preset_file(path, {"format": "nope"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


PARAM_NAMES = [spec.name for spec in PARAMETER_SPECS]


def _random_json(rng: random.Random, depth: int = 0) -> object:
    scalars = [None, True, False, 0, -1, 2**70, 1e308, -0.0, math.nan, math.inf, "", "cascade-preset", "x" * 50,
               "dpmpp_2m", "\x00\udcff", 1, 3.5, -1e9]
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return rng.choice(scalars)
    if kind < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(6))]
    keys = ["format", "version", "name", "description", "parameters", "prompts", "cfg_scale", "sampler", "key",
            "fx_limiter_enabled", "steps", "junk"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(7))}


def test_fuzz_never_raises_anything_but_preset_error() -> None:
    rng = random.Random(1234)
    store = ParameterStore()
    accepted = values_kept = 0
    for i in range(500):
        data = _random_json(rng) if i % 2 else {"junk": _random_json(rng, 3)}
        if isinstance(data, dict) and rng.random() < 0.85:  # get past the header checks often enough
            data.update({"format": PRESET_FORMAT, "version": rng.choice([1, 1, 1, 1, 2, 0, True, 1.0])})
            if rng.random() < 0.7:  # and reach the per-parameter checks with odd values
                data["parameters"] = {
                    rng.choice(PARAM_NAMES + ["junk", ""]): rng.choice(
                        [_random_json(rng, 3), rng.uniform(-1e4, 1e4), rng.randrange(-5, 50),
                         rng.choice(["A", "Bb", "minor", "euler", "1/8", "3/16"])])
                    for _ in range(rng.randrange(12))}
            if rng.random() < 0.5:
                data["prompts"] = [rng.choice(["", "Genre: house", "a\x00b", 5]) for _ in range(rng.randrange(6))]
        try:
            preset, warnings = validate_preset(data, f"fuzz-{i}")
        except PresetError:
            continue
        assert all(isinstance(w, str) for w in warnings)
        apply_preset(store, preset)  # a clean preset always applies
        json.dumps(preset, allow_nan=False)  # and always serialises
        accepted += 1
        values_kept += len(preset["parameters"])
    assert accepted > 60 and values_kept > 100  # the fuzz really reached the value checks


def test_user_dir_honours_env(_user_dir: Path) -> None:
    directory = user_preset_dir()
    assert directory == _user_dir / "presets" and directory.is_dir()


def test_list_presets_includes_factory_user_and_broken(_user_dir: Path) -> None:
    directory = user_preset_dir()
    save_preset_file(directory / preset_file_name("My Sound!"), preset_from_store(ParameterStore(), "My Sound!"))
    (directory / "broken.json").write_text("{ not json", encoding="utf-8")
    infos = list_presets()
    factory = [i for i in infos if i.is_factory]
    user = {i.path.name: i for i in infos if not i.is_factory}
    assert {i.path.stem for i in factory} >= {"default", "ambient-drift", "techno-drive"}
    assert all(i.error is None and i.name for i in factory)
    assert user["my-sound.json"].name == "My Sound!" and user["my-sound.json"].error is None
    assert user["broken.json"].error is not None and "broken.json" in user["broken.json"].error
    assert user["broken.json"].name == "broken"


# --- drawn curves (format version 2) -----------------------------------------------------------------------


def _ramp(low: float, high: float) -> list[float]:
    return [low + (high - low) * i / (CURVE_STEPS - 1) for i in range(CURVE_STEPS)]


def test_curves_round_trip_through_a_file(tmp_path: Path) -> None:
    curves = {"brightness_hz": {"points": _ramp(300.0, 6000.0), "playing": True},
              "density": {"points": [2.0, 8.0] * (CURVE_STEPS // 2), "playing": False}}
    preset = preset_from_store(ParameterStore(), "Curvy", curves=curves)
    assert preset["version"] == PRESET_VERSION == 2
    path = tmp_path / "curvy.json"
    save_preset_file(path, preset)
    loaded, warnings = load_preset_file(path)
    assert warnings == []
    assert loaded["curves"] == curves
    assert json.loads(path.read_text())["curves"]["brightness_hz"]["playing"] is True


def test_version_1_preset_without_curves_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_minimal(cfg_scale=5.0)))
    preset, warnings = load_preset_file(path)
    assert warnings == [] and preset["curves"] == {} and preset["parameters"] == {"cfg_scale": 5.0}
    for factory in sorted(factory_preset_dir().glob("*.json")):  # the shipped (version 1) presets too
        assert load_preset_file(factory)[0]["curves"] == {}


def test_curve_points_out_of_range_clamp_with_a_warning() -> None:
    points = _ramp(-100.0, 20.0)  # loudness_db is -40..0 dB
    curves, warnings = validate_curves({"loudness_db": {"points": points, "playing": True},
                                        "tempo_bpm": {"points": _ramp(60, 120)}}, "x.json")
    assert min(curves["loudness_db"]["points"]) == -40.0 and max(curves["loudness_db"]["points"]) == 0.0
    assert "tempo_bpm" not in curves
    joined = "\n".join(warnings)
    assert "curve loudness_db" in joined and "clamped" in joined and "tempo_bpm" in joined


@pytest.mark.parametrize(("curve", "message"), [
    ({"points": _ramp(0.0, 1.0)[:-1]}, "must have 64 points, got 63 values"),
    ({"points": _ramp(0.0, 1.0)[:5] + ["loud"] + _ramp(0.0, 1.0)[6:]}, "point 6: 'loud' is not a finite number"),
    ({"points": [math.nan] * CURVE_STEPS}, "point 1: nan is not a finite number"),
    ({"points": [True] * CURVE_STEPS}, "point 1: True is not a finite number"),
    ({"points": _ramp(0.0, 1.0), "playing": "yes"}, "'playing' must be true or false"),
    ("wiggly", "curve noisiness must be an object"),
])
def test_a_broken_curve_is_a_clear_error(curve: object, message: str) -> None:
    data = {**_minimal(cfg_scale=7.0), "version": 2, "curves": {"noisiness": curve}}
    with pytest.raises(PresetError, match="curve noisiness") as caught:
        validate_preset(data, "broken.json")
    assert message in str(caught.value) and "broken.json" in str(caught.value)
    with pytest.raises(PresetError, match="'curves' must be an object"):
        validate_preset({**_minimal(), "curves": [1, 2]}, "broken.json")


def test_fuzzed_curves_never_raise_anything_but_preset_error() -> None:
    rng = random.Random(99)
    accepted = 0
    for _ in range(300):
        curve: object = rng.choice([
            {"points": [rng.choice([rng.uniform(-1e4, 1e4), 0, None, "x", math.inf]) if rng.random() < 0.02
                        else rng.uniform(-50, 9000) for _ in range(rng.choice([CURVE_STEPS, CURVE_STEPS, 3, 0]))],
             "playing": rng.choice([True, False, False, 1, None])},
            _random_json(rng, 2), [rng.uniform(0, 1)] * CURVE_STEPS])
        name = rng.choice([*CURVE_PARAMETERS, "junk", "cfg_scale"])
        try:
            preset, _warnings = validate_preset({**_minimal(), "version": 2, "curves": {name: curve}}, "fuzz")
        except PresetError:
            continue
        json.dumps(preset, allow_nan=False)
        for clean_name, clean in preset["curves"].items():
            spec = next(s for s in PARAMETER_SPECS if s.name == clean_name)
            assert len(clean["points"]) == CURVE_STEPS and isinstance(clean["playing"], bool)
            assert all(spec.minimum <= p <= spec.maximum for p in clean["points"])
        accepted += 1
    assert accepted > 50


# --- finding a preset by name (issue 17) -----------------------------------------------------------------------


def _write_user_preset(name: str, text: str) -> Path:
    path = user_preset_dir() / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_truncated_user_preset_reports_its_file_json_error_and_line() -> None:
    """It was reported as "no preset named 'x'", hiding what is wrong and where."""
    from instrument.presets import find_preset

    path = _write_user_preset("x.json", '{\n  "format": "cascade-preset",\n  "version": 1,\n  "parameters": {"cfg')
    with pytest.raises(PresetError) as caught:
        find_preset("x")
    message = str(caught.value)
    assert str(path) in message and "invalid JSON" in message and "line 4" in message
    assert "no preset named" not in message


def test_every_problem_of_a_preset_comes_back_and_the_valid_rest_applies() -> None:
    """Wrong types, unknown keys and out-of-range values loaded silently (only the data was kept)."""
    from instrument.presets import find_preset

    _write_user_preset("wild.json", json.dumps({
        "format": PRESET_FORMAT, "version": 1, "name": "Wild", "colour": "red",
        "parameters": {"cfg_scale": 1e9, "master_gain_db": 1e6, "steps": "loud", "reverb": 0.5, "variation": 0.25},
        "prompts": ["glass"]}))
    found = find_preset("wild")
    text = "\n".join(found.warnings)
    for words in ("'colour'", "cfg_scale = 1000000000.0 is outside [1, 12]", "master_gain_db = 1000000.0",
                  "steps must be a number, got 'loud'", "unknown parameter 'reverb'"):
        assert words in text, (words, text)
    assert len(found.warnings) == 5
    store = ParameterStore()
    apply_preset(store, found.preset)
    assert store.get("cfg_scale") == 12.0 and store.get("master_gain_db") == 6.0  # clamped
    assert store.get("variation") == 0.25 and store.prompt_texts()[0] == "glass"  # the valid rest
    assert store.get("steps") == store.spec("steps").default  # ignored
    banner = found.banner_text()
    assert banner is not None and "5 problems" in banner and banner.count(str(found.info.path)) == 1


def test_a_user_preset_named_like_a_factory_one_and_the_factory_one_are_both_reachable() -> None:
    """A user "Default" was silently ignored: the factory one always won."""
    from instrument.presets import find_preset

    mine = preset_from_store(_changed_store(), "Default")
    save_preset_file(user_preset_dir() / preset_file_name("Default"), mine)
    bare = find_preset("Default")
    assert not bare.info.is_factory and bare.preset["parameters"]["cfg_scale"] == 6.5
    assert bare.notes and "factory:Default" in bare.notes[0]
    assert find_preset("default").info.path == bare.info.path  # the file name reaches it too
    factory = find_preset("factory:Default")
    assert factory.info.is_factory and factory.info.path == factory_preset_dir() / "default.json" and not factory.notes
    assert find_preset("user:default").info.path == bare.info.path
    with pytest.raises(PresetError, match="no preset named 'user:Techno Drive'"):
        find_preset("user:Techno Drive")
    assert find_preset("Techno Drive").info.is_factory  # no user copy: the factory one, no note
    assert not find_preset("Techno Drive").notes


def test_a_broken_user_copy_falls_back_to_the_factory_preset_with_a_warning() -> None:
    from instrument.presets import find_preset

    path = _write_user_preset("default.json", "{ not json")
    found = find_preset("default")
    assert found.info.is_factory and str(path) in found.warnings[0] and "invalid JSON" in found.warnings[0]
    with pytest.raises(PresetError, match="invalid JSON at line 1"):
        find_preset("user:default")


def test_an_unknown_name_lists_what_there_is_and_how_to_pick() -> None:
    from instrument.presets import find_preset

    with pytest.raises(PresetError) as caught:
        find_preset("nothing-like-it")
    message = str(caught.value)
    assert "no preset named 'nothing-like-it'" in message and "default" in message and "factory:NAME" in message
