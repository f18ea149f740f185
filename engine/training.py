"""What every Cascade trainer shares: process set-up (CPU, CUDA, torchrun/DDP) and the EMA update.
Inference code never imports this module."""

from __future__ import annotations

import os
from dataclasses import dataclass

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
