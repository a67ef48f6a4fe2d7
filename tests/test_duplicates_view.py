"""The duplicates view as a person reads it (which files are identical, why the kept one is kept), and the
session comparing photos while the rest of the app goes on using the library."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStyle, QStyleOptionButton

from photosort.app.session import LibrarySession
from photosort.app.thumbnails import ThumbnailLoader
from photosort.core.catalog import Photo
from photosort.core.dupes import NEAR, NEAR_WHY, SIMILAR, SIMILAR_WHY, Cluster
from photosort.ui.duplicates_view import KIND_WORDS, DuplicatesView, MemberCard


def photo(number: int, path, width: int = 4000, height: int = 3000, size: int = 2_000_000) -> Photo:
    """A catalog row of a file that need not exist: the cards show what the library knows of it."""
    return Photo(number, str(path), 1, size, 0, f"print{number}", width, height, None, "ok", None)


def shown_text(widget) -> str:
    """The words a person sees in a widget: its visible labels, markup left out."""
    labels = [widget] if isinstance(widget, QLabel) else widget.findChildren(QLabel)
    return "\n".join(re.sub(r"<[^>]+>", "", label.text()) for label in labels if label.isVisible())


def cards(view: DuplicatesView, root: Path) -> dict[str, MemberCard]:
    """The cards on show, by their file's path under `root`."""
    return {Path(card.photo.path).relative_to(root).as_posix(): card
            for card in view.cards_area.widget().findChildren(MemberCard)}


def click_radio(qtbot, button) -> None:
    """Click a radio button on its round indicator, where it is painted."""
    option = QStyleOptionButton()
    button.initStyleOption(option)
    indicator = button.style().subElementRect(QStyle.SubElement.SE_RadioButtonIndicator, option, button)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=indicator.center())


@pytest.fixture
def view(qtbot):
    loader = ThumbnailLoader()
    shown = DuplicatesView(loader)
    qtbot.addWidget(shown)
    shown.resize(1200, 700)
    shown.show()
    yield shown
    loader.shutdown()


def test_identical_files_of_a_near_cluster_are_marked_and_the_keeper_says_why(qtbot, view, tmp_path):
    original = photo(1, tmp_path / "rocket.jpg")
    backup = photo(2, tmp_path / "backup" / "rocket.jpg")  # the same file, byte for byte
    small = photo(3, tmp_path / "small.jpg", 2000, 1500, 500_000)  # the same photograph, resized
    view.set_clusters([Cluster(NEAR, original, [original, backup, small], NEAR_WHY,
                               "highest resolution (4000x3000)", [[original, backup]])])

    assert KIND_WORDS[NEAR] in shown_text(view.header) and NEAR_WHY in shown_text(view.header)
    assert "3 photos (2 identical)" in view.list.item(0).text()
    shown = cards(view, tmp_path)
    assert "Kept: highest resolution (4000x3000)" in shown_text(shown["rocket.jpg"])
    # Only the two files that are byte for byte the same say so, with the letter they share.
    identical = {name for name, card in shown.items() if "Identical file A (2 copies)" in shown_text(card)}
    assert identical == {"rocket.jpg", "backup/rocket.jpg"}
    assert "Identical" not in shown_text(shown["small.jpg"]) and "goes to the trash" in shown_text(shown["small.jpg"])

    click_radio(qtbot, shown["small.jpg"].keep)  # the person keeps the small one after all
    shown = cards(view, tmp_path)
    assert view.visible_clusters()[0].keep.id == small.id
    assert "Kept: your choice" in shown_text(shown["small.jpg"])
    assert "Identical file A (2 copies)" in shown_text(shown["rocket.jpg"])  # still the same files
    assert "goes to the trash" in shown_text(shown["rocket.jpg"])


def test_similar_pictures_are_offered_not_said_to_go_to_the_trash(qtbot, view, tmp_path):
    """A black-and-white edit is another picture: its card says it stays unless the person moves it."""
    original, edit = photo(1, tmp_path / "cat.jpg"), photo(2, tmp_path / "cat-bw.jpg", size=1_000_000)
    view.set_clusters([Cluster(SIMILAR, original, [original, edit], SIMILAR_WHY, "largest file")])
    shown = cards(view, tmp_path)
    assert KIND_WORDS[SIMILAR] in shown_text(view.header)
    assert "moved only if you choose" in shown_text(shown["cat-bw.jpg"])
    assert "trash" not in shown_text(shown["cat-bw.jpg"])


def test_finding_duplicates_leaves_the_library_to_browsing_meanwhile(qtbot, tmp_path, monkeypatch):
    """Comparing a big library takes a minute: the photo list must not wait for it."""
    session = LibrarySession(tmp_path / "library", watch=False)
    with qtbot.waitSignal(session.opened, timeout=30_000):
        session.open()
    comparing, finish = threading.Event(), threading.Event()

    def slow_duplicates(reference=(), on_progress=None):
        comparing.set()
        finish.wait(30)  # still comparing, until the test has browsed
        return []

    monkeypatch.setattr(session.library, "duplicates", slow_duplicates)
    try:
        session.find_duplicates()
        assert comparing.wait(10)
        with qtbot.waitSignal(session.photosChanged, timeout=5_000):
            session.refresh_photos()  # takes the library's lock: answered while the comparison runs
        with qtbot.waitSignal(session.duplicatesFound, timeout=10_000) as found:
            finish.set()
        assert found.args == [[]]
    finally:
        finish.set()
        session.close()
