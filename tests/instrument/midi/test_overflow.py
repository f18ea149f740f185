"""A MIDI flood over a real JACK virtual port: RtMidi's "message queue limit reached!!" (one std::cerr line per
dropped message, 154,695 lines for a 1.2 s flood) is summarised in one line with a count, at most once every
few seconds; every other stderr byte passes through, and the real stderr is back once the input closes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

FLOOD_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import rtmidi
    from instrument.midi import CcMapping, MidiMapper, open_midi_input
    from instrument.parameters import ParameterStore

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Flood")
    out.open_virtual_port("knobs")
    store = ParameterStore()
    midi_input = open_midi_input("Flood:knobs", mapper=MidiMapper(store, [CcMapping(None, 21, "cfg_scale")]))
    time.sleep(0.3)
    print("before the flood", file=sys.stderr, flush=True)
    for i in range(200_000):
        out.send_message([0xB0, 21, i % 127])
    os.write(2, b"native write during the flood\\n")
    time.sleep(1.0)
    out.send_message([0xB0, 21, 127])
    deadline = time.monotonic() + 5
    while store.get("cfg_scale") != 12.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("cc after the flood:", store.get("cfg_scale"), "dropped:", midi_input.messages_dropped, flush=True)
    midi_input.close()
    os.write(2, b"after close\\n")
    out.close_port()
""")


def test_a_midi_flood_prints_one_summary_line_not_one_per_message(jack_server: object) -> None:
    result = subprocess.run([sys.executable, "-c", FLOOD_SCRIPT], capture_output=True, text=True, timeout=120,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert not [line for line in lines if "message queue limit reached!!" in line], "RtMidi's raw lines leaked"
    summaries = [line for line in lines if line.startswith("MIDI:") and "dropped" in line]
    assert 1 <= len(summaries) <= 3, summaries  # the first at once, the rest at close (the run is < 5 s)
    assert "so far" in summaries[0] and "queue" in summaries[0]
    assert len([line for line in lines if not line.strip()]) <= 2, "RtMidi's blank lines leaked"
    # everything else passes through, in order, and the real stderr is back after close
    for words in ("before the flood", "native write during the flood", "after close"):
        assert words in result.stderr, words
    assert result.stderr.index("before the flood") < result.stderr.index("after close")
    report = result.stdout.split("cc after the flood:")[1].split()
    assert report[0] == "12.0", "the input still works after the flood"
    assert int(report[2]) > 1000, "the count is the number of dropped messages"
