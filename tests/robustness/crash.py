"""Run photosort with a crash (or a change to the user's folders) planted at a precise point of its work.

    python tests/robustness/crash.py POINT N [kill | count | mutate SCRIPT] -- <photosort arguments>

The N-th time the process reaches POINT:

    kill           (the default) it sends itself SIGKILL there: no cleanup, no `finally`, no flush; what is on
                   disk is what a power cut or the OOM killer would leave. The process ends with signal 9.
    mutate SCRIPT  SCRIPT (Python source, or the path of a .py file) runs there, in the process, then the
                   work goes on as if nothing happened: a user changing their photos mid-run, a disk filling.
    count          nothing happens; at the end "crash.py: POINT reached K times" is printed on stderr (the
                   slow tests use it to try every N).

A kill or mutate whose N-th call never comes ends the process with exit 97 and says so on stderr, so that a
test never mistakes "the point moved or vanished" for "the library survived the crash".

The points (see POINTS) patch the engine by the names of its functions; a name the engine no longer has is
reported (exit 98), never silently skipped.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import io
import os
import pkgutil
import signal
import sys
import threading
import time
from pathlib import Path

NOT_REACHED = 97
NO_SUCH_POINT = 98

POINTS = {
    "scan": "photosort.core.decode.fingerprint returns its N-th fingerprint (the scan reads new files)",
    "scan-commit": "the N-th transaction of a scan (photosort.core.scan.scan) is about to COMMIT",
    "encode": "the model's encode_pictures is called for the N-th batch (batches 1..N-1 are committed)",
    "batch-commit": "photosort.core.vectors.SqliteVectorStore.put has stored the N-th batch's vectors, uncommitted",
    "thumbnail": "photosort.core.pipeline._save_thumbnail's N-th thumbnail: its temporary file written, not renamed",
    "index-save": "photosort.core.index._fsync of the N-th index data file (.bin or .npy): written, not synced",
    "manifest-write": "photosort.core.index._fsync of the N-th temporary manifest (.tmp), before its rename",
    "after-manifest-rename": "photosort.core.index._fsync_folder of the index folder, the N-th time: the manifest "
                             "is renamed, the folder not synced, the old files not yet removed",
    "user-work": "the N-th write of L/user-work.json (or of a temporary file for it): opened for writing (and so "
                 "emptied), or about to be renamed over it",
    "close": "photosort.core.library.Library.close is called for the N-th time: everything is committed, the "
             "write-ahead log not yet folded into the catalog",
}


class Trigger:
    """Counts the calls that reach the point, and acts on the N-th."""

    def __init__(self, point: str, n: int, action: str, script: str | None, argv: list[str]):
        self.point, self.n, self.action, self.script, self.argv = point, n, action, script, argv
        self.count = 0
        self.fired = False
        self._lock = threading.Lock()

    def hit(self, detail: str = "", before_kill=None) -> None:
        with self._lock:
            self.count += 1
            if self.action == "count" or self.count != self.n:
                return
            self.fired = True
        if self.action == "kill":
            if before_kill is not None:
                before_kill()
            _say(f"SIGKILL at {self.point} (call {self.n}){': ' + detail if detail else ''}")
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # never reached: the signal cannot be caught
        else:
            _say(f"mutating at {self.point} (call {self.n}){': ' + detail if detail else ''}")
            exec(compile(self.script, "<mutate>", "exec"),  # noqa: S102 - the tests' own snippet
                 {"__name__": "__mutate__", "point": self.point, "call": self.n, "argv": self.argv})


def _say(text: str) -> None:
    sys.stderr.write(f"crash.py: {text}\n")
    sys.stderr.flush()


# Patching

def _load_engine() -> None:
    """Import every module of the engine first, so that a function imported by name elsewhere (`from .decode
    import fingerprint`) is found and patched there too."""
    import photosort.core

    for info in pkgutil.iter_modules(photosort.core.__path__, "photosort.core."):
        with contextlib.suppress(ImportError):
            importlib.import_module(info.name)
    for name in ("photosort.cli.library", "photosort.cli.organize", "photosort.cli.models", "photosort.cli",
                 "photosort.clip.encoder"):
        importlib.import_module(name)


def _resolve(dotted: str):
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        owner_name, _, class_name = module_name.rpartition(".")
        module = getattr(importlib.import_module(owner_name), class_name)
    if not hasattr(module, attribute):
        _say(f"the engine has no {dotted} any more: point cannot be planted")
        os._exit(NO_SUCH_POINT)
    return module, attribute


def _patch_function(dotted: str, make_wrapper) -> None:
    """Replace a module-level function in its module and wherever photosort imported it by name."""
    module, name = _resolve(dotted)
    original = getattr(module, name)
    wrapper = functools.wraps(original)(make_wrapper(original))
    for loaded in list(sys.modules.values()):
        if getattr(loaded, "__name__", "").startswith("photosort"):
            for attribute, value in list(vars(loaded).items()):
                if value is original:
                    setattr(loaded, attribute, wrapper)


def _patch_method(dotted: str, make_wrapper) -> None:
    owner, name = _resolve(dotted)
    original = getattr(owner, name)
    setattr(owner, name, functools.wraps(original)(make_wrapper(original)))


def _path_name(value) -> str:
    try:
        return os.fsdecode(value) if isinstance(value, (str, bytes, os.PathLike)) else ""
    except TypeError:
        return ""


def install(trigger: Trigger) -> None:
    _load_engine()
    point = trigger.point

    if point == "scan":
        def fingerprint(original):
            def wrapper(*args, **kwargs):
                result = original(*args, **kwargs)
                trigger.hit(_path_name(args[0]) if args else "")
                return result
            return wrapper
        _patch_function("photosort.core.decode.fingerprint", fingerprint)

    elif point == "scan-commit":
        scanning = threading.local()

        def scan(original):
            def wrapper(*args, **kwargs):
                scanning.active = getattr(scanning, "active", 0) + 1
                try:
                    return original(*args, **kwargs)
                finally:
                    scanning.active -= 1
            return wrapper
        _patch_function("photosort.core.scan.scan", scan)
        depth: dict[int, int] = {}

        def transaction(original):
            @contextlib.contextmanager
            def wrapper(self, *args, **kwargs):
                with original(self, *args, **kwargs) as value:
                    outer = depth.get(id(self), 0)
                    depth[id(self)] = outer + 1
                    try:
                        yield value
                    finally:
                        depth[id(self)] = outer
                    # The body is done: the original context manager's exit issues COMMIT next.
                    if outer == 0 and getattr(scanning, "active", 0):
                        trigger.hit("before COMMIT")
            return wrapper
        _patch_method("photosort.core.catalog.SqliteCatalog.transaction", transaction)

    elif point == "encode":
        def encode_pictures(original):
            def wrapper(self, pictures, *args, **kwargs):
                trigger.hit(f"batch of {len(pictures)}")
                return original(self, pictures, *args, **kwargs)
            return wrapper
        import photosort.clip
        _patch_method(f"{photosort.clip.Encoder.__module__}.Encoder.encode_pictures", encode_pictures)

    elif point == "batch-commit":
        def put(original):
            def wrapper(self, *args, **kwargs):
                result = original(self, *args, **kwargs)
                trigger.hit("vectors stored, transaction open")
                return result
            return wrapper
        _patch_method("photosort.core.vectors.SqliteVectorStore.put", put)

    elif point == "thumbnail":
        def save_thumbnail(original):
            def wrapper(path, data, *args, **kwargs):
                def temporary_written():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp").write_bytes(data)
                trigger.hit(_path_name(path), before_kill=temporary_written)
                return original(path, data, *args, **kwargs)
            return wrapper
        _patch_function("photosort.core.pipeline._save_thumbnail", save_thumbnail)

    elif point in ("index-save", "manifest-write"):
        suffixes = (".bin", ".npy") if point == "index-save" else (".tmp",)

        def fsync(original):
            def wrapper(path, *args, **kwargs):
                if _path_name(path).endswith(suffixes):
                    trigger.hit(_path_name(path))
                return original(path, *args, **kwargs)
            return wrapper
        _patch_function("photosort.core.index._fsync", fsync)

    elif point == "after-manifest-rename":
        def fsync_folder(original):
            def wrapper(folder, *args, **kwargs):
                if Path(_path_name(folder)).parent.name == "index":
                    trigger.hit(_path_name(folder))
                return original(folder, *args, **kwargs)
            return wrapper
        _patch_function("photosort.core.index._fsync_folder", fsync_folder)

    elif point == "user-work":
        _patch_user_work_writes(trigger)

    elif point == "close":
        def close(original):
            def wrapper(self, *args, **kwargs):
                trigger.hit()
                return original(self, *args, **kwargs)
            return wrapper
        _patch_method("photosort.core.library.Library.close", close)

    else:
        _say(f"unknown point {point!r}; known: {', '.join(POINTS)}")
        os._exit(2)


def _is_user_work(path) -> bool:
    return "user-work" in os.path.basename(_path_name(path))


def _patch_user_work_writes(trigger: Trigger) -> None:
    """Every way Python writes a file: open() in a writing mode, os.open with writing flags, rename over."""
    original_open, original_os_open = io.open, os.open
    original_replace, original_rename = os.replace, os.rename
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def opener(file, mode="r", *args, **kwargs):
        handle = original_open(file, mode, *args, **kwargs)
        if _is_user_work(file) and any(letter in mode for letter in "wax+"):
            trigger.hit(f"opened {_path_name(file)} for writing ({mode})")
        return handle

    def os_opener(path, flags, *args, **kwargs):
        descriptor = original_os_open(path, flags, *args, **kwargs)
        if _is_user_work(path) and flags & writing_flags:
            trigger.hit(f"os.open {_path_name(path)} for writing")
        return descriptor

    def renamer(original):
        def wrapper(source, destination, *args, **kwargs):
            if _is_user_work(destination):
                trigger.hit(f"about to rename {_path_name(source)} over {_path_name(destination)}")
            return original(source, destination, *args, **kwargs)
        return wrapper

    builtins.open = io.open = opener
    os.open = os_opener
    os.replace = renamer(original_replace)
    os.rename = renamer(original_rename)


def main(argv: list[str]) -> None:
    if "--" not in argv or argv.index("--") < 2:
        _say(__doc__.strip().splitlines()[2].strip())
        os._exit(2)
    split = argv.index("--")
    point, n, rest, photosort_args = argv[0], int(argv[1]), argv[2:split], argv[split + 1:]
    action = rest[0] if rest else "kill"
    script = None
    if action == "mutate":
        script = rest[1]
        if script.endswith(".py") and Path(script).is_file():
            script = Path(script).read_text()
    elif action not in ("kill", "count"):
        _say(f"unknown action {action!r}: kill, count or mutate SCRIPT")
        os._exit(2)
    trigger = Trigger(point, n, action, script, photosort_args)
    install(trigger)

    import multiprocessing

    from photosort.cli import main as photosort_main

    multiprocessing.freeze_support()

    def report() -> None:
        if action == "count":
            _say(f"{point} reached {trigger.count} times")
        elif not trigger.fired:
            _say(f"{point} was reached {trigger.count} times, never a {n}th time: nothing was done")

    try:
        code = photosort_main(photosort_args)
    except BaseException:
        report()
        raise  # the interpreter prints the traceback, as `python -m photosort` would
    report()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(NOT_REACHED if action != "count" and not trigger.fired else code)


if __name__ == "__main__":
    main(sys.argv[1:])
