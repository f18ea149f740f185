"""engine/training.py: the guarded optimiser step and a resumable run's files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from engine.training import TrainingRun, due, optimiser_step, read_training_state


def test_a_non_finite_loss_raises_before_the_weights_change() -> None:
    model = nn.Linear(3, 1)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="step 7"):
        optimiser_step(model(torch.ones(1, 3)).sum() * float("nan"), optimiser, model.parameters(), 7)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    grad_norm = optimiser_step(model(torch.ones(1, 3)).sum(), optimiser, model.parameters(), 8)
    assert grad_norm > 0 and not torch.equal(before[0], model.weight)


def test_a_run_saves_resumes_and_logs(tmp_path: Path) -> None:
    model, ema = nn.Linear(2, 2), nn.Linear(2, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    run = TrainingRun(tmp_path / "run", 0, model, ema, optimiser)
    assert run.resume(torch.device("cpu")) is None
    run.save(5, data_rng=11)
    run.log({"step": 5})
    assert read_training_state(tmp_path / "run")["data_rng"] == 11
    fresh = nn.Linear(2, 2)
    state = TrainingRun(tmp_path / "run", 0, fresh, nn.Linear(2, 2), torch.optim.SGD(fresh.parameters(), lr=0.1)
                        ).resume(torch.device("cpu"))
    assert state is not None and state["step"] == 5 and torch.equal(fresh.weight, model.weight)
    assert (tmp_path / "run" / "train_log.jsonl").read_text() == '{"step": 5}\n' and run.history == [{"step": 5}]
    assert due(10, 5, 12) and due(12, 5, 12) and not due(11, 5, 12)
