"""Downloading checkpoints from a real local HTTP server: good file, wrong checksum, dropped connection."""

import hashlib
import os
import subprocess
import sys

import pytest
import torch

import photosort.clip as clip
from photosort.clip.download import DownloadCancelled, download
from photosort.clip.registry import ModelInfo
from photosort.paths import user_models_dir
from tests import reference
from tests.http_server import FileServer, closed_port_url

CONTENT = os.urandom(3_000_000 + 123)  # several read chunks, not a multiple of one
SHA256 = hashlib.sha256(CONTENT).hexdigest()


def test_good_file_is_downloaded_and_verified(tmp_path):
    reports = []
    with FileServer(CONTENT) as server:
        path = download(server.url, tmp_path / "model.pt", SHA256,
                        progress=lambda done, total: reports.append((done, total)))
    assert path.read_bytes() == CONTENT
    assert not (tmp_path / "model.pt.part").exists()
    assert reports[-1] == (len(CONTENT), len(CONTENT))
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_wrong_checksum_is_discarded(tmp_path):
    with FileServer(CONTENT) as server:
        with pytest.raises(clip.ChecksumError, match="checksum"):
            download(server.url, tmp_path / "model.pt", "0" * 64)
    assert not (tmp_path / "model.pt").exists()
    assert not (tmp_path / "model.pt.part").exists()


def test_dropped_connection_resumes_within_one_call(tmp_path):
    with FileServer(CONTENT, cuts=[1_000_000, 500_000]) as server:
        path = download(server.url, tmp_path / "model.pt", SHA256)
    assert path.read_bytes() == CONTENT
    assert server.ranges == [None, "bytes=1000000-", "bytes=1500000-"]


def test_interrupted_download_resumes_on_the_next_call(tmp_path):
    with FileServer(CONTENT, cuts=[700_000, 0, 0]) as server:
        with pytest.raises(clip.DownloadError, match="resumes"):
            download(server.url, tmp_path / "model.pt", SHA256, retries=2)
    assert (tmp_path / "model.pt.part").stat().st_size == 700_000
    assert not (tmp_path / "model.pt").exists()
    with FileServer(CONTENT) as server:
        download(server.url, tmp_path / "model.pt", SHA256)
    assert server.ranges == ["bytes=700000-"]
    assert (tmp_path / "model.pt").read_bytes() == CONTENT


def test_cancelled_download_keeps_its_part(tmp_path):
    with FileServer(CONTENT) as server:
        with pytest.raises(DownloadCancelled):
            download(server.url, tmp_path / "model.pt", SHA256, should_cancel=lambda: True)
    assert 0 < (tmp_path / "model.pt.part").stat().st_size < len(CONTENT)


def test_stale_partial_file_from_another_download_is_replaced(tmp_path):
    (tmp_path / "model.pt.part").write_bytes(b"stale bytes of an older version")
    with FileServer(CONTENT) as server:
        download(server.url, tmp_path / "model.pt", SHA256)
    assert (tmp_path / "model.pt").read_bytes() == CONTENT
    assert server.ranges == ["bytes=31-", None]


def test_server_that_ignores_ranges_sends_the_whole_file_again(tmp_path):
    (tmp_path / "model.pt.part").write_bytes(CONTENT[:1000])
    with FileServer(CONTENT, honour_range=False) as server:
        download(server.url, tmp_path / "model.pt", SHA256)
    assert (tmp_path / "model.pt").read_bytes() == CONTENT


def _register(monkeypatch, name, url, sha256, filename="served.pt"):
    info = ModelInfo(name=name, url=url, filename=filename, activation="quick_gelu", sha256=sha256)
    monkeypatch.setitem(clip.MODELS, name, info)
    return info


def test_load_by_name_downloads_once_then_uses_the_cached_file(tmp_path, monkeypatch):
    state = reference.random_state_dict(reference.SMALL_VIT, seed=2)
    torch.save(state, tmp_path / "served.pt")
    content = (tmp_path / "served.pt").read_bytes()
    with FileServer(content) as server:
        _register(monkeypatch, "test-served", server.url, hashlib.sha256(content).hexdigest())
        model, preprocess = clip.load("test-served", device="cpu", progress=lambda *_: None)
        model, preprocess = clip.load("test-served", device="cpu")
    assert len(server.ranges) == 1
    assert (user_models_dir() / "served.pt").read_bytes() == content
    assert preprocess.resolution == 64


def test_corrupt_cached_file_is_downloaded_again(tmp_path, monkeypatch):
    content = b"the real file" * 1000
    user_models_dir().mkdir(parents=True)
    (user_models_dir() / "served.pt").write_bytes(b"a damaged copy")
    with FileServer(content) as server:
        _register(monkeypatch, "test-served", server.url, hashlib.sha256(content).hexdigest())
        assert clip.model_path("test-served").read_bytes() == content
    assert len(server.ranges) == 1


def test_offline_error_says_how_to_get_the_file(monkeypatch):
    url = closed_port_url()
    _register(monkeypatch, "test-offline", url, "0" * 64, filename="offline.pt")
    with pytest.raises(clip.ModelNotFoundError) as error:
        clip.load("test-offline", device="cpu")
    message = str(error.value)
    assert url in message
    assert str(user_models_dir() / "offline.pt") in message
    assert "photosort models import FILE --as test-offline" in message


def test_https_downloads_trust_mozillas_authorities_without_a_system_store(tmp_path):
    # As in the installed app on a system whose certificate store Python cannot find.
    code = "from photosort.clip.download import tls_context; print(len(tls_context().get_ca_certs()))"
    env = dict(os.environ, SSL_CERT_FILE=str(tmp_path / "none.pem"), SSL_CERT_DIR=str(tmp_path / "none"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(result.stdout) > 100
