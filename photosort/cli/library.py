"""The library's command line: `index`, `search`, `status`, `watch`, `folders`, `library check` (wired into
photosort.cli.parser)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.catalog import Folder
from ..core.errors import LibraryError, NoModelError
from ..core.library import Library, explain, library_location
from ..core.pipeline import Controls, IndexRun, Progress
from ..core.search import QueryEncoder
from ..devices import AUTO, DEVICES
from .progress import ProgressLine

DEMO_MODEL = "tiny-shapes"


def add_commands(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser("index", help="add folders to the library and index their photos")
    index.add_argument("paths", nargs="+", metavar="PATH")
    index.add_argument("--model", help="model name or checkpoint file (remembered by the library)")
    index.add_argument("--device", choices=list(DEVICES), default=AUTO)
    index.add_argument("--batch-size", type=_positive, default=32, metavar="N")
    index.set_defaults(run=run_index)

    search = commands.add_parser(
        "search", help="find photos by text, by an example image, or both",
        description="QUERY: words (beach sunset); -word or -\"words\" to avoid; +photo.jpg for photos like it "
                    "(a file, or the name of a photo of the library); 2:\"at night\" to weigh a term; filters "
                    "folder:NAME tag:LABEL after:YYYY-MM-DD before:YYYY-MM-DD. Filters alone list the photos that "
                    "pass them, newest first.")
    search.add_argument("query", nargs="?", default=None)
    search.add_argument("--image", metavar="FILE", help="find photos like this one")
    search.add_argument("-k", type=_positive, default=20, metavar="N", help="how many results at most (default 20)")
    search.add_argument("--all", action="store_true",
                        help="also show results no better than the query scores on unrelated photos")
    search.add_argument("--json", action="store_true",
                        help='print [{"path": ..., "score": ..., "relevant": true|false}, ...] '
                             '(score null for filters alone: those photos are listed, not ranked)')
    search.set_defaults(run=run_search)

    status = commands.add_parser("status", help="what the library holds")
    status.add_argument("--json", action="store_true")
    status.add_argument("--failed", action="store_true", help="list the files that could not be read")
    status.set_defaults(run=run_status)

    watch = commands.add_parser("watch", help="keep the library current as its folders change (Ctrl+C stops)")
    watch.add_argument("--device", choices=list(DEVICES), default=AUTO)
    watch.set_defaults(run=run_watch)

    folders = commands.add_parser("folders", help="list the library's folders; mark reference folders")
    folders.add_argument("--reference", nargs="+", default=[], metavar="PATH",
                         help="mark folders as references: their photos are kept first and never moved")
    folders.add_argument("--no-reference", nargs="+", default=[], metavar="PATH", help="unmark reference folders")
    folders.add_argument("--move", nargs=2, metavar=("OLD", "NEW"),
                         help="the library folder OLD is at NEW now (a drive mounted elsewhere, a folder moved): "
                              "its photos follow, nothing is read again")
    folders.add_argument("--remove", nargs="+", default=[], metavar="PATH",
                         help="forget library folders and their photos (the files are not touched)")
    folders.add_argument("--json", action="store_true")
    folders.set_defaults(run=run_folders)

    library = commands.add_parser("library", help="look after the library itself")
    library_commands = library.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    library_commands.add_parser(
        "check", help="check the catalog and the search index, repair what can be, report each step",
        description="Runs SQLite's integrity check on the catalog, verifies the search index against the "
                    "stored vectors, and repairs what it can: a damaged catalog is set aside and rebuilt (with "
                    "what can be saved of it and your work from user-work.json), a damaged index is rebuilt "
                    "from the stored vectors.").set_defaults(run=run_check)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def open_library(args: argparse.Namespace, write: bool = True) -> Library:
    """The library, for writing (waiting for another writer, saying so, unless --no-wait) or for reading."""
    def say(message: str) -> None:
        print(f"photosort: {message}", file=sys.stderr, flush=True)

    library = Library(library_folder(args), write=write, wait=not getattr(args, "no_wait", False), on_wait=say,
                      holder=f"`photosort {args.command}`")
    for notice in library.notices:
        say(notice)
    library.notices.clear()
    return library


def library_folder(args: argparse.Namespace) -> Path | str:
    """The library named by --library, else $PHOTOSORT_LIBRARY, else the default: a folder, or a PostgreSQL URI."""
    return library_location(args.library)


def say_notices(library: Library) -> None:
    """What the library did that the user should know of (a repair, a file it could not write)."""
    for notice in library.notices:
        print(f"photosort: {notice}", file=sys.stderr)
    library.notices.clear()


def load_encoder(model: str, device: str = "auto"):
    """The library's model, downloaded with a progress bar if it is a published one not yet here."""
    from ..clip import Encoder

    progress = ProgressLine(f"downloading {model}")
    with _model_errors(model, progress):
        return Encoder.load(model, None if device == "auto" else device, progress=progress)


def query_encoder(model: str) -> QueryEncoder:
    """A search's encoder: texts through the numpy text tower (torch is never imported for them), example photos
    through the full model, loaded only when the query has one."""
    from ..clip import NeedsTorchError

    return QueryEncoder(_TextEncoder(model), lambda: load_encoder(model), (NeedsTorchError,))


class _TextEncoder:
    """photosort.clip.TextEncoder, drawing a download's progress and saying its failures as the CLI does."""

    def __init__(self, model: str):
        from ..clip import TextEncoder

        self.progress = ProgressLine(f"downloading {model}")
        self.encoder = TextEncoder(model, progress=self.progress)

    @property
    def identity(self) -> str | None:
        return self.encoder.identity

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        with _model_errors(self.encoder.model, self.progress):
            return self.encoder.encode_texts(texts)


@contextlib.contextmanager
def _model_errors(model: str, progress: ProgressLine) -> Iterator[None]:
    """A model that cannot be had, in one line that says what to do; the progress line closed either way."""
    from ..clip import ClipError, DownloadError, ModelNotFoundError, NeedsTorchError

    try:
        yield
    except (DownloadError, ModelNotFoundError) as error:
        # The download error already says how to import a copy; add the model that needs no download.
        raise NoModelError(f"{str(error).splitlines()[0].rstrip('.')}. Or try the bundled demo model: "
                           f"`--model {DEMO_MODEL}`.") from error
    except NeedsTorchError:
        raise  # not for the user: the full model reads that file
    except ClipError as error:
        raise NoModelError(f"cannot load the model {model!r}: {error}") from error
    finally:
        progress.close_if_drawn()


def _model_name(value: str) -> str:
    """A checkpoint file is remembered by its absolute path; a model name as it is."""
    path = Path(value).expanduser()
    return str(path.resolve()) if path.is_file() else value


def _check_model_known(value: str) -> None:
    """A model that is neither a checkpoint file nor a name photosort knows fails now, not after waiting for
    another photosort to let go of the library."""
    from ..clip import available_models

    if Path(value).expanduser().is_file() or value in available_models():
        return
    raise NoModelError(f"unknown model {value!r}: give a checkpoint file or one of {', '.join(available_models())}")


def run_index(args: argparse.Namespace) -> int:
    from ..clip import RECOMMENDED_MODEL

    for path in args.paths:
        if not Path(path).expanduser().is_dir():
            raise LibraryError(f"{path} is not a folder")
    if args.model:
        _check_model_known(args.model)
    with open_library(args) as library:
        model = _model_name(args.model) if args.model else library.model or RECOMMENDED_MODEL
        encoder = None
        if model != library.model:  # a new or changed model is proven loadable before the library takes it
            encoder = load_encoder(model, args.device)
            library.set_model(model)
        library.add_folders(args.paths, take_as_moved=_say_moved)
        with library.indexing():
            scanning = ProgressLine("scanning", unit="files", scale=1)
            report = library.scan(lambda count: scanning(count, None))
            scanning.close_if_drawn()
            run = IndexRun()
            pending = library.pending()
            if pending:  # loading the model costs seconds: only when there is something to encode
                encoder = encoder or load_encoder(model, args.device)
                run = _encode_with_progress(library, encoder, pending, args.batch_size)
        status = library.status()
        say_notices(library)
    say_notices(library)
    counts = status.counts
    print(f"{counts.indexed} of {counts.photos} photos indexed ({run.encoded} encoded now, "
          f"{report.added} new, {report.changed} changed, {report.moved} moved, {report.removed} removed); "
          f"{counts.failed} unreadable" + (" (photosort status --failed)" if counts.failed else ""),
          file=sys.stderr)
    for folder in report.offline:
        print(f"offline: {folder} (its photos are kept until it returns)", file=sys.stderr)
    for folder in report.busy:
        print(f"not scanned: {folder} (another machine is scanning it now)", file=sys.stderr)
    for folder, reason in report.problems:
        print(f"not looked into: {folder}: {reason}", file=sys.stderr)
    if run.cancelled:
        print("photosort: interrupted; run the same command again to go on", file=sys.stderr)
        return 130
    return 0


def _say_moved(folder: Folder, place: Path) -> bool:
    print(f"{place} holds the photos of the library folder {folder.path}, which is not there: taken as that folder "
          "at its new place (its photos keep their vectors, tags and examples)", file=sys.stderr)
    return True


def _encode_with_progress(library: Library, encoder, photos: list, batch_size: int) -> IndexRun:
    """Encode what is pending with a progress bar; Ctrl+C stops after the batch in flight, which is kept."""
    controls = Controls()
    progress = ProgressLine("indexing", unit="photos", scale=1)

    def on_progress(state: Progress) -> None:
        progress(state.done, state.total, f"{state.failed} unreadable" if state.failed else "")

    previous = signal.signal(signal.SIGINT, lambda *_: controls.cancel())
    try:
        return library.encode_pending(encoder, photos=photos, batch_size=batch_size, controls=controls,
                                      on_progress=on_progress)
    finally:
        signal.signal(signal.SIGINT, previous)
        progress.close_if_drawn()


def run_search(args: argparse.Namespace) -> int:
    if not args.query and not args.image:
        raise LibraryError("give a text to search for, --image FILE, or both")
    with open_library(args, write=False) as library:
        model = library.model
        if not model:
            raise LibraryError("this library is empty: run `photosort index PATH` first")
        results = library.search(query_encoder(model), args.query, args.image, args.k)
        say_notices(library)
    shown = results if args.all else [result for result in results if result.relevant]
    if args.json:
        print(json.dumps([{"path": result.path, "score": round(result.score, 4) if result.ranked else None,
                           "relevant": result.relevant} for result in shown]))
        return 0
    for result in shown:
        if not result.ranked:  # filters alone: a listing, newest first, with no score to show
            print(result.path)
            continue
        print(f"{result.score:.3f}  {result.path}" + ("" if result.relevant else "  (weak)"))
    hidden = len(results) - len(shown)
    if hidden and not shown:
        print(f"no photo stands out for this query; {hidden} weak matches hidden (--all shows them)", file=sys.stderr)
    elif hidden:
        print(f"{hidden} weaker matches hidden (--all shows them)", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    with open_library(args, write=False) as library:
        status = library.status(with_failures=args.failed)
    counts = status.counts
    if args.json:
        report = {"photos": counts.photos, "indexed": counts.indexed, "failed": counts.failed,
                  "offline": counts.offline, "folders": [str(folder.path) for folder in status.folders],
                  "offline_folders": [str(folder.path) for folder in status.folders if not folder.online],
                  "model": status.model}
        if args.failed:
            report["failures"] = [{"path": path, "reason": reason} for path, reason in status.failures]
        print(json.dumps(report))
        return 0
    print(f"library: {library.folder}")
    print(f"model: {status.model or 'none yet'}")
    print(f"photos: {counts.photos}  indexed: {counts.indexed}  unreadable: {counts.failed}  "
          f"offline: {counts.offline}")
    for folder in status.folders:
        print(f"folder: {folder.path}" + ("" if folder.online else "  (offline)"))
    for path, reason in status.failures:
        print(f"unreadable: {path}: {reason}")
    return 0


def run_watch(args: argparse.Namespace) -> int:
    from ..core.watcher import Watcher

    with open_library(args) as library:
        if not library.model or not library.catalog.folders():
            raise LibraryError("nothing to watch: add folders with `photosort index PATH` first")
        encoder = load_encoder(library.model, args.device)
        stopping = threading.Event()

        def update(_: set[str]) -> None:
            report = library.scan()
            run = library.encode_pending(encoder)
            say_notices(library)
            if report.added or report.changed or report.moved or report.removed or run.encoded or run.failed:
                print(f"{report.added} new, {report.changed} changed, {report.moved} moved, "
                      f"{report.removed} removed; {run.encoded} encoded, {run.failed} unreadable", flush=True)

        def failed(error: Exception, retry_in: float) -> None:
            print(f"photosort: {explain(error, library.folder)}; trying again in {retry_in:.0f} s", file=sys.stderr,
                  flush=True)

        folders = [folder.path for folder in library.catalog.folders()]
        watcher = Watcher(folders, update, exclude=[library.folder.resolve()], on_error=failed)
        watcher.trigger(set())  # the first pass, with the watcher's retries
        watcher.start()
        print(f"watching {len(folders)} folders; Ctrl+C stops", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            watcher.stop()
    return 0


def run_folders(args: argparse.Namespace) -> int:
    changing = bool(args.reference or args.no_reference or args.move or args.remove)
    for path in args.reference:
        if not Path(path).expanduser().is_dir():
            raise LibraryError(f"--reference {path}: not a folder")
    with open_library(args, write=changing) as library:
        for path in args.remove:
            library.remove_folder(Path(path).expanduser().absolute())
            print(f"{path} is no longer a library folder; its photos are forgotten, the files untouched",
                  file=sys.stderr)
        if args.move:
            old, new = args.move
            moved = library.move_folder(old, new)
            print(f"{old} is at {moved.path} now; its photos follow it", file=sys.stderr)
        if changing:
            library.set_references([Path(path).expanduser().resolve() for path in args.reference],
                                   [Path(path).expanduser().resolve() for path in args.no_reference])
        rows = library.folder_rows()
    if args.json:
        print(json.dumps([{"path": str(row.path), "photos": row.photos, "online": row.online,
                           "reference": row.reference, "library_folder": row.library} for row in rows]))
        return 0
    if not rows:
        print("no folders yet: add one with `photosort index PATH`", file=sys.stderr)
    for row in rows:
        marks = ["online" if row.online else "offline"] + (["reference"] if row.reference else [])
        print(f"{row.path}  {row.photos} photos  {', '.join(marks)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..core.check import check_library

    if isinstance(library_folder(args), str):
        raise LibraryError("`library check` repairs a library folder; a library in PostgreSQL is kept whole by its "
                           "server, and what this machine keeps of it (search index, thumbnails) is made again "
                           "when damaged")
    healthy = True
    for step in check_library(Path(library_folder(args)), wait=not args.no_wait,
                              on_wait=lambda message: print(f"photosort: {message}", file=sys.stderr, flush=True)):
        print(step.line, flush=True)
        healthy = healthy and step.ok
    return 0 if healthy else 1
