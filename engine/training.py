"""What every Cascade trainer shares: process set-up (CPU, CUDA, torchrun/DDP), the EMA update, one guarded
optimiser step, and a resumable run's files (`TrainingRun`: the train state and the log).
Inference code never imports this module."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class TrainingProcess:
    distributed: bool  # launched by torchrun with WORLD_SIZE > 1
    rank: int  # 0 logs, checkpoints and exports
    device: torch.device

    def finish(self) -> None:
        if self.distributed:
            torch.distributed.destroy_process_group()


def start_training_process(threads: int, seed: int) -> TrainingProcess:
    """Join the torchrun process group if there is one, pick the device (this rank's GPU, else CPU), set
    the CPU thread count (0 keeps torch's default) and seed torch per rank."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = torch.distributed.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed + rank)
    return TrainingProcess(distributed, rank, device)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter."""
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param, 1.0 - decay)


def set_learning_rate(optimiser: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimiser.param_groups:
        group["lr"] = learning_rate


def optimiser_step(loss: torch.Tensor, optimiser: torch.optim.Optimizer, parameters: Iterable[nn.Parameter],
                   step: int, max_grad_norm: float = 1.0) -> float:
    """Backpropagate `loss`, clip the gradients to `max_grad_norm` and step; a non-finite loss raises before
    the weights change (the last checkpoint stays good). Returns the gradient norm before clipping."""
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"non-finite loss at step {step}; resume from the last checkpoint")
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(nn.utils.clip_grad_norm_(parameters, max_grad_norm))
    optimiser.step()
    return grad_norm


def due(step: int, every: int, last_step: int) -> bool:
    """Whether a periodic job (log, evaluation, checkpoint) runs after `step`: every `every` steps and at the end."""
    return step % every == 0 or step == last_step


def run_steps(train_step: Callable[[], dict[str, Any]], current_step: Callable[[], int], last_step: int, *,
              log_every: int, checkpoint_every: int, rank: int,
              log: Callable[[dict[str, Any], float], None], save: Callable[[], None],
              seconds_limit: float | None = None) -> float:
    """The loop both trainers run: `train_step()` (which advances `current_step()`) until `last_step`; on rank 0
    `log(its numbers, seconds per step since the last log)` and `save()` when `due`. With `seconds_limit`, the
    step that ends past that much wall clock is the last: logged and saved (a lent GPU's time is fixed, its
    steps a second are not known beforehand). Returns the wall seconds."""
    started = time.monotonic()
    last_log, steps_since_log = started, 0
    while current_step() < last_step:
        numbers = train_step()
        step, steps_since_log = current_step(), steps_since_log + 1
        out_of_time = seconds_limit is not None and time.monotonic() - started >= seconds_limit
        if rank == 0 and (due(step, log_every, last_step) or out_of_time):
            now = time.monotonic()
            log(numbers, (now - last_log) / steps_since_log)
            last_log, steps_since_log = now, 0
        if rank == 0 and (due(step, checkpoint_every, last_step) or out_of_time):
            save()
        if out_of_time:
            break
    return time.monotonic() - started


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's whole state, for a train state: resuming from it continues the same stream of draws."""
    return rng.bit_generator.state


def numpy_rng_from(saved: dict[str, Any] | int) -> np.random.Generator:
    """The Generator a train state saved (`numpy_rng_state`); an int (train states before that) seeds a new one."""
    if isinstance(saved, dict):
        rng = np.random.default_rng()
        rng.bit_generator.state = saved
        return rng
    return np.random.default_rng(saved)


def config_record(config: Any, *path_fields: str) -> dict[str, Any]:
    """A trainer config as the train state keeps it: its fields, the named Path fields as strings."""
    return asdict(config) | {name: str(getattr(config, name)) for name in path_fields}


TRAIN_STATE_FILE = "train_state.pt"
TRAIN_LOG_FILE = "train_log.jsonl"


def read_training_state(run_dir: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A run's whole train state (model, ema, optimiser, step and the trainer's entries), e.g. to export its EMA
    while training goes on."""
    return torch.load(Path(run_dir) / TRAIN_STATE_FILE, map_location=device, weights_only=False)


class TrainingRun:
    """One resumable run's files in `out_dir`: `train_state.pt` (model, EMA, optimiser, step and the trainer's
    own entries: RNG states, configs), rewritten atomically, and `train_log.jsonl`, one JSON record a line.
    Rerunning the same command resumes from the state."""

    def __init__(self, out_dir: Path, rank: int, model: nn.Module, ema: nn.Module,
                 optimiser: torch.optim.Optimizer) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.out_dir / TRAIN_STATE_FILE
        self.log_path = self.out_dir / TRAIN_LOG_FILE
        self.rank = rank
        self.model, self.ema, self.optimiser = model, ema, optimiser
        self.history: list[dict[str, Any]] = []  # this process's log records

    def resume(self, device: torch.device) -> dict[str, Any] | None:
        """Load model, EMA and optimiser from the state if there is one; return the whole state (for the
        trainer's own entries: step, RNG states) or None when starting fresh."""
        if not self.state_path.exists():
            return None
        state = read_training_state(self.out_dir, device)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimiser.load_state_dict(state["optimiser"])
        if self.rank == 0:
            print(f"resumed from step {state['step']}", flush=True)
        return state

    def save(self, step: int, **extra: Any) -> None:
        """Write model, EMA, optimiser, step and the trainer's extra entries atomically (a kill mid-write keeps
        the previous state)."""
        tmp = self.state_path.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                    "optimiser": self.optimiser.state_dict(), "step": step, **extra}, tmp)
        tmp.replace(self.state_path)

    def log(self, record: dict[str, Any]) -> None:
        """Append one record to the log file and the history, and print it."""
        self.history.append(record)
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def data_parallel(process: TrainingProcess, model: nn.Module) -> nn.Module:
    """The module to call in the training step: DDP-wrapped under torchrun, else the model itself."""
    if not process.distributed:
        return model
    device = process.device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
