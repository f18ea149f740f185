"""The app's take player: a take played back in a child process (python -m instrument.take_player) on its own
thread, so the operations thread's long jobs never hold up Play on the Takes tab."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from instrument.controller.base import ControllerBase, logger
from instrument.output import parse_output
from instrument.take_player import TakePlayer


class PlaybackControl(ControllerBase):
    """The in-app take player (a part of Instrument)."""

    take_player: TakePlayer
    player_version: int  # bumped on every take-player event
    player_path: Path | None  # the file the player plays (None when it does not)
    _player_error_seen: bool
    _player_ops: ThreadPoolExecutor

    @property
    def take_playing(self) -> bool:
        """The take player's child runs (opening, playing or stopping)."""
        return self.player_path is not None

    def play_take(self, audio: Path) -> Future:
        """Play a take's audio in a child process (python -m instrument.take_player) on the output device
        (JACK when a server runs); errors (missing or broken file, no device) come back as banner messages."""
        output = self.config.output
        device = "auto" if output in ("auto", "none", None) else parse_output(str(output))

        def start() -> None:
            self.take_player.stop()  # the previous playback's last events arrive before the new path is set
            self._player_error_seen = False
            self.player_path = Path(audio)
            self.player_version += 1
            self.take_player.start(audio, device)
        return self._submit_player("playing the take", start)

    def stop_take_playback(self) -> Future:
        return self._submit_player("stopping the take", self.take_player.stop)

    def toggle_take_playback(self, audio: Path) -> Future:
        return self.stop_take_playback() if self.take_playing else self.play_take(audio)

    def _submit_player(self, what: str, function: Callable[[], Any]) -> Future:
        # Its own thread: the operations thread may be loading the model or starting the session for seconds.
        def run() -> Any:
            try:
                return function()
            except Exception as error:  # noqa: BLE001 - reported on the banner, the app keeps running
                logger.exception("%s failed", what)
                self.post("error", f"{what} failed: {error}")
                self.player_path = None
                self.player_version += 1
                return None

        if self._closed:
            future: Future = Future()
            future.set_result(None)
            return future
        return self._player_ops.submit(run)

    def _on_player_event(self, event: dict[str, Any]) -> None:  # the player's reader thread
        kind = event.get("event")
        name = self.player_path.name if self.player_path is not None else "the take"
        if kind == "error":
            self._player_error_seen = True
            self.post("error", f"Take not played: {event.get('message')}")
        elif kind == "exited":
            code = event.get("code")
            if code not in (0, None) and not self._player_error_seen and code != -15:  # -15: our own SIGTERM
                tail = (str(event.get("stderr") or "").strip().splitlines() or [f"exit code {code}"])[-1]
                self.post("error", f"Take player for {name} failed: {tail}")
            self.player_path = None
        self.player_version += 1

