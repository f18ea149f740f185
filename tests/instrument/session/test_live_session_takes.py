"""The live session and a take that stops by itself (a real 1 MB tmpfs fills): the session says so in its
status, keeps playing, and records again elsewhere without being stopped first."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import soundfile
import torch

from engine.debug_models import debug_generator
from engine.stream import EngineConfig, StreamGeometry
from instrument.session import LiveSession
from instrument.parameters import ParameterStore
from tests.helpers import wait_for
from tests.takes_support import tmpfs


def test_a_full_disk_stops_the_take_not_the_session_and_recording_starts_again_elsewhere(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    store = ParameterStore()
    store.set_prompt_text(0, "warm analog pad")
    store.set("steps", 2)
    live = LiveSession(debug_generator(0), store, engine_config=EngineConfig(geometry=StreamGeometry(32, 12, 4)),
                       output="none")
    told = threading.Event()
    live.start()
    try:
        with tmpfs(tmp_path / "small", "1m") as small:
            take = live.start_recording(small, "full", on_stopped=lambda status: told.set())
            assert told.wait(60), "the disk never filled"
            status = live.status()
            assert status.take_error == "disk full" and not status.recording
            assert status.take_frames == take.status.frames_written == soundfile.info(take.audio_path).frames
            assert "RECORDING STOPPED: disk full" in status.line()
            chunks = status.engine.chunks
            assert wait_for(lambda: live.status().engine.chunks > chunks + 1, timeout_s=30), "the session plays on"
            again = live.start_recording(tmp_path / "elsewhere", "again")  # no stop_recording first
            assert wait_for(lambda: live.status().take_frames > 22050, timeout_s=30)
            assert live.status().recording and live.status().take_error is None
            assert live.stop_recording().state == "complete"
            assert json.loads(take.sidecar_path.read_text())["state"] == "disk_full"
            assert soundfile.info(again.audio_path).frames == again.status.frames_written > 22050
    finally:
        live.stop()
        torch.set_num_threads(threads)
