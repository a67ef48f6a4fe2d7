import pytest
import torch

from tests import reference


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own user data folder, so no test sees or writes the real one."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("PHOTOSORT_DATA_DIR", str(folder))
    monkeypatch.delenv("PHOTOSORT_DEVICE", raising=False)
    return folder


@pytest.fixture(scope="session")
def small_vit_state_dict():
    return reference.random_state_dict(reference.SMALL_VIT, seed=1)


@pytest.fixture(scope="session")
def small_vit_file(tmp_path_factory, small_vit_state_dict):
    path = tmp_path_factory.mktemp("ckpt") / "small-vit.pt"
    torch.save(small_vit_state_dict, path)
    return path


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual.float() - expected.float()).norm() / expected.float().norm())
