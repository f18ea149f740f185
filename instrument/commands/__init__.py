"""The `cascade` sub-commands, one module per group: system (status, doctor, devices), dataset, train, render
(render, reconstruct), play, takes (rerender, takes list|repair). Each module's add_* functions register its
commands; instrument/cli.py puts them in order. The desktop app's command lives in gui/cli.py."""
