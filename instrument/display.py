"""Can the desktop app open a window here? Answered before anything loads, without importing Qt.

Qt decides this only inside QApplication's constructor, and when it cannot, it aborts the process (qFatal,
SIGABRT) with "xcb-cursor0 is needed ... Reinstalling the application may fix this problem" even when the
real cause is that there is no display at all (an ssh session, a server, a container). By then the app has
spent seconds loading the model and has spawned its output process, so the abort left a traceback from that
child behind. So `cascade` asks here first (a few milliseconds: environment variables, one X connection, one
dlopen of Qt's platform plugin) and says in one line what is wrong and how to play without a window.

No Qt import: importing PySide6 costs ~0.1 s and must happen after the model's preload (instrument/preload.py).

    python -m instrument.display   # prints the problem and exits 1, or exits 0 when a window can open
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

HEADLESS_HINT = ("play without a window: `cascade play --headless` (add --record DIR to keep a take), "
                 "or run the app under a virtual display: `xvfb-run cascade`")
# Shared libraries Qt's xcb plugin needs that are not in the PySide6 wheel -> the Debian/Ubuntu package.
XCB_LIBRARY_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0", "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}


def qt_plugin_path(platform: str) -> Path | None:
    """PySide6's plugin file for a Qt platform (xcb -> .../platforms/libqxcb.so), found without importing it."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
    return path if path.exists() else None


def platform_plugin_problem(platform: str = "xcb", plugin: Path | None = None) -> str | None:
    """Why Qt's platform plugin cannot load (a missing system library, named with its package), or None.
    Loads the plugin the way Qt would (dlopen); Qt itself would only say "Reinstalling the application may fix
    this problem". plugin: this file instead of PySide6's (tests)."""
    if plugin is None and importlib.util.find_spec("PySide6") is None:
        return "PySide6 is not installed in this environment (pip install -e . installs it)"
    path = plugin or qt_plugin_path(platform)
    if path is None:
        return f"Qt's {platform} platform plugin is missing from the PySide6 installation"
    try:
        ctypes.CDLL(str(path), mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError as error:
        missing = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", str(error))
        if missing:
            library = missing.group(1)
            package = XCB_LIBRARY_PACKAGES.get(library)
            how = f"apt-get install {package}" if package else "install the package that provides it"
            return (f"Qt's {platform} platform needs {library}, which is not installed ({how}; scripts/setup.sh "
                    "installs them all)")
        return f"Qt's {platform} platform plugin does not load: {error}"
    return None


def x_display_problem(display: str) -> str | None:
    """Why the X display `display` cannot be reached (libxcb's own connection test), or None."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return "libxcb.so.1 is not installed (apt-get install libxcb1)"
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        failed = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)  # also frees a connection that failed
    return f"cannot connect to the X display {display!r} (no X server there, or no permission)" if failed else None


def wayland_socket_exists(environ: Mapping[str, str]) -> bool:
    name = environ.get("WAYLAND_DISPLAY", "")
    if not name:
        return False
    path = Path(name) if name.startswith("/") else Path(environ.get("XDG_RUNTIME_DIR", "")) / name
    return path.exists()


def display_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the app's window cannot open here, in words (None: it can). Follows Qt's choice of platform:
    QT_QPA_PLATFORM (a ';'-separated list Qt tries in order), else Wayland when a compositor runs, else X11."""
    if sys.platform in ("darwin", "win32"):  # their window systems need no display variable
        return None
    environ = os.environ if environ is None else environ
    requested = [name.split(":", 1)[0].strip() for name in environ.get("QT_QPA_PLATFORM", "").split(";")]
    requested = [name for name in requested if name]
    if not requested and not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are unset: an ssh session or a server?)"
    problems: list[str] = []
    for platform in requested or ["wayland", "xcb"]:
        if platform.startswith("wayland"):
            if wayland_socket_exists(environ):
                return None
            if requested:
                problems.append(f"no Wayland compositor at WAYLAND_DISPLAY={environ.get('WAYLAND_DISPLAY', '')!r}")
        elif platform == "xcb":
            display = environ.get("DISPLAY", "")
            problem = (x_display_problem(display) or platform_plugin_problem("xcb")) if display else \
                "no X display: DISPLAY is not set"
            if problem is None:
                return None
            problems.append(problem)
        else:  # offscreen, vnc, linuxfb...: chosen on purpose, no display server needed (or Qt says why)
            return None
    return "; ".join(problems)


def main() -> int:
    problem = display_problem()
    if problem is None:
        return 0
    print(f"{problem}; {HEADLESS_HINT}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
