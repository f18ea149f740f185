"""The `cascade` command: status screen, doctor, argument errors."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "instrument.cli", *args], capture_output=True, text=True, timeout=120)


def test_no_arguments_prints_an_honest_status() -> None:
    result = run()
    assert result.returncode == 0
    assert "cascade dataset build" in result.stdout and "Not built yet" in result.stdout


def test_doctor_finds_the_system_packages() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "MISSING" not in result.stdout and "FluidR3_GM.sf2" in result.stdout


def test_bad_arguments_exit_with_usage() -> None:
    result = run("dataset", "build", "--out", "/tmp/nowhere")
    assert result.returncode == 2 and "--hours" in result.stderr
