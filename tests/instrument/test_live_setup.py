"""How the live generator is loaded (instrument.live_setup): its torch thread count."""

from __future__ import annotations

import pytest
import torch

from instrument.live_setup import GeneratorOptions, live_thread_count, load_live_generator


def test_live_leaves_one_core_to_the_audio() -> None:
    assert [live_thread_count(cpus) for cpus in (1, 2, 4, 16)] == [1, 1, 3, 15]


@pytest.fixture()
def restore_threads() -> None:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("restore_threads")
def test_threads_asked_win_and_live_play_defaults_to_one_fewer_than_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    torch.set_num_threads(3)
    load_live_generator(GeneratorOptions(debug_model=True, eager=True))
    assert torch.get_num_threads() == 2  # live: one core left to the effects pump, the feeder and the window
    torch.set_num_threads(3)
    load_live_generator(GeneratorOptions(debug_model=True, eager=True, live=False))
    assert torch.get_num_threads() == 3  # offline (rerender): torch's own count stays
    load_live_generator(GeneratorOptions(debug_model=True, eager=True, threads=1))
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a count set for the process wins over the live default
    torch.set_num_threads(3)
    load_live_generator(GeneratorOptions(debug_model=True, eager=True))
    assert torch.get_num_threads() == 3
