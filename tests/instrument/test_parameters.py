"""The parameter specs and the thread-safe parameter store."""

from __future__ import annotations

import math
import threading

import pytest

from instrument.parameters import (
    GROUPS,
    HISTORY_LENGTH,
    MAX_PROMPT_CHARS,
    PARAMETER_SPECS,
    ParameterSpec,
    ParameterStore,
)

SPECS = {spec.name: spec for spec in PARAMETER_SPECS}


def test_full_parameter_set_is_present_and_consistent() -> None:
    required = ["cfg_scale", "steps", "sampler", "seed", "variation", "tempo_bpm", "key", "scale",
                "xy_x", "xy_y", "master_gain_db", "fx_limiter_enabled", "fx_delay_beats", "fx_filter_cutoff_hz"]
    required += [f"prompt_{i}_weight" for i in range(1, 5)]
    for name in ("loudness_db", "brightness_hz", "noisiness", "density"):
        required += [name, f"{name}_enabled"]
    assert not set(required) - set(SPECS)
    for spec in PARAMETER_SPECS:
        assert spec.group in GROUPS, spec.name
        assert spec.description, spec.name
        assert spec.clamp(spec.default) == spec.default
    assert SPECS["cfg_scale"].default == 4 and SPECS["steps"].default == 8
    assert SPECS["prompt_1_weight"].default == 1 and SPECS["prompt_2_weight"].default == 0
    assert SPECS["master_gain_db"].default == -6 and SPECS["master_gain_db"].smoothing_seconds == 0.05
    assert SPECS["fx_limiter_enabled"].default == 1
    assert SPECS["brightness_hz"].curve == "log" and SPECS["fx_filter_cutoff_hz"].curve == "log"
    assert SPECS["seed"].maximum == 2**31 - 1


def test_clamp_floats_ints_choices_bools() -> None:
    assert SPECS["cfg_scale"].clamp(100) == 12.0
    assert SPECS["cfg_scale"].clamp(-3) == 1.0
    assert SPECS["cfg_scale"].clamp(4.25) == 4.25
    assert SPECS["steps"].clamp(7.5) == 8.0  # half-up, not banker's rounding
    assert SPECS["steps"].clamp(7.4) == 7.0
    assert SPECS["steps"].clamp(0) == 1.0
    assert SPECS["sampler"].clamp(1.6) == 2.0
    assert SPECS["sampler"].clamp(9) == 2.0
    assert SPECS["sampler"].choice_label(1) == "ddim"
    assert SPECS["sampler"].choice_index("EULER") == 2.0
    with pytest.raises(ValueError):
        SPECS["sampler"].choice_index("heun")
    assert SPECS["fx_limiter_enabled"].clamp(0.7) == 1.0
    assert SPECS["fx_limiter_enabled"].clamp(True) == 1.0
    assert SPECS["fx_limiter_enabled"].clamp(0.2) == 0.0
    assert isinstance(SPECS["steps"].clamp(3), float)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 10**400])
def test_non_finite_values_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        SPECS["cfg_scale"].clamp(bad)
    store = ParameterStore()
    with pytest.raises(ValueError):
        store.set("cfg_scale", bad)
    assert store.get("cfg_scale") == 4.0 and store.version == 0


def test_non_numbers_are_rejected() -> None:
    with pytest.raises(TypeError):
        SPECS["cfg_scale"].clamp("5")  # type: ignore[arg-type]


def test_bad_specs_fail_at_construction() -> None:
    with pytest.raises(ValueError):
        ParameterSpec("x", 0.0, 1.0, 2.0, "")  # default out of range
    with pytest.raises(ValueError):
        ParameterSpec("x", 0.0, 1.0, 0.5, "", curve="log")  # log needs a positive minimum
    with pytest.raises(ValueError):
        ParameterSpec("x", 0.0, 3.0, 0.0, "", kind="choice", choices=("a", "b"))


def test_log_curve_round_trip() -> None:
    spec = SPECS["fx_filter_cutoff_hz"]
    assert spec.to_normalised(20.0) == 0.0 and spec.to_normalised(20000.0) == 1.0
    assert spec.to_normalised(math.sqrt(20.0 * 20000.0)) == pytest.approx(0.5)  # geometric midpoint
    for x in [0.0, 0.1, 0.33, 0.5, 0.77, 1.0]:
        assert spec.to_normalised(spec.from_normalised(x)) == pytest.approx(x, abs=1e-12)
    for hz in [20.0, 100.0, 440.0, 1000.0, 12345.0, 20000.0]:
        assert spec.from_normalised(spec.to_normalised(hz)) == pytest.approx(hz, rel=1e-12)
    assert spec.from_normalised(-1.0) == 20.0 and spec.from_normalised(2.0) == 20000.0
    with pytest.raises(ValueError):
        spec.from_normalised(math.nan)


def test_linear_and_int_normalised() -> None:
    assert SPECS["master_gain_db"].from_normalised(1.0) == 6.0
    assert SPECS["master_gain_db"].to_normalised(-27.0) == pytest.approx(0.5)
    steps = SPECS["steps"]
    assert steps.from_normalised(0.5) == 17.0  # 1 + 15.5 rounds half up
    assert SPECS["scale"].from_normalised(1.0) == 3.0
    assert SPECS["fx_limiter_enabled"].from_normalised(0.49) == 0.0


def test_set_get_and_version_bumps_only_on_change() -> None:
    store = ParameterStore()
    assert store.version == 0
    assert store.set("cfg_scale", 50) == 12.0
    assert store.get("cfg_scale") == 12.0 and store.version == 1
    assert store.set("cfg_scale", 13) == 12.0  # clamps to the same stored value: no change
    assert store.version == 1
    store.set("steps", 8)  # the default
    assert store.version == 1
    assert store.set_normalised("master_gain_db", 1.0) == 6.0
    assert store.version == 2


def test_unknown_name_suggests_close_names() -> None:
    store = ParameterStore()
    with pytest.raises(KeyError, match="cfg_scale"):
        store.get("cfg_scal")
    with pytest.raises(KeyError):
        store.set("nonsense_parameter_xyz", 1.0)


def test_snapshot_is_immutable_and_isolated() -> None:
    store = ParameterStore()
    store.set_prompt_text(0, "Genre: house")
    snap = store.snapshot()
    store.set("cfg_scale", 9.0)
    store.set_prompt_text(0, "Genre: jazz")
    assert snap["cfg_scale"] == 4.0 and snap.prompt_texts[0] == "Genre: house"
    assert snap.version == 1 and store.snapshot().version == 3
    with pytest.raises(TypeError):
        snap.values["cfg_scale"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        snap.version = 5  # type: ignore[misc]


def test_subscribe_unsubscribe_and_failing_callback() -> None:
    store = ParameterStore()
    seen: list[tuple[str, float | str, str]] = []

    def broken(name: str, value: float | str, source: str) -> None:
        raise RuntimeError("listener bug")

    unsubscribe_broken = store.subscribe(broken)
    unsubscribe = store.subscribe(lambda *args: seen.append(args))
    assert store.set("tempo_bpm", 128, source="gui") == 128.0  # the broken listener does not break set
    store.set("tempo_bpm", 128, source="gui")  # no change, no notification
    store.set_prompt_text(1, "Genre: ambient", source="gui")
    assert seen == [("tempo_bpm", 128.0, "gui"), ("prompt_2_text", "Genre: ambient", "gui")]
    unsubscribe()
    unsubscribe()  # idempotent
    unsubscribe_broken()
    store.set("tempo_bpm", 90)
    assert len(seen) == 2


def test_callback_may_use_the_store_without_deadlock() -> None:
    store = ParameterStore()
    store.subscribe(lambda name, value, source: store.snapshot() if name == "cfg_scale" else None)
    store.subscribe(lambda name, value, source: store.set("steps", 4) if name == "cfg_scale" else None)
    store.set("cfg_scale", 6)
    assert store.get("steps") == 4.0


def test_thread_safety_under_concurrent_sets() -> None:
    store = ParameterStore()
    names = ["cfg_scale", "tempo_bpm", "fx_reverb_mix", "master_gain_db"]
    effective = [0] * 4
    errors: list[BaseException] = []
    stop = threading.Event()
    notified: list[int] = []
    store.subscribe(lambda *args: notified.append(1))

    def writer(index: int) -> None:
        try:
            spec = store.spec(names[index])
            previous = store.get(names[index])
            for i in range(2000):
                value = spec.from_normalised((i % 7) / 6)
                store.set(names[index], value)
                effective[index] += value != previous  # each thread owns one name: it knows its changes
                previous = value
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    def reader() -> None:
        try:
            last = -1
            while not stop.is_set():
                snap = store.snapshot()
                assert snap.version >= last
                last = snap.version
                store.changes_since(max(0, last - 10))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    read_thread = threading.Thread(target=reader)
    read_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    read_thread.join()
    assert not errors
    assert store.version == sum(effective) == len(notified)


def test_prompt_text_validation() -> None:
    store = ParameterStore()
    assert store.set_prompt_text(0, "Genre: house\x00\x07 |\tBPM: 124\n") == "Genre: house | BPM: 124"
    assert store.set_prompt_text(1, "x" * 10_000) == "x" * MAX_PROMPT_CHARS
    assert store.set_prompt_text(2, "Ambient pads in D♯ minor".encode()) == "Ambient pads in D♯ minor"
    with pytest.raises(ValueError, match="UTF-8"):
        store.set_prompt_text(3, b"caf\xe9 jazz")
    with pytest.raises(ValueError):
        store.set_prompt_text(3, "bad \udcff surrogate")
    with pytest.raises(TypeError):
        store.set_prompt_text(3, 42)  # type: ignore[arg-type]
    for slot in (-1, 4, True, 1.0):
        with pytest.raises(ValueError):
            store.set_prompt_text(slot, "x")  # type: ignore[arg-type]
    texts = store.prompt_texts()
    assert texts[3] == "" and len(texts) == 4
    version = store.version
    store.set_prompt_text(0, "Genre: house | BPM: 124")  # same text: no change
    assert store.version == version


def test_changes_since() -> None:
    store = ParameterStore()
    store.set("cfg_scale", 5, source="gui")
    mark = store.version
    store.set("steps", 12, source="midi")
    store.set_prompt_text(0, "Genre: techno", source="api")
    changes = store.changes_since(mark)
    assert [(c.version, c.name, c.value, c.source) for c in changes] == [
        (2, "steps", 12.0, "midi"), (3, "prompt_1_text", "Genre: techno", "api")]
    assert changes[0].time_monotonic_s <= changes[1].time_monotonic_s
    assert store.changes_since(store.version) == []
    assert len(store.changes_since(0)) == 3


def test_change_history_is_bounded() -> None:
    store = ParameterStore()
    for i in range(HISTORY_LENGTH + 50):
        store.set("seed", i + 1)
    changes = store.changes_since(0)
    assert len(changes) == HISTORY_LENGTH
    assert changes[-1].version == store.version == HISTORY_LENGTH + 50


def test_reset_and_set_many() -> None:
    store = ParameterStore()
    store.set("cfg_scale", 7)
    store.set_prompt_text(0, "Genre: jazz")
    assert store.set_many({"steps": 16, "sampler": 1, "cfg_scale": 7}) == 2
    with pytest.raises(ValueError):  # one bad value: nothing changes
        store.set_many({"steps": 4, "cfg_scale": math.nan})
    assert store.get("steps") == 16.0
    store.reset()
    snap = store.snapshot()
    assert all(snap[spec.name] == spec.default for spec in PARAMETER_SPECS)
    assert snap.prompt_texts == ("", "", "", "")
    version = store.version
    store.reset()
    assert store.version == version  # nothing left to change


def test_every_spec_carries_its_label() -> None:
    for spec in PARAMETER_SPECS:
        assert spec.label and len(spec.label) <= 12, spec.name  # it sits under a knob
    assert SPECS["cfg_scale"].label == "CFG" and SPECS["fx_filter_cutoff_hz"].label == "Low-pass"
    assert SPECS["brightness_hz"].label == SPECS["brightness_hz_enabled"].label == "Brightness"
    assert ParameterSpec("x_gain", 0.0, 1.0, 0.5, "").label == "x_gain"  # no label given: the name
    assert ParameterSpec("x_gain", 0.0, 1.0, 0.5, "", label="Gain").label == "Gain"
