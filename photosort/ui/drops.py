"""Accepting what a file manager drops: as a copy or a link, never a move. A file manager that honours a move
deletes the originals once the drop is accepted, and photosort only ever reads them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QDropEvent

SAFE_ACTIONS = (Qt.DropAction.CopyAction, Qt.DropAction.LinkAction)


def accept_without_moving(event: QDropEvent) -> bool:
    """Accept a drag or a drop as a copy (else a link); refuse one that can only be a move. Whether accepted."""
    action = next((action for action in SAFE_ACTIONS if event.possibleActions() & action), None)
    if action is None:
        event.ignore()
        return False
    event.setDropAction(action)
    event.accept()
    return True
