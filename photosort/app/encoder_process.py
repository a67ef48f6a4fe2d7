"""The CLIP model in a process of its own, behind the encoder interface the library engine uses.

Why a process: importing torch and loading weights hold Python's interpreter lock for up to a fifth of a
second at a time (measured here: 190 ms while the shared libraries load), which would freeze the window, and a
crash in a GPU driver must not take the library with it. The app's process never imports torch.

Two pipes, each served by its own thread in the child: photo batches on one, query texts on the other, so a
search typed while photos are being indexed does not wait for the batch in flight.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from ..core.errors import LibraryError, NoModelError

# "spawn" everywhere: a forked child would inherit the app's Qt threads and locks in whatever state they were.
_CONTEXT = multiprocessing.get_context("spawn")
BACKGROUND_NICENESS = 10  # the model's process yields the CPU to the app's (POSIX; Windows keeps its priority)
LOAD_TIMEOUT_S = 600  # a big checkpoint on a slow disk, or a first CUDA initialisation, takes a while


@dataclass(frozen=True)
class EncoderInfo:
    resolution: int
    dim: int
    device: str  # what it runs on, in words


class RemoteEncoder:
    """A loaded CLIP in a child process: `encode_pictures` and `encode_texts`, each safe from its own thread."""

    def __init__(self, model: str, device: str | None = None):
        self.model = model
        pictures_here, pictures_there = _CONTEXT.Pipe()
        texts_here, texts_there = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_serve, args=(model, device, pictures_there, texts_there),
                                         name="photosort-clip", daemon=True)
        self._process.start()
        pictures_there.close()
        texts_there.close()
        self._pictures = _Channel(pictures_here, self._process)
        self._texts = _Channel(texts_here, self._process)
        try:
            reply = self._pictures.receive(LOAD_TIMEOUT_S)
        except LibraryError as error:
            self.close()
            raise NoModelError(f"cannot load the model {model!r}: {error}") from error
        if reply[0] == "error":
            self.close()
            raise NoModelError(reply[1])
        self.info = EncoderInfo(*reply[1:])
        self.resolution, self.dim = self.info.resolution, self.info.dim

    def encode_pictures(self, pictures: np.ndarray) -> np.ndarray:
        return self._pictures.ask(("pictures", pictures))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self._texts.ask(("texts", list(texts)))

    def close(self) -> None:
        for channel in (self._pictures, self._texts):
            channel.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


class _Channel:
    """One pipe to the child: one question at a time, and a dead child is an error, not a hang."""

    def __init__(self, connection: Connection, process: BaseProcess):
        self.connection, self.process = connection, process
        self.lock = threading.Lock()

    def receive(self, timeout: float | None = None) -> Any:
        try:
            while not self.connection.poll(1.0 if timeout is None else min(1.0, timeout)):
                if not self.process.is_alive():
                    raise LibraryError(f"the model process stopped (exit code {self.process.exitcode})")
                if timeout is not None:
                    timeout -= 1.0
                    if timeout <= 0:
                        raise LibraryError("the model process did not answer in time")
            return self.connection.recv()
        except (EOFError, OSError) as error:
            raise LibraryError(f"the model process stopped (exit code {self.process.exitcode})") from error

    def ask(self, request: tuple) -> np.ndarray:
        with self.lock:
            try:
                self.connection.send(request)
            except (OSError, ValueError) as error:
                raise LibraryError("the model process is gone") from error
            reply = self.receive()
        if reply[0] == "error":
            raise LibraryError(f"the model failed: {reply[1]}")
        return reply[1]

    def close(self) -> None:
        with self.lock:
            try:
                self.connection.send(("stop",))
            except (OSError, ValueError):
                pass
            self.connection.close()


def _serve(model: str, device: str | None, pictures: Connection, texts: Connection) -> None:
    """The child: load the model, then answer both pipes until told to stop or the app goes away."""
    _yield_to_the_app()
    try:
        from ..clip import ClipError, Encoder

        encoder = Encoder.load(model, device)
    except (ClipError, OSError, RuntimeError) as error:
        pictures.send(("error", f"cannot load the model {model!r}: {error}"))
        return
    pictures.send(("ready", encoder.resolution, encoder.dim, encoder.describe()))
    thread = threading.Thread(target=_answer, args=(texts, encoder.encode_texts), daemon=True)
    thread.start()
    _answer(pictures, encoder.encode_pictures)
    # Done: leave without tearing the interpreter down, which would stop torch's worker threads mid-flight
    # (C++ aborts with "terminate called without an active exception"). Nothing is left to flush.
    os._exit(0)


def _answer(connection: Connection, work: Callable[[Any], np.ndarray]) -> None:
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return  # the app closed its end, or exited
        if request[0] == "stop":
            return
        reply: tuple[str, np.ndarray | str]
        try:
            reply = ("ok", work(request[1]))
        except Exception as error:  # noqa: BLE001 - any model failure goes back as a message, the child lives on
            reply = ("error", f"{type(error).__name__}: {error}")
        try:
            connection.send(reply)
        except (OSError, ValueError):
            return


def _yield_to_the_app() -> None:
    """Run below the app's priority: on a machine with few cores the window must get the CPU first."""
    if hasattr(os, "nice"):
        try:
            os.nice(BACKGROUND_NICENESS)
        except OSError:
            pass


def decoder_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that decode photos for indexing: their work never competes with the window's for Python's
    interpreter lock, they run below the app's priority, and each holds its share of the decode memory budget
    (a budget per process would multiply it by the number of processes)."""
    return ProcessPoolExecutor(workers, mp_context=_CONTEXT, initializer=_start_decoder, initargs=(workers,))


def _start_decoder(workers: int) -> None:
    from ..core.decode_memory import share_among

    _yield_to_the_app()
    share_among(workers)


def run_in_child(function: Callable, *args: Any) -> Any:
    """Run one torch job (reading a checkpoint, listing devices) in a short-lived child process."""
    with ProcessPoolExecutor(1, mp_context=_CONTEXT) as pool:
        return pool.submit(function, *args).result()


def probe_devices() -> list[tuple[str, str]]:
    """(device, what it is) for each device here; run in a child, as it needs torch."""
    from ..clip.loader import detected_devices

    return detected_devices()
