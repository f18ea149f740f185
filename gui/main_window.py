"""The main window: transport and preset bar on top, prompts and the XY pad on the left, the live view in the
middle, meters and the library (presets, takes, MIDI) on the right, generation / descriptor / effect knobs
along the bottom.

One display timer (`DISPLAY_HZ`) does all redrawing: it mirrors the parameter store into the widgets
(only when the store's version moved), hands the analysis thread's latest frame to the live view and
the meters, shows banner messages and plays drawn curves. Widgets write straight into the store on a
gesture. Nothing on this thread waits for the engine, the output, MIDI or the disk: those run on the
instrument's operations thread (instrument.controller) or their own threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRect, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QMainWindow, QMenu, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from engine.vocabulary import DESCRIPTORS, N_PROMPT_SLOTS, SAMPLE_RATE
from gui import theme
from gui.analysis import LiveAnalysis
from gui.harmony_panel import KEY_HARMONY_TEXTS, HarmonyPanel
from instrument.controller import Instrument, TakeEntry
from gui.liveview import LiveView
from gui.widgets import ChoiceBox, CurveLane, IntBox, Knob, LinesLabel, Meter, ToggleButton, XYPad, format_value
from instrument.curves import CurvePlayer
from instrument.session import blend_weights
from instrument.midi import CcMapping
from instrument.parameters import PARAMETER_SPECS, ParameterSpec
from instrument.presets import PresetError, PresetInfo
from instrument.prompt_words import commit_typed_prompt

logger = logging.getLogger(__name__)

DISPLAY_HZ = 30
BANNER_INFO_SECONDS = 6.0  # info messages fade after this; errors and warnings stay until dismissed
CLOCK_SILENT_SECONDS = 1.0  # a running MIDI clock whose ticks stopped this long ago says so
LEARN_HINT = "Right-click a control → MIDI learn, then move a knob."
SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETER_SPECS}


def parameter_label(name: str) -> str:
    """What the window calls a parameter (its spec's label); an unknown name as it is."""
    spec = SPECS.get(name)
    return name if spec is None else spec.label


def mapping_text(mapping: CcMapping) -> str:
    return f"CC{mapping.control}" + ("" if mapping.channel is None else f" ch{mapping.channel + 1}")


@dataclass
class VersionWatcher:
    """One redraw the display tick runs only when a version counter moved since it last ran (O(1) otherwise)."""

    version: Callable[[], int]
    refresh: Callable[[], None]
    also_while: Callable[[], bool] | None = None  # run every tick while this is true (a playing take's clock)
    shown: int = -1  # the version the widgets show; a widget that wrote it itself may set it (no mirror back)

    def poll(self) -> None:
        version = self.version()
        if version != self.shown or (self.also_while is not None and self.also_while()):
            self.shown = version
            self.refresh()


class Banner(QFrame):
    """The error banner: one line in the top bar's free middle (so a message never shifts the layout),
    coloured by level, the full text in its tooltip, dismissable. Info messages fade by themselves."""

    COLOURS = {"error": ("#4a1f22", theme.RECORD), "warning": ("#44351d", theme.ACCENT_WARM),
               "info": ("#1d3a3d", theme.ACCENT)}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(44)  # two lines of text
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 0, 2, 0)
        self.label = LinesLabel(lines=2, text_tooltip=False)  # two wrapped lines; the frame's tooltip has it all
        self.label.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self._close = close
        self.level = ""
        self.full_text = ""
        self.shown_s = 0.0
        self.setVisible(False)

    @property
    def text(self) -> str:
        return self.full_text

    def show_message(self, level: str, text: str) -> None:
        background, edge = self.COLOURS.get(level, self.COLOURS["info"])
        self.setStyleSheet(f"QFrame#banner {{ background: {background}; border: 1px solid {edge}; }}")
        self.full_text = text
        self.setToolTip(text)
        self.level = level
        self.shown_s = time.monotonic()
        self._elide()
        self.setVisible(True)

    def _elide(self) -> None:
        # Two wrapped lines fit: elide until the text wraps into two (word wrap breaks early, so "twice the
        # width" can make three, and a narrow banner on a 1366-pixel screen then showed a middle line only).
        # The label's own width lags a resize of the banner (its layout runs after this): derive it.
        margins = self.layout().contentsMargins()
        width = max(50, self.width() - margins.left() - margins.right() - self._close.sizeHint().width()
                    - self.layout().spacing())
        metrics = self.label.fontMetrics()
        two_lines = metrics.boundingRect(QRect(0, 0, 1000, 1000), 0, "A\nA").height()  # as the wrap measures it
        for share in (1.9, 1.7, 1.5, 1.3, 1.1, 0.9):
            text = metrics.elidedText(self.full_text, Qt.ElideRight, int(share * width))
            wrapped = metrics.boundingRect(QRect(0, 0, width, 10 * two_lines), int(Qt.TextWordWrap), text)
            if wrapped.height() <= two_lines:
                break
        self.label.setText(text)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)
        self._elide()

    def dismiss(self) -> None:
        self.level = ""
        self.setVisible(False)

    def expire(self, now_s: float) -> None:
        if self.level == "info" and now_s - self.shown_s > BANNER_INFO_SECONDS:
            self.dismiss()


class MainWindow(QMainWindow):
    """The instrument's window. `controls` maps every parameter name to the widget that mirrors it."""

    tick_done = Signal()

    def __init__(self, instrument: Instrument, display_hz: int = DISPLAY_HZ) -> None:
        super().__init__()
        self.instrument = instrument
        self.store = instrument.store
        self.setWindowTitle("Cascade")
        self.controls: dict[str, Any] = {}
        self.curves: dict[str, CurveLane] = {}
        self.curve_buttons: dict[str, QPushButton] = {}
        self.curve_player = CurvePlayer(self.store)  # the drawn curves' loop (instrument/curves.py)
        self._watchers = self._version_watchers()
        self._mirroring_curves = False
        self._clock_text = ""
        self._shown_presets: list[PresetInfo] = []
        self._status_line = ""
        self.last_midi_menu: QMenu | None = None
        self.gc_frozen = False
        self.ticks = 0
        self.tick_seconds_last = 0.0
        self.tick_seconds_max = 0.0
        self._build_window()
        for name in SPECS:
            if name not in ("xy_x", "xy_y") and name not in self.controls:  # a spec without a widget is a bug
                raise RuntimeError(f"no control for parameter {name}")
        QShortcut(QKeySequence(Qt.Key_Space), self, activated=self.instrument.toggle_play)
        QShortcut(QKeySequence("R"), self, activated=self.instrument.toggle_record)

        self.analysis = LiveAnalysis(lambda: instrument.monitor, instrument.session_status,
                                     instrument.requested_descriptors)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(round(1000 / display_hz))
        self.timer.timeout.connect(self.tick)
        self.resize(1560, 960)

    def _version_watchers(self) -> list[VersionWatcher]:
        """What the display tick mirrors, in order, each when its version moved: the store's values, the MIDI
        mappings, the takes, the MIDI ports, the drawn curves, the preset's "*" marker, the take player."""
        instrument = self.instrument
        self._curves_watcher = VersionWatcher(lambda: instrument.curves_version, self._show_curves)
        return [VersionWatcher(lambda: self.store.version, self._show_store),
                VersionWatcher(lambda: instrument.mapping_version, self._show_mappings),
                VersionWatcher(lambda: instrument.takes_version, self.refresh_takes),
                VersionWatcher(lambda: instrument.midi_ports_version, self._show_midi_ports),
                self._curves_watcher,
                VersionWatcher(lambda: instrument.curves_version, self._show_preset_state),  # a drawn curve: "*"
                VersionWatcher(lambda: instrument.player_version, self._show_take_player,
                               also_while=lambda: instrument.take_playing)]

    # --- building -------------------------------------------------------------------------------------------

    def _build_window(self) -> None:
        # Everything sits in a scroll area: a screen smaller than the window's minimum (a netbook, a huge
        # system font) scrolls to what does not fit instead of cutting it off. At 1366x768 and up it fits.
        central = QWidget()
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.NoFrame)
        self.scroll_area.setWidget(central)
        self.setCentralWidget(self.scroll_area)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 6, 10, 6)
        outer.setSpacing(6)
        self.banner = Banner()
        outer.addLayout(self._build_top_bar())
        middle = QHBoxLayout()
        middle.setSpacing(6)
        middle.addWidget(self._build_prompts(), 3)  # 3:7:2 of the room above their minimum widths
        live = QGroupBox("LIVE")
        self.live_group = live
        live_layout = QVBoxLayout(live)
        self.live_view = LiveView()
        live_layout.addWidget(self.live_view)
        middle.addWidget(live, 7)
        middle.addWidget(self._build_right_column(), 2)
        outer.addLayout(middle, 1)
        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        bottom.addWidget(self._build_generation(), 0)
        bottom.addWidget(self._build_descriptors(), 1)
        bottom.addWidget(self._build_effects(), 0)
        outer.addLayout(bottom, 0)
        self.status_label = QLabel()
        self.status_label.setObjectName("dim")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().setSizeGripEnabled(False)
        self.statusBar().setStyleSheet("QStatusBar { padding-left: 10px; }")

    def _bind(self, control: Any) -> Any:
        """Register a parameter control: player edits go to the store, right-click opens the MIDI menu."""
        self.controls[control.parameter] = control
        name = control.parameter
        control.edited.connect(lambda value, name=name: self.store.set(name, value, "gui"))
        control.midi_menu_requested.connect(self.show_midi_menu)
        return control

    def _knob(self, name: str, colour: str = theme.ACCENT, diameter: int = 46) -> Knob:
        return self._bind(Knob(SPECS[name], parameter_label(name), colour, diameter=diameter))

    def _build_top_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(8)
        title = QLabel("CASCADE")
        title.setObjectName("title")
        bar.addWidget(title)
        bar.addSpacing(6)
        self._build_transport(bar)
        bar.addSpacing(6)
        tempo = self._bind(Knob(SPECS["tempo_bpm"], parameter_label("tempo_bpm"), diameter=30, compact=True))
        bar.addWidget(tempo)
        for name in ("key", "scale"):
            box = self._bind(ChoiceBox(SPECS[name], parameter_label(name)))
            box.setMinimumWidth(64 if name == "key" else 104)
            bar.addWidget(box)
        bar.addSpacing(6)
        # The external MIDI clock, when one is present: transport, its tempo, bar and beat. Fixed size: a label
        # whose size followed its text would relayout the window on every beat.
        self.clock_label = QLabel("")
        self.clock_label.setObjectName("dim")
        self.clock_label.setFixedSize(158, 40)
        self.clock_label.setStyleSheet("font-size: 11px;")
        self.clock_label.setToolTip("MIDI clock from the MIDI input: transport, tempo, bar and beat")
        self.clock_label.setVisible(False)  # shown (taking its place in the bar) once a clock message came
        bar.addWidget(self.clock_label)
        bar.addSpacing(6)
        # The banner lives in the bar's free middle; a spacer keeps the place when there is no message.
        banner_slot = QWidget()
        self.banner_slot = banner_slot
        banner_slot.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        banner_slot.setFixedHeight(self.banner.height())  # the bar's height does not change when a message shows
        slot_layout = QHBoxLayout(banner_slot)
        slot_layout.setContentsMargins(0, 0, 0, 0)
        slot_layout.addWidget(self.banner)
        bar.addWidget(banner_slot, 1)
        bar.addSpacing(6)
        self._build_preset_bar(bar)
        return bar

    def _build_transport(self, bar: QHBoxLayout) -> None:
        """Play, Record and the take's running time."""
        self.play_button = QPushButton("▶  Play")
        self.play_button.setObjectName("play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / stop (Space)")
        self.play_button.clicked.connect(lambda: self.instrument.toggle_play())
        self.record_button = QPushButton("●  Record")
        self.record_button.setObjectName("record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record a take to the takes folder (R); works without an audio device too")
        self.record_button.clicked.connect(lambda: self.instrument.toggle_record())
        self.time_label = QLabel("")
        self.time_label.setFixedWidth(76)  # fixed: a label whose width follows its text relayouts the window
        for widget in (self.play_button, self.record_button, self.time_label):
            bar.addWidget(widget)

    def _build_preset_bar(self, bar: QHBoxLayout) -> None:
        """The current preset's name and Save, Save as, Revert."""
        preset_caption = QLabel("PRESET")
        preset_caption.setObjectName("dim")
        self.preset_label = QLabel("–")
        self.preset_label.setMinimumWidth(120)  # the banner beside it needs the room on a 1366-pixel screen
        self.preset_label.setStyleSheet("font-weight: bold;")
        bar.addWidget(preset_caption)
        bar.addWidget(self.preset_label)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save over the current user preset (a factory preset is saved as a user copy)")
        self.save_button.clicked.connect(self.save_preset)
        self.save_as_button = QPushButton("Save as…")
        self.save_as_button.clicked.connect(self.save_preset_as_dialog)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Back to the preset as it was loaded or saved")
        self.revert_button.clicked.connect(self.revert_preset)
        for widget in (self.save_button, self.save_as_button, self.revert_button):
            bar.addWidget(widget)

    def _build_prompts(self) -> QGroupBox:
        group = QGroupBox("PROMPTS")
        self.prompts_group = group
        # Narrower on a laptop screen (the prompt fields shorten), never wider than the prompts need.
        group.setMinimumWidth(330)
        group.setMaximumWidth(460)
        group.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        layout = QVBoxLayout(group)
        layout.setSpacing(5)
        self.prompt_edits: list[QLineEdit] = []
        self.prompt_word_labels: list[QLabel] = []  # what each prompt's words say about tempo/key (hidden if nothing)
        self._prompt_words_read: list[str | None] = [None] * N_PROMPT_SLOTS  # the text each label was read from
        for slot in range(N_PROMPT_SLOTS):
            row = QHBoxLayout()
            chip = QLabel(str(slot + 1))
            chip.setFixedSize(22, 22)
            chip.setAlignment(Qt.AlignCenter)
            chip.setStyleSheet(f"background: {theme.SLOT_COLOURS[slot]}; color: {theme.BACKGROUND}; "
                               "border-radius: 11px; font-weight: bold;")
            edit = QLineEdit()
            edit.setPlaceholderText(f"Prompt {slot + 1}: describe the music…")
            edit.setToolTip("Type a description and press Enter. Weight: how much of the blend it gets.")
            edit.editingFinished.connect(lambda slot=slot: self._commit_prompt(slot))
            self.prompt_edits.append(edit)
            # Compact, beside the field: four rows of full-size knobs took 300 pixels of height.
            weight = self._bind(Knob(SPECS[f"prompt_{slot + 1}_weight"], "Weight", theme.SLOT_COLOURS[slot],
                                     diameter=28, compact=True, show_label=False))
            # Under the field, not beside it: on a laptop screen the field is all the prompt's width there is.
            words = QLabel("")
            words.setObjectName("dim")
            words.setStyleSheet("font-size: 11px;")
            words.hide()
            self.prompt_word_labels.append(words)
            column = QVBoxLayout()
            column.setSpacing(0)
            column.addWidget(edit)
            column.addWidget(words)
            row.addWidget(chip, 0, Qt.AlignTop)
            row.addLayout(column, 1)
            row.addWidget(weight, 0, Qt.AlignTop)
            layout.addLayout(row)
        pad_caption = QLabel("MORPH  ·  drag between the four prompts")
        pad_caption.setObjectName("dim")
        layout.addWidget(pad_caption)
        self.xy_pad = XYPad()
        self.xy_pad.moved.connect(lambda x, y: self.store.set_many({"xy_x": x, "xy_y": y}, source="gui"))
        self.xy_pad.midi_menu_requested.connect(self.show_midi_menu)
        layout.addWidget(self.xy_pad, 1)
        layout.addWidget(self._build_harmony())
        return group

    def _build_right_column(self) -> QWidget:
        column = QWidget()
        column.setMinimumWidth(300)
        column.setMaximumWidth(360)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        output = QGroupBox("OUTPUT")
        self.output_group = output
        grid = QGridLayout(output)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(4)
        grid.setHorizontalSpacing(10)
        self.level_meter = Meter("Level", 0.85, 0.97, tooltip="Output peak level (after master gain), dBFS")
        self.buffer_meter = Meter("Buffer", 2.0, 2.0, tooltip="Audio generated ahead of the speaker")
        # Short labels (two meters share a row), the full names in the tooltips.
        self.rtf_meter = Meter("Real-time", 0.8, 1.0,
                               tooltip="Real-time factor: compute time per second of audio, below 1 the engine keeps "
                                       "up. In brackets: denoising steps used / asked (fewer while knobs move)")
        self.latency_meter = Meter("Latency", 0.5, 0.8,
                                   tooltip="Control latency: from your last prompt/knob change to hearing it")
        self.underrun_meter = Meter("Underruns", 0.01, 0.5, tooltip="Audio dropouts since Play")
        meters = (self.level_meter, self.buffer_meter, self.rtf_meter, self.latency_meter, self.underrun_meter)
        # Two meters a row and the master knob beside the last: one meter a row took 300 pixels of height,
        # which a 1366x768 screen does not have beside the prompts and the XY pad.
        for index, meter in enumerate(meters):
            grid.addWidget(meter, index // 2, index % 2)
        master = self._bind(Knob(SPECS["master_gain_db"], parameter_label("master_gain_db"), diameter=34, compact=True))
        grid.addWidget(master, 2, 1, Qt.AlignLeft | Qt.AlignVCenter)
        self.output_label = LinesLabel("–", lines=2)  # the whole text in its tooltip
        self.output_label.setObjectName("dim")
        grid.addWidget(self.output_label, 3, 0, 1, 2)
        self.reopen_button = QPushButton("Reopen audio output")
        self.reopen_button.setToolTip("Look for an audio device again (after plugging one in or starting JACK)")
        self.reopen_button.clicked.connect(lambda: self.instrument.restart_output())
        grid.addWidget(self.reopen_button, 4, 0, 1, 2)
        layout.addWidget(output)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_presets_tab(), "Presets")
        self.tabs.addTab(self._build_takes_tab(), "Takes")
        self.tabs.addTab(self._build_midi_tab(), "MIDI")
        layout.addWidget(self.tabs, 1)
        return column

    def _build_harmony(self) -> HarmonyPanel:
        """The held chord as the harmony target: what plays, what waits for the bar line, the settings. Under the
        XY pad: the left column has room above the pad's minimum, the right one has none on a laptop screen."""
        follow = self._bind(ToggleButton(SPECS["harmony_follow"], parameter_label("harmony_follow")))
        quantise = self._bind(ChoiceBox(SPECS["harmony_quantise"], parameter_label("harmony_quantise")))
        release = self._bind(ChoiceBox(SPECS["harmony_release"], parameter_label("harmony_release")))
        # what the key gives while no chord is held (the chord channel is on the MIDI tab: routing, set once)
        key_gives = self._bind(ChoiceBox(SPECS["key_harmony"], parameter_label("key_harmony"),
                                         item_texts=KEY_HARMONY_TEXTS))
        follow.setMinimumWidth(follow.sizeHint().width())  # its word, whole, before the boxes get room
        self.harmony_panel = HarmonyPanel([follow, quantise, release, key_gives])
        return self.harmony_panel

    @staticmethod
    def _tab_page() -> tuple[QWidget, QVBoxLayout]:
        """A library tab's page with tight margins (the column's height is the scarce thing on a laptop)."""
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        return page, layout

    def _build_presets_tab(self) -> QWidget:
        page, layout = self._tab_page()
        self.preset_tree = QTreeWidget()
        self.preset_tree.setHeaderHidden(True)
        self.preset_tree.itemActivated.connect(lambda item, _col: self._load_preset_item(item))
        layout.addWidget(self.preset_tree, 1)
        row = QHBoxLayout()
        load = QPushButton("Load")
        load.clicked.connect(lambda: self._load_preset_item(self.preset_tree.currentItem()))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_presets)
        row.addWidget(load)
        row.addWidget(refresh)
        layout.addLayout(row)
        return page

    def _build_takes_tab(self) -> QWidget:
        page, layout = self._tab_page()
        self.takes_list = QListWidget()
        self.takes_list.setAlternatingRowColors(True)
        self.takes_list.itemActivated.connect(lambda _item: self.play_selected_take())
        layout.addWidget(self.takes_list, 1)
        row = QHBoxLayout()
        self.take_play_button = QPushButton("▶ Play")
        self.take_play_button.setToolTip("Play the take (its latest re-render, if any) on the audio output; "
                                         "again to stop")
        self.take_play_button.clicked.connect(self.play_selected_take)
        reveal = QPushButton("Show folder")
        reveal.clicked.connect(self.reveal_selected_take)
        row.addWidget(self.take_play_button)
        row.addWidget(reveal)
        layout.addLayout(row)
        self.take_player_label = QLabel("")
        self.take_player_label.setObjectName("dim")
        self.take_player_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        layout.addWidget(self.take_player_label)
        row = QHBoxLayout()
        self.rerender_steps = QSpinBox()
        self.rerender_steps.setRange(2, 64)
        self.rerender_steps.setValue(32)
        self.rerender_steps.setSuffix(" steps")
        rerender = QPushButton("Re-render")
        rerender.setToolTip("Render the take again offline with more denoising steps (cleaner sound)")
        rerender.clicked.connect(self.rerender_selected_take)
        row.addWidget(rerender, 1)
        row.addWidget(self.rerender_steps)
        layout.addLayout(row)
        return page

    def _build_midi_tab(self) -> QWidget:
        page, layout = self._tab_page()
        grid = QGridLayout()
        grid.setSpacing(4)
        grid.addWidget(QLabel("Input"), 0, 0)
        self.midi_port_box = QComboBox()
        self.midi_port_box.activated.connect(self._on_midi_port_chosen)
        grid.addWidget(self.midi_port_box, 0, 1)
        rescan = QPushButton("Rescan")
        rescan.clicked.connect(lambda: self.instrument.refresh_midi_ports())
        grid.addWidget(rescan, 0, 2)
        grid.addWidget(QLabel("Controller"), 1, 0)
        self.controller_box = QComboBox()
        for name, _path in self.instrument.controller_presets():
            self.controller_box.addItem(name)
        self.controller_box.activated.connect(
            lambda index: self.instrument.load_controller_preset(self.controller_box.itemText(index)))
        grid.addWidget(self.controller_box, 1, 1)
        save = QPushButton("Save…")
        save.setToolTip("Save these mappings as a controller preset")
        save.clicked.connect(self.save_controller_dialog)
        grid.addWidget(save, 1, 2)
        grid.addWidget(QLabel("Chords from"), 2, 0)
        channel = self._bind(IntBox(SPECS["harmony_channel"], parameter_label("harmony_channel")))
        channel.setPrefix("channel ")
        channel.setSpecialValueText("every channel")  # 0: notes on every channel
        channel.setToolTip("The MIDI channel whose held notes are the chord the music follows")
        grid.addWidget(channel, 2, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.learn_label = LinesLabel(LEARN_HINT, lines=2)
        self.learn_label.setObjectName("dim")
        remove = QPushButton("Remove")
        remove.setToolTip("Remove the selected mapping")
        remove.clicked.connect(self.remove_selected_mapping)
        hint_row = QHBoxLayout()  # the hint and Remove share a row: the column's height is scarce
        hint_row.addWidget(self.learn_label, 1)
        hint_row.addWidget(remove, 0, Qt.AlignTop)
        layout.addLayout(hint_row)
        self.mapping_table = QTableWidget(0, 3)
        self.mapping_table.setHorizontalHeaderLabels(["Control", "Parameter", "Range"])
        self.mapping_table.verticalHeader().hide()
        self.mapping_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.mapping_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.mapping_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.mapping_table.setMinimumHeight(60)
        layout.addWidget(self.mapping_table, 1)
        return page

    def _build_generation(self) -> QGroupBox:
        group = QGroupBox("GENERATION")
        self.generation_group = group
        grid = QGridLayout(group)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setSpacing(4)
        grid.addWidget(self._knob("cfg_scale", diameter=40), 0, 0)
        grid.addWidget(self._knob("steps", diameter=40), 0, 1)
        grid.addWidget(self._knob("variation", diameter=40), 0, 2)
        sampler_caption = QLabel(parameter_label("sampler"))
        sampler_caption.setObjectName("dim")
        grid.addWidget(sampler_caption, 1, 0)
        grid.addWidget(self._bind(ChoiceBox(SPECS["sampler"], parameter_label("sampler"))), 1, 1, 1, 2)
        seed = self._bind(IntBox(SPECS["seed"], parameter_label("seed")))
        seed.setPrefix("Seed ")  # says what it is without a caption column (the group's width is scarce)
        grid.addWidget(seed, 2, 0, 1, 2)
        dice = QPushButton("Random")
        dice.setToolTip("A new random seed")
        dice.clicked.connect(self.new_seed)
        grid.addWidget(dice, 2, 2)
        return group

    def _build_descriptors(self) -> QGroupBox:
        group = QGroupBox("DESCRIPTORS  ·  switch a target on, set it, or draw a 4-bar curve")
        self.descriptors_group = group
        grid = QGridLayout(group)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        for index, descriptor in enumerate(DESCRIPTORS):
            name = descriptor.parameter
            row, column = divmod(index, 2)
            toggle = self._bind(ToggleButton(SPECS[f"{name}_enabled"], parameter_label(f"{name}_enabled")))
            toggle.setMinimumWidth(88)
            knob = self._bind(Knob(SPECS[name], "Target", diameter=32))
            lane = CurveLane(SPECS[name])
            lane.edited.connect(lambda name=name: self._curve_drawn(name))
            play_curve = QPushButton("∿")
            play_curve.setCheckable(True)
            play_curve.setFixedWidth(30)
            play_curve.setToolTip("Play the drawn curve (turns the target on)")
            play_curve.toggled.connect(lambda on, name=name: self.set_curve_active(name, on))
            self.curves[name] = lane
            self.curve_buttons[name] = play_curve
            cell = QHBoxLayout()
            cell.setSpacing(4)
            cell.addWidget(toggle)
            cell.addWidget(knob)
            cell.addWidget(lane, 1)
            cell.addWidget(play_curve)
            grid.addLayout(cell, row, column)
        return group

    def _build_effects(self) -> QGroupBox:
        group = QGroupBox("EFFECTS")
        self.effects_group = group
        grid = QGridLayout(group)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(2)
        grid.setVerticalSpacing(2)
        for column, name in enumerate(("fx_reverb_mix", "fx_reverb_room", "fx_chorus_mix", "fx_filter_cutoff_hz",
                                       "fx_compressor_threshold_db")):
            grid.addWidget(self._knob(name, diameter=34), 0, column)
        for column, name in enumerate(("fx_delay_mix", "fx_delay_feedback")):
            grid.addWidget(self._knob(name, diameter=34), 1, column)
        delay_time = self._bind(ChoiceBox(SPECS["fx_delay_beats"], parameter_label("fx_delay_beats")))
        delay_time.setToolTip("Delay time (note value at the current tempo)")
        grid.addWidget(delay_time, 1, 2, Qt.AlignVCenter)
        limiter = self._bind(ToggleButton(SPECS["fx_limiter_enabled"], parameter_label("fx_limiter_enabled")))
        grid.addWidget(limiter, 1, 3, 1, 2, Qt.AlignVCenter)
        return group

    def key_controls(self) -> dict[str, QWidget]:
        """What a performer must always see, whatever the screen (gui/layout_report.py checks them)."""
        return {"play": self.play_button, "record": self.record_button, "save": self.save_button,
                "save_as": self.save_as_button, "revert": self.revert_button, "prompts": self.prompts_group,
                "xy_pad": self.xy_pad, "live": self.live_group, "output": self.output_group,
                "master": self.controls["master_gain_db"], "reopen": self.reopen_button, "library": self.tabs,
                "generation": self.generation_group, "descriptors": self.descriptors_group,
                "effects": self.effects_group, "status": self.status_label, "banner_slot": self.banner_slot,
                "harmony": self.harmony_panel}

    # --- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the display timer and the analysis thread (after the instrument started loading)."""
        self.refresh_presets()
        self.analysis.start()
        self.timer.start()
        self.tick()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.analysis.stop()
        self.instrument.shutdown()
        event.accept()

    # --- the display tick -------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Mirror the store and the analysis into the widgets; O(widgets) when something changed, else O(1)."""
        started_s = time.perf_counter()
        now_s = time.monotonic()
        if not self.gc_frozen and self.instrument.state in ("playing", "stopped"):
            self._freeze_startup_objects()
        self._play_curves(now_s)
        for watcher in self._watchers:
            watcher.poll()
        self._show_clock(now_s)
        self._show_harmony()
        if self.ticks % DISPLAY_HZ == 0:
            self.instrument.poll_rerenders()
        while self.instrument.messages:
            message = self.instrument.messages.popleft()
            self.banner.show_message(message.level, message.text)
        self.banner.expire(now_s)
        frame = self.analysis.latest
        self.live_view.draw(frame)
        self._show_meters(frame)
        self._show_transport(frame.status)
        self.ticks += 1
        self.tick_seconds_last = time.perf_counter() - started_s
        self.tick_seconds_max = max(self.tick_seconds_max, self.tick_seconds_last)
        self.tick_done.emit()

    def _show_store(self) -> None:
        """The store's values and prompt texts -> the widgets, the pad and the preset's "*" marker."""
        snapshot = self.store.snapshot()
        for name, control in self.controls.items():
            control.show_value(snapshot.values[name])
        self.xy_pad.show_position(snapshot.values["xy_x"], snapshot.values["xy_y"])
        texts = snapshot.prompt_texts
        for slot, edit in enumerate(self.prompt_edits):
            # A text the player is typing (modified since the last commit) is theirs until Enter/focus-out.
            if not edit.isModified() and edit.text() != texts[slot]:
                edit.setText(texts[slot])
                edit.setCursorPosition(0)  # show a long prompt's beginning, not its end
                edit.setToolTip(texts[slot] or "Type a description and press Enter")
            if texts[slot] != self._prompt_words_read[slot]:
                self._show_prompt_words(slot, texts[slot])
        self.xy_pad.show_corners(list(texts), blend_weights(snapshot.values, texts))
        self._show_preset_state()

    def _freeze_startup_objects(self) -> None:
        """Move everything alive after start-up (torch, the model, Qt wrappers, pyqtgraph) out of the cyclic
        garbage collector's reach. Why: a full collection walks every tracked object while holding the GIL;
        with the model and the window loaded that took ~190 ms (benchmarks/gui_stall.py), stalling the GUI
        and starving the output pump. Frozen, the collector only walks what was made since."""
        import gc

        gc.freeze()
        self.gc_frozen = True
        logger.info("froze %d start-up objects out of the garbage collector", gc.get_freeze_count())

    def _show_clock(self, now_s: float) -> None:
        """The external MIDI clock: nothing until one has ticked or started since the input opened; then
        running / stopped, the tempo measured from its ticks, and bar · beat (1-based, 4/4)."""
        clock = self.instrument.clock
        state = clock.display_state(now_s)
        if state is None:
            text = ""
        else:
            tempo = "– BPM" if state.tempo_bpm is None else f"{state.tempo_bpm:.1f} BPM"
            if state.running and state.silent_s is not None and state.silent_s > CLOCK_SILENT_SECONDS:
                transport = f"<span style='color:{theme.ACCENT_WARM}'>no ticks {state.silent_s:.0f} s</span>"
            elif state.running:
                transport = f"<span style='color:{theme.ACCENT}'>▶ running</span>"
            else:
                transport = "■ stopped"
            text = (f"MIDI CLOCK {transport}<br><b>{tempo}</b> · bar {state.bar} · beat {state.beat}")
        if text != self._clock_text:
            self._clock_text = text
            self.clock_label.setText(text)
            if self.clock_label.isVisible() != bool(text):
                self.clock_label.setVisible(bool(text))

    def _show_harmony(self) -> None:
        """The harmony target and what waits for its bar line, or why there is none (the model has no control)."""
        instrument = self.instrument
        self.harmony_panel.show_state(instrument.harmony_available, instrument.playing, self.store.snapshot().values,
                                      instrument.harmony_display())

    def _show_meters(self, frame: Any) -> None:
        status = frame.status
        gain_db = self.store.get("master_gain_db")
        peak_db = frame.peak_db + gain_db if status is not None else -100.0
        self.level_meter.set_level((peak_db + 60.0) / 60.0, f"{peak_db:.1f} dBFS" if peak_db > -99 else "–")
        if status is None:
            for meter in (self.buffer_meter, self.rtf_meter, self.latency_meter, self.underrun_meter):
                meter.set_level(0.0, "–")
            return
        self.buffer_meter.set_level(status.buffer_fill_seconds / 4.0, f"{status.buffer_fill_seconds:.2f} s")
        rtf = status.engine.real_time_factor
        self.rtf_meter.set_level(0.0 if rtf is None else rtf / 1.25,
                                 "–" if rtf is None else f"{rtf:.2f}  ({status.engine.steps_used}/"
                                 f"{status.engine.steps_requested})")
        latency = status.control_latency_seconds
        self.latency_meter.set_level(0.0 if latency is None else latency / 4.0,
                                     "–" if latency is None else f"{latency * 1000:.0f} ms")
        underruns = status.output_underruns + status.dry_underruns
        self.underrun_meter.set_level(min(1.0, underruns / 10.0), str(underruns))

    def _show_transport(self, status: Any) -> None:
        instrument = self.instrument
        playing, recording = instrument.playing, instrument.recording
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)
        self.play_button.setText("■  Stop" if playing else "▶  Play")
        if self.record_button.isChecked() != recording:
            self.record_button.setChecked(recording)
        ready = instrument.state not in ("loading", "no model")
        self.play_button.setEnabled(ready)
        self.record_button.setEnabled(ready)
        if recording and status is not None:
            seconds = status.take_frames / SAMPLE_RATE
            self.time_label.setText(f"● {int(seconds // 60)}:{seconds % 60:04.1f}")
            self.time_label.setStyleSheet(f"color: {theme.RECORD}; font-weight: bold;")
        else:
            self.time_label.setText("")
        if instrument.state == "loading":
            output = "Loading the model…"
        elif instrument.state == "no model":
            output = "No model loaded (see the message above)"
        elif status is None:
            output = "Stopped"
        elif instrument.session is not None and instrument.session.device is None and not status.output_lost:
            # Two lines in the output panel (the Reopen button's tooltip says how to get a device).
            output = "Output: no audio device (nothing is heard); Record still saves takes."
        elif status.output_lost:
            output = ("Output: sound paused; it comes back by itself when the audio server or device returns "
                      f"({status.output_lost_reason})")
        else:
            output = f"Output: {status.output}"
        if output != self.output_label.text():
            self.output_label.setText(output)
        session = instrument.session
        model = instrument.generator.model_id if instrument.generator is not None else "loading"
        midi_lost = instrument.midi_input is not None and instrument.midi_input.lost
        line = (f"Model {model}   ·   MIDI: {instrument.midi_port_name or 'none'}"
                + (" (disconnected: it reconnects when the port is back)" if midi_lost else "")
                + (f" ({instrument.controller_preset})" if instrument.midi_port_name else "")
                + (f"   ·   takes: {instrument.takes_dir}" if session is not None else "")
                + (f"   ·   re-rendering {len(instrument.rerendering)}" if instrument.rerendering else ""))
        if line != self._status_line:
            self._status_line = line
            self.status_label.setText(line)

    # --- prompts, pad, seed -------------------------------------------------------------------------------------

    def _commit_prompt(self, slot: int) -> None:
        edit = self.prompt_edits[slot]
        if not edit.isModified():  # focus left an untouched field: the store may hold a newer text (a preset)
            return
        edit.setModified(False)
        text = edit.text()
        if text != self.store.prompt_texts()[slot]:
            try:
                # the blend's words move tempo/key/scale
                commit_typed_prompt(self.store, slot, text, "gui", reader=self.instrument.words)
            except (TypeError, ValueError) as error:
                self.banner.show_message("error", f"prompt {slot + 1}: {error}")

    def _show_prompt_words(self, slot: int, text: str) -> None:
        """The tempo/key/scale prompt `slot`'s words state and the phrases refused, beside its field (hidden when
        there are none)."""
        self._prompt_words_read[slot] = text
        words = self.instrument.words(text)
        label = self.prompt_word_labels[slot]
        # a refused phrase is shown too ("speed it up by 20 bpm" is a change, not a tempo): never silently dropped
        shown = ([f"reads {words.short()}"] if words.short() else []) + [f"ignored '{phrase}'"
                                                                          for phrase in words.ignored()]
        label.setText(" · ".join(shown))
        label.setToolTip(f"Its words say: {words.describe()}. The Tempo, Key and Scale knobs follow the words "
                         "of the prompts that sound, each from the heaviest one that states it, as you type and "
                         "morph; a knob you turn holds until the words choose something else. *: read by the "
                         "trained words reader, where the exact rules read nothing (a bare number: \"techno 128\").")
        label.setVisible(bool(shown))

    def new_seed(self) -> None:
        import random

        self.store.set("seed", random.randrange(0, 2**31 - 1), "gui")

    # --- drawn curves -------------------------------------------------------------------------------------------

    def _curve_drawn(self, name: str) -> None:
        if not self.curve_buttons[name].isChecked():
            self.curve_buttons[name].setChecked(True)  # -> set_curve_active, which hands the points over
        else:
            self._publish_curve(name)

    def _publish_curve(self, name: str) -> None:
        """The lane's points (real units) and play switch -> the instrument, which presets save."""
        if self._mirroring_curves:
            return
        lane = self.curves[name]
        try:
            self.instrument.set_curve(name, [lane.spec.from_normalised(v) for v in lane.values] if lane.drawn else None,
                                      lane.active)
        except PresetError as error:  # not expected from a lane (its points stay in 0..1); say so, keep going
            self.banner.show_message("error", f"curve {name}: {error}")
        self._curves_watcher.shown = self.instrument.curves_version  # ours: no need to mirror it back

    def set_curve_active(self, name: str, active: bool) -> None:
        lane = self.curves[name]
        lane.active = active
        lane.update()
        if active:
            if self.store.get(f"{name}_enabled") < 0.5:
                self.store.set(f"{name}_enabled", 1.0, "gui")
            self.curve_player.forget(name)
        if self.curve_buttons[name].isChecked() != active:
            self.curve_buttons[name].setChecked(active)
        self._publish_curve(name)

    def _show_curves(self) -> None:
        """The instrument's curves (a preset loaded or reverted) -> the lanes; a lane it has no curve for is
        cleared and stopped (a preset is a whole sound)."""
        self._mirroring_curves = True
        try:
            for name, lane in self.curves.items():
                curve = self.instrument.curves.get(name)
                if curve is None:
                    lane.values = [lane.spec.to_normalised(lane.spec.default)] * lane.STEPS
                    lane.drawn = False
                    self.set_curve_active(name, False)
                else:
                    lane.values = [lane.spec.to_normalised(point) for point in curve["points"]]
                    lane.drawn = True
                    self.set_curve_active(name, bool(curve["playing"]))
                lane.update()
        finally:
            self._mirroring_curves = False

    def _play_curves(self, now_s: float) -> None:
        """The switched-on lanes -> the store, throttled by the curve player (instrument/curves.py says why)."""
        playing = {name: lane.values for name, lane in self.curves.items() if lane.active}
        phase = self.curve_player.tick(playing, now_s)
        for name, lane in self.curves.items():
            lane.set_phase(phase if name in playing else None)

    # --- presets ------------------------------------------------------------------------------------------------

    def refresh_presets(self) -> None:
        self._shown_presets = self.instrument.presets()
        self.preset_tree.clear()
        groups = {True: QTreeWidgetItem(["Factory"]), False: QTreeWidgetItem(["User"])}
        for group in groups.values():
            group.setFlags(Qt.ItemIsEnabled)
            self.preset_tree.addTopLevelItem(group)
        for info in self._shown_presets:
            item = QTreeWidgetItem([info.name if info.error is None else f"{info.path.name} (broken)"])
            item.setData(0, Qt.UserRole, info)
            item.setToolTip(0, info.error or info.description or str(info.path))
            if info.error is not None:
                item.setForeground(0, Qt.gray)
            groups[info.is_factory].addChild(item)
        self.preset_tree.expandAll()

    def _load_preset_item(self, item: QTreeWidgetItem | None) -> None:
        info = None if item is None else item.data(0, Qt.UserRole)
        if isinstance(info, PresetInfo):
            self.load_preset(info)

    def load_preset(self, info: PresetInfo) -> bool:
        """Load a preset; a broken one puts its error on the banner and changes nothing."""
        try:
            self.instrument.load_preset(info)
        except PresetError as error:
            self.banner.show_message("error", f"Preset not loaded: {error}")
            return False
        self.banner.show_message("info", f"Preset: {self.instrument.current_preset.name}")
        self._show_preset_state()
        return True

    def save_preset(self) -> Path | None:
        try:
            path = self.instrument.save_preset()
        except (PresetError, OSError) as error:
            self.banner.show_message("error", f"Preset not saved: {error}")
            return None
        self.banner.show_message("info", f"Saved preset to {path}")
        self.refresh_presets()
        self._show_preset_state()
        return path

    def save_preset_as(self, name: str) -> Path | None:
        try:
            path = self.instrument.save_preset_as(name)
        except (PresetError, OSError) as error:
            self.banner.show_message("error", f"Preset not saved: {error}")
            return None
        self.banner.show_message("info", f"Saved preset to {path}")
        self.refresh_presets()
        self._show_preset_state()
        return path

    def save_preset_as_dialog(self) -> None:
        current = self.instrument.current_preset.name if self.instrument.current_preset else ""
        name, ok = QInputDialog.getText(self, "Save preset as", "Preset name:", text=current)
        if ok and name.strip():
            self.save_preset_as(name)

    def revert_preset(self) -> None:
        try:
            self.instrument.revert_preset()
        except PresetError as error:
            self.banner.show_message("error", str(error))
        self._show_preset_state()

    def _show_preset_state(self) -> None:
        preset = self.instrument.current_preset
        if preset is None:
            text = "(none)"
        else:
            text = preset.name + (" (factory)" if preset.is_factory else "") + (" *" if self.instrument.preset_modified
                                                                               else "")
        if text != self.preset_label.text():
            self.preset_label.setText(text)
            self.preset_label.setToolTip("* = changed since loaded or saved" if preset else "")
        self.revert_button.setEnabled(self.instrument.preset_modified)

    # --- takes --------------------------------------------------------------------------------------------------

    def refresh_takes(self) -> None:
        selected = self._selected_take()
        self.takes_list.clear()
        for entry in self.instrument.list_takes():
            extra = f"  · {len(entry.rerenders)} re-render{'s' if len(entry.rerenders) != 1 else ''}" \
                if entry.rerenders else ""
            if entry.state == "recording":
                item = QListWidgetItem(f"{entry.sidecar.stem}   ● recording…")
            else:
                state = "" if entry.state == "complete" else f"  ({entry.state.replace('_', ' ')})"
                item = QListWidgetItem(f"{entry.sidecar.stem}   {entry.seconds:.1f} s{extra}{state}")
            item.setData(Qt.UserRole, entry)
            item.setToolTip(str(entry.audio) + "".join(f"\n{p.name}" for p in entry.rerenders))
            self.takes_list.addItem(item)
            if selected is not None and entry.sidecar == selected.sidecar:
                self.takes_list.setCurrentItem(item)
        if self.takes_list.currentItem() is None and self.takes_list.count():
            self.takes_list.setCurrentRow(0)

    def _selected_take(self) -> TakeEntry | None:
        item = self.takes_list.currentItem()
        entry = None if item is None else item.data(Qt.UserRole)
        return entry if isinstance(entry, TakeEntry) else None

    def play_selected_take(self) -> None:
        """Play / stop: the selected take (its latest re-render, if any) plays in a child process
        (instrument.take_player); a missing or broken file comes back as an error on the banner."""
        if self.instrument.take_playing:
            self.instrument.stop_take_playback()
            return
        entry = self._selected_take()
        if entry is None:
            self.banner.show_message("info", "Record a take first (● Record), then pick it here")
            return
        audio = entry.rerenders[-1] if entry.rerenders else entry.audio
        self.instrument.play_take(audio)

    def _show_take_player(self) -> None:
        instrument = self.instrument
        player = instrument.take_player
        if instrument.take_playing:
            self.take_play_button.setText("■ Stop")
            elapsed, total = player.elapsed_s, player.seconds
            name = instrument.player_path.name if instrument.player_path is not None else ""
            if elapsed is None:
                text = f"Opening {name}…"
            else:
                shown = min(elapsed, total) if total else elapsed
                text = f"▶ {name}  {int(shown // 60)}:{int(shown % 60):02d}" + (
                    f" / {int(total // 60)}:{int(total % 60):02d}" if total else "")
        else:
            self.take_play_button.setText("▶ Play")
            text = ""
        if text != self.take_player_label.text():
            self.take_player_label.setText(text)

    def reveal_selected_take(self) -> None:
        entry = self._selected_take()
        folder = entry.sidecar.parent if entry is not None else self.instrument.takes_dir
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.banner.show_message("info", f"Takes are in {folder}")

    def rerender_selected_take(self) -> None:
        entry = self._selected_take()
        if entry is None:
            self.banner.show_message("info", "Record a take first (● Record), then pick it here")
            return
        try:
            output = self.instrument.rerender_take(entry.sidecar, self.rerender_steps.value())
        except (RuntimeError, OSError) as error:
            self.banner.show_message("error", str(error))
            return
        self.banner.show_message("info", f"Re-rendering {entry.sidecar.stem} at {self.rerender_steps.value()} "
                                         f"steps → {output.name} (runs in the background)")

    # --- MIDI -------------------------------------------------------------------------------------------------

    def build_midi_menu(self, parameter: str) -> QMenu:
        """The right-click menu of a control: learn, cancel learn, forget its mapping, reset to the default."""
        menu = QMenu(self)
        label = parameter_label(parameter)
        learning = self.instrument.mapper.learning == parameter
        learn = QAction(f"MIDI learn “{label}” (then move a controller knob)", menu)
        learn.setObjectName("learn")
        learn.triggered.connect(lambda: self.instrument.arm_learn(parameter))
        learn.setEnabled(not learning)
        menu.addAction(learn)
        cancel = QAction("Cancel MIDI learn", menu)
        cancel.setObjectName("cancel")
        cancel.triggered.connect(self.instrument.cancel_learn)
        cancel.setEnabled(self.instrument.mapper.learning is not None)
        menu.addAction(cancel)
        mapped = [m for m in self.instrument.mapper.mappings if m.parameter == parameter]
        forget = QAction("Forget MIDI mapping" + (f" ({', '.join(mapping_text(m) for m in mapped)})" if mapped else ""),
                         menu)
        forget.setObjectName("forget")
        forget.setEnabled(bool(mapped))
        forget.triggered.connect(lambda: self.instrument.forget_mappings(parameter))
        menu.addAction(forget)
        menu.addSeparator()
        spec = SPECS[parameter]
        reset = QAction(f"Reset to default ({format_value(spec, spec.default)})", menu)
        reset.setObjectName("reset")
        reset.triggered.connect(lambda: self.store.set(parameter, spec.default, "gui"))
        menu.addAction(reset)
        return menu

    def show_midi_menu(self, parameter: str, global_position: QPointF) -> None:
        self.last_midi_menu = self.build_midi_menu(parameter)
        self.last_midi_menu.popup(global_position.toPoint())

    def _show_mappings(self) -> None:
        mapper = self.instrument.mapper
        mappings = mapper.mappings
        by_parameter: dict[str, list[str]] = {}
        for mapping in mappings:
            by_parameter.setdefault(mapping.parameter, []).append(mapping_text(mapping))
        learning = mapper.learning
        for name, control in self.controls.items():
            control.set_mapping_text(" ".join(by_parameter.get(name, [])))
            control.set_learning(name == learning)
        self.xy_pad.set_learning(learning if learning in ("xy_x", "xy_y") else "")
        self.learn_label.setText(f"Learning “{parameter_label(learning)}”: move a knob or fader…"
                                 if learning else LEARN_HINT)
        self.mapping_table.setRowCount(len(mappings))
        for row, mapping in enumerate(mappings):
            spec = SPECS.get(mapping.parameter)
            low = spec.minimum if mapping.minimum is None or spec is None else mapping.minimum
            high = spec.maximum if mapping.maximum is None or spec is None else mapping.maximum
            cells = (mapping_text(mapping), parameter_label(mapping.parameter),
                     f"{format_value(spec, low)} … {format_value(spec, high)}" if spec else "")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, mapping)
                self.mapping_table.setItem(row, column, item)
        self.mapping_table.resizeColumnToContents(0)
        index = self.controller_box.findText(self.instrument.controller_preset)
        if index >= 0 and index != self.controller_box.currentIndex():
            self.controller_box.setCurrentIndex(index)

    def remove_selected_mapping(self) -> None:
        item = self.mapping_table.item(self.mapping_table.currentRow(), 0)
        mapping = None if item is None else item.data(Qt.UserRole)
        if isinstance(mapping, CcMapping):
            self.instrument.remove_mapping(mapping)

    def save_controller_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save controller preset", "Name:")
        if ok and name.strip():
            try:
                path = self.instrument.save_controller_preset(name.strip())
            except OSError as error:
                self.banner.show_message("error", f"Controller preset not saved: {error}")
                return
            self.controller_box.addItem(f"{path.stem} (user)")
            self.banner.show_message("info", f"Saved controller preset to {path}")

    def _show_midi_ports(self) -> None:
        box = self.midi_port_box
        box.blockSignals(True)
        box.clear()
        box.addItem("None")
        for port in self.instrument.midi_ports:
            box.addItem(port)
        current = self.instrument.midi_port_name
        box.setCurrentIndex(max(0, box.findText(current)) if current else 0)
        box.blockSignals(False)

    def _on_midi_port_chosen(self, index: int) -> None:
        self.instrument.open_midi("none" if index <= 0 else self.midi_port_box.itemText(index))

