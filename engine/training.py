"""What every Cascade trainer shares: process set-up (CPU, CUDA, torchrun/DDP) and the EMA update.
Inference code never imports this module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def restore_training_state(path: Path, device: torch.device, model: nn.Module, ema: nn.Module,
                           optimiser: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Load model, EMA and optimiser from a `train_state.pt` if there is one; return the whole state (for
    the trainer's own entries: step, RNG states) or None when starting fresh."""
    if not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    optimiser.load_state_dict(state["optimiser"])
    return state


def save_training_state(path: Path, model: nn.Module, ema: nn.Module, optimiser: torch.optim.Optimizer,
                        **extra: Any) -> None:
    """Write model, EMA, optimiser and the trainer's extra entries atomically (a kill mid-write keeps the
    previous state)."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimiser": optimiser.state_dict(), **extra},
               tmp)
    tmp.replace(path)


def data_parallel(process: TrainingProcess, model: nn.Module) -> nn.Module:
    """The module to call in the training step: DDP-wrapped under torchrun, else the model itself."""
    if not process.distributed:
        return model
    device = process.device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
