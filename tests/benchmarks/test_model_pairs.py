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
