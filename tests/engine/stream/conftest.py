"""Fixtures of the stream tests: one torch thread (the machine has 2 cores and other work) and the tiny random
debug model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine.debug_models import debug_generator
from engine.generate import Generator


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine has 2 cores and other work
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def generator() -> Generator:
    return debug_generator(0)
