"""Model weights as safetensors with the config and provenance in the file's metadata (as Vocos and
k-diffusion keep the config with the weights), shared by every model Cascade ships. Loading validates
the file completely before any tensor reaches a model: a corrupt, truncated, foreign, mismatched or
NaN-carrying file raises CheckpointError and leaves nothing half-loaded."""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

ModelT = TypeVar("ModelT", bound=nn.Module)
ConfigT = TypeVar("ConfigT")


class CheckpointError(ValueError):
    """The file is not a usable Cascade model of the expected kind (corrupt, foreign, or mismatched)."""


@dataclass(frozen=True)
class ModelFileKind:
    """One kind of model file: its format tag, the newest format version this Cascade reads, and its names in
    error messages ("not a Cascade {what}", "no such {short_name} checkpoint")."""

    file_format: str
    format_version: int
    what: str
    short_name: str


# How a config field's JSON value becomes the field's type (the configs' annotations, as strings).
_FIELD_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": int, "float": float, "str": str, "bool": bool,
    "tuple[int, ...]": lambda value: tuple(int(item) for item in value),
}


def config_from_dict(config_class: type[ConfigT], data: Mapping[str, object], what: str,
                     missing: Mapping[str, object] | None = None) -> ConfigT:
    """A config dataclass from its JSON form (a model file's metadata): each value converted to its field's
    type, an unknown key refused (ValueError "unknown {what} config keys"), a missing key given its `missing`
    value (what files written before the field existed meant), else the field's default."""
    types = {field.name: str(field.type) for field in fields(config_class)}  # type: ignore[arg-type]
    unknown = set(data) - set(types)
    if unknown:
        raise ValueError(f"unknown {what} config keys: {sorted(unknown)}")
    values = {name: _FIELD_CONVERTERS[types[name]](value) for name, value in data.items()}
    for name, value in (missing or {}).items():
        values.setdefault(name, value)
    return config_class(**values)


def save_weights(model: nn.Module, path: str | Path, *, file_format: str, format_version: int,
                 config: dict[str, Any], extra: dict[str, Any] | None = None, half: bool = True,
                 keep_fp32: Callable[[str], bool] = lambda name: False) -> None:
    """Write the state dict (floating tensors fp16 when `half`, except names `keep_fp32` picks) atomically."""
    tensors = {}
    for name, tensor in model.state_dict().items():
        fp32 = keep_fp32(name) or not tensor.is_floating_point() or not half
        tensors[name] = tensor.detach().cpu().to(torch.float32 if fp32 else torch.float16) \
            if tensor.is_floating_point() else tensor.detach().cpu()
        tensors[name] = tensors[name].contiguous()
    metadata = {"format": file_format, "format_version": str(format_version), "config": json.dumps(config),
                "extra": json.dumps(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def read_weights_metadata(path: str | Path, file_format: str, format_version: int, what: str) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    if metadata.get("format") != file_format:
        raise CheckpointError(f"{path}: not a Cascade {what} (format {metadata.get('format')!r})")
    if int(metadata.get("format_version", "0")) > format_version:
        raise CheckpointError(f"{path}: format version {metadata['format_version']} is newer than this Cascade")
    try:
        return {"config": json.loads(metadata["config"]), "extra": json.loads(metadata.get("extra", "{}")),
                "format_version": int(metadata.get("format_version", "0"))}
    except (KeyError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable metadata ({error})") from error


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_",
                   "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "orthogonal_")
_skip_lock = threading.Lock()


@contextlib.contextmanager
def skipped_init() -> Iterator[None]:
    """Build modules without their random initialisation (torch.nn.init's functions leave the tensor as it is),
    for a model whose every parameter and buffer `load_weights_into` overwrites next (it refuses a file that
    lacks any). The draws were a third of the shipped model's load time (0.13 of 0.34 s). Patches torch.nn.init
    for the whole process while it lasts: use it only where no other thread builds a model meanwhile."""
    with _skip_lock:
        saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
        try:
            for name in _INIT_FUNCTIONS:
                setattr(nn.init, name, _leave_as_is)
            yield
        finally:
            for name, function in saved.items():
                setattr(nn.init, name, function)


def _leave_as_is(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def load_weights_into(model: ModelT, path: str | Path) -> ModelT:
    """Check every tensor of `path` against `model`'s state dict, then load (as the model's dtypes)."""
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path}: corrupt tensor data ({error})") from error
    expected = model.state_dict(keep_vars=True)  # the module's own tensors: a tied weight is one object
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors missing {missing[:5]} / unexpected {unexpected[:5]}")
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{path}: {name} has shape {tuple(tensor.shape)}, "
                                  f"the config needs {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not _all_finite(tensor):
            raise CheckpointError(f"{path}: {name} contains NaN or inf")
    # assign: the module takes the converted tensors instead of copying them into the ones it was built with
    # (which `skipped_init` left unfilled), unless it ties weights, which assigning would untie.
    tied = len({id(tensor) for tensor in expected.values()}) < len(expected)
    model.load_state_dict({k: v.to(dtype=expected[k].dtype, device=expected[k].device) for k, v in tensors.items()},
                          assign=not tied)
    return model


def save_model_file(model: nn.Module, path: str | Path, kind: ModelFileKind, *, half: bool = True,
                    extra: dict[str, Any] | None = None,
                    keep_fp32: Callable[[str], bool] = lambda name: False) -> None:
    """`save_weights` for a model with a `config.to_dict()`: the config goes into the file."""
    save_weights(model, path, file_format=kind.file_format, format_version=kind.format_version,
                 config=model.config.to_dict(), extra=extra, half=half, keep_fp32=keep_fp32)  # type: ignore[operator]


def read_model_metadata(path: str | Path, kind: ModelFileKind) -> dict[str, Any]:
    return read_weights_metadata(path, kind.file_format, kind.format_version, kind.what)


def load_model_file(path: str | Path, kind: ModelFileKind, config_from: Callable[[dict[str, Any]], ConfigT],
                    build: Callable[[ConfigT], ModelT], device: str | torch.device = "cpu", *,
                    expected_config: ConfigT | None = None,
                    check_metadata: Callable[[Path, dict[str, Any]], None] | None = None) -> ModelT:
    """Build the model from the config in `path`'s metadata and load its weights (as fp32), on `device`, in
    eval mode. `check_metadata(path, metadata)` may refuse an old format before the config is read; a config
    other than `expected_config` (when given) is refused. Raises CheckpointError, leaving nothing half-loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {kind.short_name} checkpoint")
    metadata = read_model_metadata(path, kind)
    if check_metadata is not None:
        check_metadata(path, metadata)
    try:
        config = config_from(metadata["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid config in metadata ({error})") from error
    if expected_config is not None and config != expected_config:
        raise CheckpointError(f"{path}: config {config} does not match the expected {expected_config}")
    with skipped_init():  # every tensor is loaded next: the random draws would be thrown away
        model = build(config)
    return load_weights_into(model, path).to(device).eval()


def _all_finite(tensor: torch.Tensor) -> bool:
    """No NaN or inf: one min/max pass (NaN propagates into both; +-inf shows in one), 6-7x faster than
    isfinite().all() over the shipped model (7.6 vs 48-54 ms), which is on the app's path to its first sound."""
    if tensor.numel() == 0:
        return True
    low, high = torch.aminmax(tensor.detach())
    return math.isfinite(float(low)) and math.isfinite(float(high))
