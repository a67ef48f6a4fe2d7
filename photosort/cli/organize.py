"""The command line for organizing: `tag` (labels the user defines) and `dupes` (duplicate clusters)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.catalog import FAILED
from ..core.dupes import EXACT, KINDS, NEAR, Cluster
from ..core.errors import LibraryError
from ..core.labels import ACCEPT, REJECT
from ..core.library import Library
from ..core.resolve import plan
from .library import open_library, query_encoder
from .progress import ProgressLine

# Similar clusters are different photos (burst frames): trashed only when asked for by name.
TRASHED_BY_DEFAULT = (EXACT, NEAR)


def add_commands(commands: argparse._SubParsersAction) -> None:
    tag = commands.add_parser(
        "tag", help="tag photos with labels you define, and teach the labels by example",
        description="Labels are decided one by one: a photo may get several or none. --accept and --reject "
                    "teach a label from your own photos.")
    tag.add_argument("--label", action="append", default=[], metavar="NAME[=PROMPT|PROMPT...]",
                     help="add a label, or change its prompts (what it looks like, in words)")
    tag.add_argument("--remove", action="append", default=[], metavar="NAME", help="remove a label and its tags")
    judged = tag.add_mutually_exclusive_group()
    judged.add_argument("--accept", nargs="+", metavar=("NAME", "PATH"), help="these photos are NAME")
    judged.add_argument("--reject", nargs="+", metavar=("NAME", "PATH"), help="these photos are not NAME")
    tag.add_argument("--json", action="store_true", help="print {path: [label, ...]} for every indexed photo")
    tag.set_defaults(run=run_tag)

    dupes = commands.add_parser(
        "dupes", help="find duplicate photos (exact, near, similar) and suggest which to keep",
        description="exact: same bytes or pixels; near: one picture re-encoded, resized, cropped by a few "
                    "percent, brightened a little or converted, nothing a person would miss; similar: different "
                    "pictures of one moment or scene (bursts, reframings, edits of colour or tone). --trash moves "
                    "all but the kept photo of exact and near clusters to the system trash (add --kind similar "
                    "to include similar pictures).")
    dupes.add_argument("--json", action="store_true",
                       help='print {"clusters": [{"kind", "keep", "members", "why", "keep_reason", '
                            '"exact_copies"}, ...]}: why the photos are one cluster, why the kept one is kept, '
                            'and the sets of members that are the very same file (lists of paths)')
    dupes.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                       help="only clusters of this kind: exact, near or similar (repeatable)")
    dupes.add_argument("--trash", action="store_true", help="move all but the kept photo to the system trash")
    dupes.add_argument("--dry-run", action="store_true", help="with --trash: only print what would be moved")
    dupes.add_argument("--reference", action="append", default=[], metavar="FOLDER",
                       help="photos under this folder are never touched (and are kept first); remembered as a "
                            "reference folder of the library (see `photosort folders`)")
    dupes.set_defaults(run=run_dupes)


def _parse_label(text: str) -> tuple[str, list[str]]:
    name, _, prompts = text.partition("=")
    name = name.strip()
    if not name:
        raise LibraryError(f"--label {text!r}: the label needs a name")
    return name, [prompt.strip() for prompt in prompts.split("|") if prompt.strip()] or [name]


def run_tag(args: argparse.Namespace) -> int:
    judged = args.accept or args.reject
    if judged is not None and len(judged) < 2:
        raise LibraryError(f"--{'accept' if args.accept else 'reject'} wants a label and at least one photo")
    with open_library(args) as library:
        if not library.model:
            raise LibraryError("this library is empty: run `photosort index PATH` first")
        labels = dict(_parse_label(text) for text in args.label)
        for name in args.remove:
            library.remove_label(name)
        library.set_labels(labels)
        if judged:
            label, paths = judged[0], judged[1:]
            if label not in library.labels.labels():
                library.set_labels({label: [label]})
            encoder = query_encoder(library.model) if library.needs_encoder_for_labels() else None
            if encoder is not None:
                library.retag(encoder)
            unknown = library.judge(label, paths, ACCEPT if args.accept else REJECT)
            for path in unknown:
                print(f"not a photo of this library: {path}", file=sys.stderr)
            tagged = library.tagged_photos()
            counts = {label: sum(label in tags for tags in tagged.values())}
        else:
            encoder = query_encoder(library.model) if library.needs_encoder_for_labels() else None
            counts = library.retag(encoder)
            tagged = library.tagged_photos()
    if args.json:
        print(json.dumps(tagged))
    else:
        if not counts:
            print("no labels yet: add one with `photosort tag --label NAME[=PROMPT|PROMPT...]`", file=sys.stderr)
        for label, count in sorted(counts.items()):
            print(f"{label}: {count} photos")
    return 0


def run_dupes(args: argparse.Namespace) -> int:
    if args.dry_run and not args.trash:
        raise LibraryError("--dry-run goes with --trash")
    reference = []
    for folder in args.reference:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise LibraryError(f"--reference {folder}: not a folder")
        reference.append(path.resolve())
    kinds = set(args.kind or KINDS)
    with open_library(args) as library:
        if not library.model:
            raise LibraryError("this library is empty: run `photosort index PATH` first")
        if reference:  # remembered: the engine refuses to move anything under a reference folder, whoever asks
            library.set_references(reference)
        reference = library.reference_folders
        pending = _refresh(library)
        progress = ProgressLine("comparing", unit="pairs", scale=1)
        def on_progress(stage: str, done: int, total: int) -> None:
            if total > 1:  # the stages that count pairs; the others only mark where the work is
                progress(done, total, stage)

        clusters = [cluster for cluster in library.duplicates(reference, on_progress) if cluster.kind in kinds]
        progress.close_if_drawn()
        outcome = None
        if args.trash:
            to_trash = kinds if args.kind else set(TRASHED_BY_DEFAULT)
            steps = plan([cluster for cluster in clusters if cluster.kind in to_trash], reference)
            if args.dry_run:
                for step in steps.steps:
                    print(f"would move to trash: {step.photo.path}  (keeping {step.keep.path})", file=sys.stderr)
            else:
                outcome = library.trash_duplicates(steps.steps)
            for photo in steps.protected:
                print(f"left alone (reference folder): {photo.path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"clusters": [_cluster_json(cluster) for cluster in clusters]}))
    else:
        _print_clusters(clusters)
    if pending:
        print(f"{pending} photos are not indexed yet and were not compared: run `photosort index`", file=sys.stderr)
    if outcome is not None:
        for step in outcome.moved:
            print(f"moved to trash: {step.photo.path}", file=sys.stderr)
        for step, reason in outcome.failed:
            print(f"not moved: {step.photo.path}: {reason}", file=sys.stderr)
        print(f"{len(outcome.moved)} photos moved to the trash, {len(outcome.failed)} left", file=sys.stderr)
        return 1 if outcome.failed else 0
    return 0


def _refresh(library: Library) -> int:
    """Catch up with the folders (files gone, moved or changed) before comparing; how many wait for indexing."""
    library.scan()
    return sum(photo.state != FAILED for photo in library.pending())


def _cluster_json(cluster: Cluster) -> dict:
    return {"kind": cluster.kind, "keep": cluster.keep.path, "members": [photo.path for photo in cluster.members],
            "why": cluster.why, "keep_reason": cluster.keep_reason,
            "exact_copies": [[photo.path for photo in group] for group in cluster.exact_copies]}


def _print_clusters(clusters: list[Cluster]) -> None:
    """One header per cluster (kind: why; keep: why that one), then its members, the kept one marked `keep`.
    Members that are the very same file share a mark, `[identical file A]` (B for a second set): within a near
    cluster, those are the copies whose trashing loses nothing at all. (The app's cards use the same letters.)"""
    if not clusters:
        print("no duplicates found", file=sys.stderr)
    for cluster in clusters:
        print(f"{cluster.kind}: {cluster.why}; keep: {cluster.keep_reason}")
        letters = cluster.copy_letters()
        for photo in cluster.members:
            role = "keep" if photo.id == cluster.keep.id else "    "
            copy = f"  [identical file {letters[photo.id]}]" if photo.id in letters else ""
            print(f"  {role}  {photo.path}{copy}")
