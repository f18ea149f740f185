"""The app's instrument controller: owns the parameter store, MIDI, the live session, presets and takes, and
runs everything that can block (loading the model, starting/stopping the session, opening ports,
starting/stopping a take) on one operations thread. No Qt: the window (gui/) calls these methods on user
actions and reads the published state on its display timer, so the GUI thread never waits.

Threads: the GUI thread (calls, reads), the operations thread (one at a time, in order), the MIDI
thread (store writes, learn notifications), the session's own threads. Messages for the error banner
arrive from any of them through a deque (append/popleft are atomic).

One class, Instrument (core.py), in parts: transport and start-up (core.py), takes (take_control.py), the take
player (playback_control.py), presets and curves (preset_control.py), MIDI (midi_control.py); config.py holds
what it starts from and publishes.
"""

from instrument.controller.config import (NO_DEVICE_MESSAGE, AppConfig, Message, TakeEntry, default_takes_dir,
                                          user_data_dir, user_mapping_dir)
from instrument.controller.core import Instrument, generator_options

__all__ = ["NO_DEVICE_MESSAGE", "AppConfig", "Instrument", "Message", "TakeEntry", "default_takes_dir",
           "generator_options", "user_data_dir", "user_mapping_dir"]
