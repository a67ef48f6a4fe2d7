"""One device vocabulary: what `--device` takes is what the app's settings offer and what the engine reads."""

from __future__ import annotations

import argparse

from photosort.cli.parser import build_parser
from photosort.devices import AUTO, DEVICES, known_device


def device_choices(command: str) -> list[str]:
    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    option = next(action for action in commands.choices[command]._actions if "--device" in action.option_strings)
    return list(option.choices)


def test_the_command_line_and_the_app_offer_the_same_devices(qtbot, isolated_data_dir):
    from photosort.app.models import ModelService
    from photosort.ui.dialogs import SettingsDialog

    dialog = SettingsDialog(None, "mps", [], ModelService())
    qtbot.addWidget(dialog)
    offered = [dialog.device_box.itemData(row) for row in range(dialog.device_box.count())]
    assert offered == device_choices("index") == device_choices("watch") == list(DEVICES)
    assert dialog.device() == "mps"


def test_a_setting_from_an_earlier_version_or_a_typo_reads_as_automatic(isolated_data_dir):
    from photosort.app.settings import AppSettings

    assert known_device("gpu") == AUTO and known_device("tpu") == AUTO and known_device(" CUDA ") == "cuda"
    settings = AppSettings()
    settings.device = "gpu"  # what earlier versions stored for "whichever GPU there is"
    assert AppSettings().device == AUTO
