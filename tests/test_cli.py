"""The `photosort models` commands, run as a user runs them: a subprocess, exit codes, one-line errors."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import photosort.clip as clip
from tests.library_helpers import wait_for


def run(*args, data_dir):
    env = dict(os.environ, PHOTOSORT_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-m", "photosort", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_models_list_names_every_published_model(isolated_data_dir):
    result = run("models", "list", data_dir=isolated_data_dir)
    assert result.returncode == 0, result.stderr
    for name in ("RN50", "ViT-B/32", "ViT-L/14@336px", "ViT-B-32-256/datacomp_s34b_b86k (recommended)"):
        assert name in result.stdout
    assert "not downloaded" in result.stdout


def test_import_a_checkpoint_then_load_it_by_name(tmp_path, isolated_data_dir, small_vit_state_dict):
    torch.save(small_vit_state_dict, tmp_path / "my-clip.pt")
    result = run("models", "import", str(tmp_path / "my-clip.pt"), data_dir=isolated_data_dir)
    assert result.returncode == 0, result.stderr
    assert "'my-clip'" in result.stdout
    assert "my-clip" in clip.available_models()
    model, _ = clip.load("my-clip", device="cpu")
    assert model.input_resolution == 64
    listing = run("models", "list", data_dir=isolated_data_dir).stdout
    assert "my-clip" in listing


def test_importing_a_file_that_is_not_clip_fails_in_one_line(tmp_path, isolated_data_dir):
    (tmp_path / "notes.pt").write_text("not a model")
    result = run("models", "import", str(tmp_path / "notes.pt"), data_dir=isolated_data_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "notes.pt" in result.stderr


def test_help_lists_the_commands(isolated_data_dir):
    result = run("--help", data_dir=isolated_data_dir)
    assert result.returncode == 0 and "models" in result.stdout and "search" in result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Windows and macOS always have a display")
def test_no_display_gets_one_line_not_a_crash(isolated_data_dir):
    env = {name: value for name, value in os.environ.items()
           if name not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PHOTOSORT_DATA_DIR"] = str(isolated_data_dir)
    result = subprocess.run([sys.executable, "-m", "photosort"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 1 and "no display" in result.stderr and len(result.stderr.splitlines()) == 1


def catches(process: subprocess.Popen, number: int) -> bool:
    """Whether `process` has set a handler of its own for signal `number` (Linux: its SigCgt mask)."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (number - 1) & 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the signal mask from /proc")
def test_no_command_opens_the_app_which_closes_cleanly_on_sigterm(tmp_path, isolated_data_dir):
    """`photosort` alone is the desktop app: it opens its library, and a SIGTERM (a logout, Ctrl+C) closes it
    as the close button does."""
    library = tmp_path / "library"
    env = dict(os.environ, PHOTOSORT_DATA_DIR=str(isolated_data_dir), XDG_CONFIG_HOME=str(tmp_path / "config"))
    app = subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(library)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Signalled once it handles SIGTERM: before, Python's default would end it on the spot, closing nothing.
        wait_for(lambda: app.poll() is not None or catches(app, signal.SIGTERM), 60)
        assert app.poll() is None, app.stderr.read()
        assert wait_for(lambda: (library / "catalog.sqlite").exists(), 60), "no library"
        app.send_signal(signal.SIGTERM)
        _, stderr = app.communicate(timeout=60)
    finally:
        app.kill()
    assert app.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert (isolated_data_dir / "settings.ini").exists()  # the window's layout was saved, with the app's data
    assert not (tmp_path / "config" / "photosort").exists()  # and nothing in the user's own settings


def test_import_as_a_published_model_takes_its_place(tmp_path, isolated_data_dir, small_vit_state_dict):
    """A file fetched by hand (open_clip's generic name) becomes the published model, with its GELU."""
    torch.save(small_vit_state_dict, tmp_path / "open_clip_model.bin")
    name = "ViT-B-32-256/datacomp_s34b_b86k"
    result = run("models", "import", str(tmp_path / "open_clip_model.bin"), "--as", name, data_dir=isolated_data_dir)
    assert result.returncode == 0, result.stderr
    model, _ = clip.load(name, device="cpu")  # found locally: nothing is downloaded
    assert type(model.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"


def test_import_as_a_model_with_another_checksum_is_refused(tmp_path, isolated_data_dir, small_vit_state_dict):
    torch.save(small_vit_state_dict, tmp_path / "ViT-B-32.pt")
    result = run("models", "import", str(tmp_path / "ViT-B-32.pt"), "--as", "ViT-B/32", data_dir=isolated_data_dir)
    assert result.returncode == 1
    assert "is not ViT-B/32" in result.stderr and "Traceback" not in result.stderr
    assert not (isolated_data_dir / "models" / "ViT-B-32.pt").exists()


def test_import_records_the_activation_of_a_model_of_ones_own(tmp_path, isolated_data_dir, small_vit_state_dict):
    torch.save(small_vit_state_dict, tmp_path / "finetuned.safetensors.pt")
    result = run("models", "import", str(tmp_path / "finetuned.safetensors.pt"), "--activation", "gelu",
                 data_dir=isolated_data_dir)
    assert result.returncode == 0, result.stderr
    gelu, _ = clip.load("finetuned.safetensors", device="cpu")
    assert type(gelu.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"


def test_train_tiny_writes_a_loadable_model_and_reports(tmp_path, isolated_data_dir):
    """The command end to end, on a very short plan: progress and loss on stderr, quality figures on stdout."""
    out = tmp_path / "mini.pt"
    result = run("train-tiny", "--out", str(out), "--steps", "3", "--pictures-per-kind", "2", "--eval-per-pair", "2",
                 data_dir=isolated_data_dir)
    assert result.returncode == 0, result.stderr
    assert "step 3/3  loss" in result.stderr and "training:" in result.stderr
    assert "held-out (64 pictures): colour" in result.stdout and "shifted (64 pictures): colour" in result.stdout
    model, preprocess = clip.load(out, device="cpu")
    assert model.context_length == 77 and preprocess.resolution == model.input_resolution
