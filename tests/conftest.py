import os
import tempfile

# Qt's tests draw into memory: no display is needed, here or in CI. Set before any QApplication exists. The
# screen is a laptop's (the offscreen default, 800 x 600, is smaller than the app's smallest window).
# Qt splits the platform's options at every colon, so a Windows drive letter ("C:") would cut the path: there
# it is given relative to the current drive (the tests run on the drive of their checkout).
_SCREEN = os.path.splitdrive(os.path.join(os.path.dirname(os.path.abspath(__file__)), "offscreen-screen.json"))[1]
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

# The system trash of every test that moves files to it, whatever the person running the tests has set:
# send2trash reads this once, when first imported.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="photosort-tests-data-")

import pytest  # noqa: E402
import torch  # noqa: E402

from tests import reference  # noqa: E402
from tests.postgres_server import postgres_server, postgres_uri  # noqa: E402, F401


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
