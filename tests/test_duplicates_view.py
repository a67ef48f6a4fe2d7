"""The duplicates view as a person reads it (which files are identical, why the kept one is kept), and the
session comparing photos while the rest of the app goes on using the library."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QStyle, QStyleOptionButton

from photosort.app.session import LibrarySession
from photosort.app.thumbnails import ThumbnailLoader
from photosort.core.catalog import Photo
from photosort.core.dupes import EXACT, NEAR, NEAR_WHY, SIMILAR, SIMILAR_WHY, Cluster
from photosort.ui import duplicates_view
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


def exact_cluster(number: int, root: Path, name: str = "photo.jpg") -> Cluster:
    members = [photo(10 * number + copy, root / f"copy {copy}" / name) for copy in range(2)]
    return Cluster(EXACT, members[0], members, "the same bytes", "the first", [members])


def test_trashed_photos_leave_their_clusters_and_the_list_stays_in_place(qtbot, view, tmp_path, monkeypatch):
    clusters = [exact_cluster(number, tmp_path) for number in range(4)]
    view.set_clusters(clusters)
    view.resize(700, 500)
    item = view.list.item(2)
    qtbot.mouseClick(view.list.viewport(), Qt.MouseButton.LeftButton, pos=view.list.visualItemRect(item).center())
    trashed = []
    view.trashRequested.connect(trashed.append)
    monkeypatch.setattr(duplicates_view, "ask", lambda *args, **kwargs: True)
    qtbot.mouseClick(view.trash_button, Qt.MouseButton.LeftButton)
    assert [cluster.keep.id for cluster in trashed[0]] == [clusters[2].keep.id]
    view.forget(frozenset({clusters[2].members[1].id}))  # the session's report: what went to the trash
    assert view.list.count() == 3 and view.list.currentRow() == 2  # the next cluster, not the first
    assert view.visible_clusters()[2] is clusters[3]
    # A photo trashed from the grid leaves its cluster too: no card says it "goes to the trash" any more.
    view.forget(frozenset({clusters[0].members[1].id}))
    assert view.list.count() == 2 and all(len(cluster.members) == 2 for cluster in view.visible_clusters())


def test_cluster_descriptions_wrap_in_a_narrow_list(qtbot, view, tmp_path):
    long_name = "a holiday photo with a very long name that a camera app wrote for it.jpg"
    view.set_clusters([exact_cluster(number, tmp_path, long_name) for number in range(3)])
    view.resize(640, 500)
    QApplication.processEvents()
    assert view.list.horizontalScrollBar().maximum() == 0  # nothing hidden to the side
    assert all(view.list.visualItemRect(view.list.item(row)).right() <= view.list.viewport().width()
               for row in range(view.list.count()))
