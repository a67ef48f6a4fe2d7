"""The command line's arguments: every command, and one line for a bad argument."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .. import __version__
from ..build_info import version_line
from .library import add_commands as add_library_commands
from .models import add_commands as add_model_commands
from .organize import add_commands as add_organize_commands


class OneLineErrorParser(argparse.ArgumentParser):
    """Bad arguments get one line, like every other error of the command line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"photosort: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="photosort", description="Offline photo organizer built on CLIP.",
                                epilog="With no command, photosort opens the desktop app.")
    parser.add_argument("--version", action="version", version=version_line(__version__))
    parser.add_argument("--library", metavar="DIR|URI",
                        help="the library folder (catalog, vectors, index, thumbnails), or a shared library's "
                             "PostgreSQL URI (postgresql://...); default: $PHOTOSORT_LIBRARY, else the user data "
                             "folder")
    parser.add_argument("--no-wait", action="store_true",
                        help="when another photosort is writing to the library, stop at once instead of waiting")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_library_commands(commands)
    add_organize_commands(commands)

    add_model_commands(commands)
    return parser
