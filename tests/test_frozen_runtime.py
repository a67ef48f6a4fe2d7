"""What the installed app does differently from a source run, checked without building it: the environment
its child programs get, a windowed program's missing console, and which build it says it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from photosort import __version__, build_info, frozen
from photosort.build_info import BuildInfo, gpu_build_advice, version_line, write_build_info


def test_programs_we_start_get_the_environment_the_app_was_started_with(tmp_path):
    bundle = tmp_path / "photosort" / "_internal"
    bundle.mkdir(parents=True)
    started_with = {"PATH": "/usr/bin:/bin", "HOME": "/home/someone", "LD_LIBRARY_PATH": "/opt/lib"}
    inside = dict(started_with,
                  # as PyInstaller's bootloader and its Qt start-up hook leave them
                  LD_LIBRARY_PATH=f"{bundle}:/opt/lib", LD_LIBRARY_PATH_ORIG="/opt/lib",
                  QT_PLUGIN_PATH=str(bundle / "PySide6" / "Qt" / "plugins"),
                  QML2_IMPORT_PATH=str(bundle / "PySide6" / "Qt" / "qml"),
                  _PYI_APPLICATION_HOME_DIR=str(bundle), _PYI_PARENT_PROCESS_LEVEL="1")
    assert frozen.outside_environment(inside, bundle) == started_with
    # With nothing saved, the loader path the bundle set goes; a path list keeps what is not the bundle's.
    inside = {"LD_LIBRARY_PATH": str(bundle), "PATH": os.pathsep.join([str(bundle), "/usr/bin"])}
    assert frozen.outside_environment(inside, bundle) == {"PATH": "/usr/bin"}


def test_a_source_run_passes_its_environment_unchanged():
    assert not frozen.is_frozen()
    assert frozen.outside_environment({"LD_LIBRARY_PATH": "/x", "QT_PLUGIN_PATH": "/y"}) == {
        "LD_LIBRARY_PATH": "/x", "QT_PLUGIN_PATH": "/y"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xdg-open")
def test_the_system_viewer_is_started_without_the_bundles_libraries(qtbot, tmp_path, monkeypatch):
    from photosort.ui.system_apps import SystemApps

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    programs = tmp_path / "programs"
    programs.mkdir()
    seen = tmp_path / "seen-environment"
    opener = programs / "xdg-open"
    opener.write_text(f"#!/bin/sh\nenv > {seen}.part && mv {seen}.part {seen}\n")
    opener.chmod(0o755)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setenv("PATH", f"{bundle}{os.pathsep}{programs}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(bundle))
    monkeypatch.setenv("QT_PLUGIN_PATH", str(bundle / "plugins"))
    SystemApps().open(str(tmp_path / "photo.jpg"))
    qtbot.waitUntil(seen.exists, timeout=10_000)
    environment = seen.read_text()
    assert str(bundle) not in environment and "LD_LIBRARY_PATH" not in environment
    assert str(programs) in environment


def run_without_console(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # A windowed program: no console, so Python starts with sys.stdout and sys.stderr set to None.
    code = ("import sys; sys.stdout = sys.stderr = None; sys.argv = ['photosort', *sys.argv[1:]]; "
            "from photosort.cli import run; run()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ, PHOTOSORT_DATA_DIR=str(tmp_path)), timeout=120)


def test_a_windowed_program_without_a_console_runs_and_logs_its_errors(tmp_path):
    assert run_without_console(tmp_path, "--version").returncode == 0
    failed = run_without_console(tmp_path, "--library", str(tmp_path / "library"), "search", "--no-such-option")
    assert failed.returncode == 2
    assert "--no-such-option" in (tmp_path / "logs" / "app.log").read_text()


def test_the_build_says_what_it_is(tmp_path):
    path = tmp_path / "build_info.json"
    write_build_info(path, "cpu", "2.13.0")
    info = build_info.build_info(path)
    assert info == BuildInfo("cpu", "2.13.0")
    assert version_line("1.2.3", info) == "photosort 1.2.3 (CPU build, torch 2.13.0)"
    assert build_info.build_info(tmp_path / "none.json") == BuildInfo("source")
    assert version_line("1.2.3", BuildInfo("source")) == "photosort 1.2.3 (run from source)"
    with pytest.raises(ValueError):
        write_build_info(path, "quantum", None)


def test_a_cpu_build_on_a_computer_with_an_nvidia_gpu_points_to_the_gpu_build(tmp_path):
    advice = gpu_build_advice(BuildInfo("cpu"), gpu_present=True)
    assert advice and build_info.DOWNLOAD_PAGE in advice
    assert gpu_build_advice(BuildInfo("cpu"), gpu_present=False) is None
    assert gpu_build_advice(BuildInfo("cuda"), gpu_present=True) is None
    assert gpu_build_advice(BuildInfo("source"), gpu_present=True) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux driver's trace")
def test_an_nvidia_driver_is_recognised(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    driver = tmp_path / "version"
    assert not build_info.nvidia_gpu_present(driver)
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n")
    assert build_info.nvidia_gpu_present(driver)


def test_the_version_option_names_the_build():
    result = subprocess.run([sys.executable, "-m", "photosort", "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == f"photosort {__version__} (run from source)"


def test_settings_show_the_build_and_where_the_gpu_build_is(qtbot, monkeypatch):
    from photosort.app.models import ModelService
    from photosort.ui import dialogs

    monkeypatch.setattr(build_info, "build_info", lambda path=None: BuildInfo("cpu", "2.13.0"))
    monkeypatch.setattr(build_info, "nvidia_gpu_present", lambda *args: True)
    dialog = dialogs.SettingsDialog(None, "auto", [], ModelService())
    qtbot.addWidget(dialog)
    assert "CPU build, torch 2.13.0" in dialog.build.text()
    assert f'href="{build_info.DOWNLOAD_PAGE}"' in dialog.build.text()
