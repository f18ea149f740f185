"""The app's instrument controller (instrument.controller) without a window: Qt-free, as it runs before Qt is
imported."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User presets, takes and controller presets go to a temporary folder."""
    folder = tmp_path / "user"
    monkeypatch.setenv("CASCADE_USER_DIR", str(folder))
    return folder


def test_a_take_is_rerendered_on_the_model_that_plays(user_dir: Path) -> None:
    """`cascade` hands the app its model through a factory (the preload): a re-render must still use the
    shipped model then, and the debug model only when the debug model plays."""
    from engine.debug_models import debug_generator
    from engine.generate import Generator
    from instrument.controller import AppConfig, Instrument

    for factory, debug in ((Generator.load, False), (lambda: debug_generator(0), True)):
        instrument = Instrument(AppConfig(output="none", autoplay=False, generator_factory=factory))
        try:
            instrument.start().result(timeout=60)
            assert instrument.generator is not None
            command = instrument.rerender_command(user_dir / "take.json", 16, user_dir / "take-16steps.flac")
        finally:
            instrument.shutdown()
        assert ("--debug-model" in command) is debug and "--weights" not in command
        assert command[command.index("--steps") + 1] == "16"
