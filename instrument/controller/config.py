"""What the app's instrument controller starts from (AppConfig), what it publishes (Message, TakeEntry) and where
the user's files go."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.read_words import DEFAULT_READ_WORDS

NO_DEVICE_MESSAGE = "No audio device: nothing is heard, but Record still saves takes."


def user_data_dir() -> Path:
    """$CASCADE_USER_DIR, else the platform's data folder for cascade (as instrument.presets uses)."""
    import platformdirs

    return Path(os.environ.get("CASCADE_USER_DIR") or platformdirs.user_data_dir("cascade"))


def default_takes_dir() -> Path:
    return user_data_dir() / "takes"


def user_mapping_dir() -> Path:
    return user_data_dir() / "midi"


@dataclass
class AppConfig:
    """How `cascade app` starts. generator_factory replaces model loading (tests pass a debug generator)."""

    preset: str = "default"
    output: str | int = "auto"
    debug_model: bool = False
    weights: str | None = None
    threads: int = 0
    midi: str | None = None  # a port to open at start ("" = the first port), None = none
    midi_map: str = "generic-8-knobs"
    takes_dir: Path | None = None
    autoplay: bool = True
    generator_factory: Callable[[], Any] | None = None
    eager: bool = False  # run the U-Net eagerly instead of the TorchScript-traced one (diagnostics)
    read_words: str = DEFAULT_READ_WORDS  # what reads tempo/key/scale from the prompts' words (engine/read_words.py)
    # The engine thread (and the torch workers it starts) runs this much nicer than the GUI thread, so a
    # chunk being generated on both cores cannot keep the display timer waiting for a CPU.
    engine_nice: int = 5
    session_options: dict[str, Any] = field(default_factory=dict)  # extra LiveSession keyword arguments
    # () -> instrument.output_process.PreparedOutput: an output process started while the app loaded; the
    # first session adopts it when it asks for the same output (instrument.app_start.start_output_prepare).
    prepared_output: Callable[[], Any] | None = None
    # (engine.request.GenerationRequest) -> None: told the first chunk's request once the start preset is
    # applied (before Qt is imported), so the preload computes that chunk ahead (instrument.preload.ModelPreload).
    announce_first_request: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Message:
    level: str  # "error", "warning", "info"
    text: str
    time_s: float


@dataclass(frozen=True)
class TakeEntry:
    sidecar: Path
    audio: Path
    seconds: float
    state: str
    rerenders: tuple[Path, ...]
