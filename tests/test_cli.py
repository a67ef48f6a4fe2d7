"""The `photosort models` commands, run as a user runs them: a subprocess, exit codes, one-line errors."""

import os
import subprocess
import sys

import torch

import photosort.clip as clip


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


def test_no_command_prints_help(isolated_data_dir):
    result = run(data_dir=isolated_data_dir)
    assert result.returncode == 0 and "models" in result.stdout


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
