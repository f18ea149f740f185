"""engine/allocator.py: after keep_freed_memory, decoding again reuses the pages of the last decode's tensors
instead of faulting in fresh ones (counted by the kernel: minor page faults per 10 s decode with the shipped
codec, in a fresh process each)."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import resource, sys
import torch
from engine.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
from engine.codec.checkpoint import load_autoencoder
torch.set_num_threads(1)
model = load_autoencoder()
with torch.no_grad():
    latent = model.encode(torch.randn(1, 2, 430 * 1024, generator=torch.Generator().manual_seed(0)) * 0.1)
    model.decode(latent)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(2):
        model.decode(latent)
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 2)
"""


def _faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    applied, kept = _faults("on")
    assert applied
    _, default = _faults("off")
    frames_pages = 2 * 4 * 430 * 1025 * 4 // 4096  # one float tensor of the decode's STFT frames
    # glibc's default: the large tensors' pages are faulted in on every decode (at least one whole tensor's worth;
    # session 18: 10,400-22,700 quiet, 6,870 once under the full suite's load, against 2 x 3,443 before)
    assert default > frames_pages
    assert kept < default / 2  # measured: 62-3,600 kept, 6,870-22,700 by default


def test_a_second_call_gives_the_first_answer() -> None:
    from engine.allocator import keep_freed_memory

    assert keep_freed_memory() == keep_freed_memory()
