"""The paired comparison of two models: the sign test and the table over per-prompt rights."""

import math

import pytest


def test_the_sign_test_matches_the_binomial_tails() -> None:
    from benchmarks.model_pairs import sign_test_p

    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 3) == 1.0
    assert sign_test_p(10, 6) == pytest.approx(2 * sum(math.comb(16, k) for k in range(7)) / 2 ** 16)
    assert 0.45 < sign_test_p(10, 6) < 0.46  # session 22's style split: within chance
    assert sign_test_p(0, 8) == pytest.approx(2 / 2 ** 8)
    assert sign_test_p(20, 5) < 0.01


def test_the_paired_table_counts_only_the_prompts_a_measure_applies_to() -> None:
    from benchmarks.model_pairs import paired_table

    right = {"tempo_acc1": True, "tempo_acc2": True, "key_scale": True, "style": True}
    wrong = {"tempo_acc1": False, "tempo_acc2": True, "key_scale": False, "style": False}
    modal = {"tempo_acc1": True, "tempo_acc2": True, "key_scale": None, "style": False}  # a dorian prompt: no key
    table = {row["measure"]: row for row in paired_table([right, wrong, modal], [wrong, right, modal])}
    assert (table["tempo_acc1"]["only_a"], table["tempo_acc1"]["only_b"]) == (1, 1)
    assert table["tempo_acc2"]["a"] == table["tempo_acc2"]["b"] == 1.0
    assert table["key_scale"]["n"] == 2 and table["key_scale"]["a"] == table["key_scale"]["b"] == 0.5
    assert table["style"]["a"] == pytest.approx(1 / 3) and table["style"]["only_a"] == table["style"]["only_b"] == 1


def test_a_earlier_run_is_reused_only_for_the_same_model_prompts_and_settings(tmp_path) -> None:
    import json

    from benchmarks.model_pairs import _settings, earlier_rights, file_sha256

    weights, other = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    weights.write_bytes(b"model a")
    other.write_bytes(b"model b")
    args = {"dataset": tmp_path, "seeds": [1], "n": 2, "seconds": 8.0, "steps": 16, "cfg": 3.0}
    rights = [{"tempo_acc1": True, "tempo_acc2": True, "key_scale": None, "style": False}]
    saved = tmp_path / "pairs.json"
    saved.write_text(json.dumps({"weights": [str(weights), str(other)], "sha256": [file_sha256(weights), "x"],
                                 "settings": _settings(args), "per_prompt": [{"prompt": "techno 128", "a": rights[0],
                                                                              "b": rights[0]}]}))
    assert earlier_rights(saved, weights, ["techno 128"], args) == rights
    with pytest.raises(SystemExit, match="another A"):
        earlier_rights(saved, other, ["techno 128"], args)
    with pytest.raises(SystemExit, match="other prompts"):
        earlier_rights(saved, weights, ["cumbia 95"], args)
    with pytest.raises(SystemExit, match="ran with"):
        earlier_rights(saved, weights, ["techno 128"], args | {"steps": 8})
