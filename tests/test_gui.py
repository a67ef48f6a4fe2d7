"""The desktop app, driven as a person drives it (pytest-qt, Qt's offscreen platform): folders dropped on the
window, indexing to the end, searching as you type, labels and their tags, duplicates to the trash, the
first-run model dialog against a real local HTTP server, keyboard, layout memory and readable errors."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from photosort.app.session import IndexingState, View
from photosort.clip.registry import MODELS, ModelInfo
from photosort.ui import dialogs, duplicates_view, main_window
from photosort.ui.photo_grid import RowRole
from photosort.ui.preview import file_size
from tests.gui_helpers import (
    click_cell,
    close_app,
    drop_urls,
    library_with_tiny_model,
    open_app,
    wait_until_indexed,
)
from tests.http_server import FileServer, closed_port_url
from tests.library_helpers import TINY_MODEL, kind_of, run, tiny_world, trashed_names, write_photo


@pytest.fixture
def world(tmp_path):
    """64 photos of the tiny model's world: every colour and shape twice, named by what they show."""
    return tiny_world(tmp_path / "photos", per_kind=2)


@pytest.fixture
def indexed_app(qtbot, tmp_path, world):
    """The app over a library of the tiny world, indexed."""
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    window.add_folders([tmp_path / "photos"])
    wait_until_indexed(qtbot, window, len(world))
    yield session, window
    close_app(session, window)


def has_label(name: str):
    """For waitSignal: the labelsChanged that carries this label (the watcher's refreshes send others)."""
    return lambda labels: any(label.name == name for label in labels)


def grid_paths(window) -> list[str]:
    return [window.model.index(row).data(RowRole).path for row in range(window.model.rowCount())]


def test_dropping_a_folder_on_the_window_indexes_it_with_progress_to_the_end(qtbot, tmp_path, world):
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        assert window.pages.currentIndex() == main_window.WELCOME  # first run: what to do
        states = []
        session.indexing.connect(states.append)
        # A drag that could only move the photos is refused: a file manager would delete them once dropped.
        drop_urls(window, [tmp_path / "photos"], actions=Qt.DropAction.MoveAction, expect_accepted=False)
        drop = drop_urls(window, [tmp_path / "photos"])  # a move proposed: taken as a copy
        assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
        wait_until_indexed(qtbot, window, len(world))
        assert window.pages.currentIndex() == main_window.GRID
        progress = [state for state in states if state.phase == "indexing"]
        assert progress and progress[-1].done == progress[-1].total == len(world)
        assert progress[-1].rate > 0
        qtbot.waitUntil(lambda: window.indexing_status.label.text() == "64 photos · 64 indexed", timeout=10_000)
        window.indexing_status.show_state(IndexingState("idle"))  # a rescan that found nothing new
        assert window.indexing_status.label.text() == "64 photos · 64 indexed"
        # As wide as that, not as a progress line: the status bar's messages keep their room.
        label = window.indexing_status.label
        assert label.width() < label.fontMetrics().horizontalAdvance(main_window.BUSY_TEXT) / 2
        assert sorted(grid_paths(window)) == sorted(str(path) for path in world)
        assert [item.text() for item in map(window.folder_list.list.item, range(2))][1] == "photos"
    finally:
        close_app(session, window)


def test_typing_a_query_shows_the_right_photos_first(qtbot, indexed_app):
    session, window = indexed_app
    window.focus_search()
    assert window.search_bar.hasFocus()
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        qtbot.keyClicks(window.search_bar, "red circle")  # results come once typing pauses
    top = grid_paths(window)[:2]
    assert [kind_of(path) for path in top] == [("red", "circle")] * 2
    assert "matches for “red circle”" in window.results_label.text()
    # Weak results hide behind "show more"; asking for them adds them, marked weak.
    shown = window.model.rowCount()
    if window.more_button.isVisible():
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
        assert window.model.rowCount() > shown
    # Apostrophes are part of words, as people type them.
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.clear()
        qtbot.keyClicks(window.search_bar, "grandma's red circle")
    assert kind_of(grid_paths(window)[0])[0] == "red"
    # A query that cannot be read says why, in the results bar, and the last query's results leave the screen.
    assert window.model.rowCount() > 0
    with qtbot.waitSignal(session.searchFailed, timeout=30_000):
        window.search_bar.search_for("red circle after:2024-13-45")
    assert "YYYY-MM-DD" in window.results_label.text()
    assert window.model.rowCount() == 0 and window.preview.row is None
    # Filters alone list their photos, newest first; a label that does not exist says so.
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.search_for("folder:photos")
    assert window.model.rowCount() == 64
    assert [row.taken for row in window.model.rows] == sorted((row.taken for row in window.model.rows), reverse=True)
    with qtbot.waitSignal(session.searchFailed, timeout=30_000):
        window.search_bar.search_for("tag:holidays")
    assert "holidays" in window.results_label.text() and window.model.rowCount() == 0
    # Clearing the search goes back to browsing every photo.
    window.search_bar.clear()
    qtbot.waitUntil(lambda: window.model.rowCount() == 64 and not window.results_bar.isVisible())


def test_every_result_can_be_reached_page_by_page(qtbot, indexed_app, monkeypatch):
    session, window = indexed_app
    monkeypatch.setattr(main_window, "SEARCH_PAGE", 20)  # 64 photos: four pages
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.search_for("blue star")
    if window.more_button.isVisible():  # the weaker matches of the first page
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    assert window.model.rowCount() == 20 and "+ weaker" in window.results_label.text()  # more may follow
    pages = 1
    while window.next_button.isVisible():
        click_cell(qtbot, window, window.model.rowCount() - 1)  # the last photo of the page
        last = window.grid.current_row()
        with qtbot.waitSignal(session.searchDone, timeout=30_000):
            qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
        pages += 1
        assert window.grid.current_row().id == last.id  # the person stays where they were
    assert window.model.rowCount() == 64 and pages == 4


def test_more_like_this_from_a_photo_and_by_dropping_it_on_the_search_bar(qtbot, indexed_app, tmp_path):
    session, window = indexed_app
    example = tmp_path / "photos" / "blue-star-0.jpg"
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.more_like(str(example))
    assert grid_paths(window)[0] == str(example)  # its own stored vector: itself first
    assert kind_of(grid_paths(window)[1]) == ("blue", "star")
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        drop_urls(window.search_bar, [tmp_path / "photos" / "green-triangle-1.jpg"])
    assert window.search_bar.text().startswith("+")
    assert grid_paths(window)[0].endswith("green-triangle-1.jpg")


def test_a_new_label_tags_photos_and_a_rejected_suggestion_is_removed(qtbot, indexed_app, monkeypatch):
    session, window = indexed_app
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000, check_params_cb=has_label("reds")) as changed:
        window.label_list.saveRequested.emit("reds", ["red circles", "red squares", "red triangles", "red stars"],
                                             None)
    labels = {label.name: label.photos for label in changed.args[0]}
    assert labels["reds"] > 0
    # Filtering by the label (a click on it) shows the tagged photos, mostly red ones; the label is the one
    # choice highlighted in the sidebar, and the one Edit and Remove act on.
    item = window.label_list.list.item(0)
    assert item.text().startswith("reds")
    click_item(qtbot, window.label_list.list, item)
    qtbot.waitUntil(lambda: window.model.rowCount() == labels["reds"], timeout=10_000)
    assert window.label_list.edit_button.isEnabled() and window.label_list.remove_button.isEnabled()
    assert window.folder_list.list.selectedItems() == []
    tagged = grid_paths(window)
    assert sum(kind_of(path)[0] == "red" for path in tagged) >= 0.6 * len(tagged)
    # Accepting a suggestion (one click) keeps the photo chosen, and shown.
    click_cell(qtbot, window, 1)
    chosen = window.grid.current_row()
    qtbot.waitUntil(lambda: _tag_button(window, "accept reds") is not None, timeout=10_000)
    with qtbot.waitSignal(session.photoDetails, timeout=10_000):
        qtbot.mouseClick(_tag_button(window, "accept reds"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _tag_button(window, "accept reds") is None, timeout=10_000)  # now the person's tag
    assert window.grid.current_row().id == chosen.id and window.preview.row.id == chosen.id
    # Rejecting one: the label learns at once, and the photo leaves the label's view.
    click_cell(qtbot, window, 0)
    qtbot.waitUntil(lambda: _tag_button(window, "reject reds") is not None, timeout=10_000)
    rejected = window.grid.current_row().path
    with qtbot.waitSignal(session.photoDetails, timeout=10_000) as details:
        qtbot.mouseClick(_tag_button(window, "reject reds"), Qt.MouseButton.LeftButton)
    assert "reds" not in [tag.label for tag in details.args[0].tags]
    qtbot.waitUntil(lambda: rejected not in grid_paths(window), timeout=10_000)
    # A second click on the label: every photo again, "All photos" highlighted, nothing for Edit to act on.
    click_item(qtbot, window.label_list.list, window.label_list.list.item(0))
    qtbot.waitUntil(lambda: window.model.rowCount() == 64, timeout=10_000)
    assert [item.text() for item in window.folder_list.list.selectedItems()] == ["All photos"]
    assert not window.label_list.edit_button.isEnabled()


def click_item(qtbot, widget, item) -> None:
    """Click a list's item where it is painted."""
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     widget.visualItemRect(item).center())


def _tag_button(window, name: str):
    from PySide6.QtWidgets import QToolButton

    return next((button for button in window.preview.findChildren(QToolButton) if button.accessibleName() == name),
                None)


def test_a_duplicate_cluster_goes_to_the_trash_but_its_keeper(qtbot, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    original = write_photo(photos / "original.png", "red", "star", 2, seed=3)
    shutil.copyfile(original, photos / "copy of original.png")
    write_photo(photos / "other.png", "blue", "circle", 1, seed=4)
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        window.add_folders([photos])
        wait_until_indexed(qtbot, window, 3)
        with qtbot.waitSignal(session.searchDone, timeout=30_000):
            window.search_bar.search_for("red star")
        with qtbot.waitSignal(session.duplicatesFound, timeout=60_000):  # one click finds them
            qtbot.mouseClick(window.folder_list.duplicates_button, Qt.MouseButton.LeftButton)
        assert window.pages.currentIndex() == main_window.DUPLICATES
        clusters = window.duplicates.visible_clusters()
        assert len(clusters) == 1 and clusters[0].kind == "exact"
        keeper = clusters[0].keep.path
        asked = []
        monkeypatch.setattr(duplicates_view, "ask", lambda parent, title, text, **_: asked.append(text) or True)
        with qtbot.waitSignal(session.trashed, timeout=30_000) as trashed:
            qtbot.mouseClick(window.duplicates.trash_button, Qt.MouseButton.LeftButton)
        doomed = next(photo for photo in clusters[0].members if photo.path != keeper)
        assert f"Move 1 file ({file_size(doomed.size)})" in asked[0]  # how many files, how much space
        assert len(trashed.args[0].moved) == 1
        assert window.duplicates.list.count() == 0  # the cluster is resolved: it leaves the list
        # The watcher's pass after the trash runs the search on the grid again, leaving this page where it is.
        with qtbot.waitSignal(session.indexed, timeout=60_000):
            pass
        assert window.pages.currentIndex() == main_window.DUPLICATES
        # A click on the folder already chosen goes back to the photos.
        all_photos = window.folder_list.list.item(0)
        qtbot.mouseClick(window.folder_list.list.viewport(), Qt.MouseButton.LeftButton,
                         pos=window.folder_list.list.visualItemRect(all_photos).center())
        assert window.pages.currentIndex() == main_window.GRID
        assert Path(keeper).exists()
        assert len(list((photos).iterdir())) == 2
        assert Path(doomed.path).name in trashed_names()  # in the trash, not deleted
        window.search_bar.clear()
        qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=10_000)
    finally:
        close_app(session, window)


def test_choosing_another_keeper_and_reference_folders_are_respected(qtbot, tmp_path, monkeypatch):
    reference, working = tmp_path / "reference", tmp_path / "working"
    original = write_photo(reference / "a.png", "green", "square", 1, seed=8)
    working.mkdir()
    shutil.copyfile(original, working / "a copy.png")
    shutil.copyfile(original, working / "another copy.png")
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        window.add_folders([reference, working])
        wait_until_indexed(qtbot, window, 3)
        session.set_reference(reference, True)
        qtbot.waitUntil(lambda: "(reference)" in window.folder_list.list.item(1).text(), timeout=10_000)
        with qtbot.waitSignal(session.duplicatesFound, timeout=60_000):
            window.duplicates.find_button.click()
        cluster = window.duplicates.visible_clusters()[0]
        assert cluster.keep.path == str(reference / "a.png")  # a reference copy is kept first
        other = next(photo for photo in cluster.members if photo.path.endswith("another copy.png"))
        window.duplicates.group.button(other.id).click()  # the person keeps another one
        cluster = window.duplicates.visible_clusters()[0]
        assert cluster.keep.id == other.id and cluster.keep_reason == "your choice"
        monkeypatch.setattr(duplicates_view, "ask", lambda *args, **kwargs: True)
        with qtbot.waitSignal(session.trashed, timeout=30_000) as trashed:
            window.duplicates.trash_button.click()
        assert len(trashed.args[0].moved) == 1  # "a copy"; the reference photo stays, protected
        assert (reference / "a.png").exists() and (working / "another copy.png").exists()
        assert not (working / "a copy.png").exists()
    finally:
        close_app(session, window)


def served_model(url: str) -> ModelInfo:
    content = TINY_MODEL.read_bytes()
    return ModelInfo(name="served-shapes", url=url, filename="served-shapes.pt", activation="quick_gelu",
                     sha256=hashlib.sha256(content).hexdigest(), imagenet_top1=None, description="a test model",
                     size_mb=round(len(content) / 1e6))


def test_first_run_model_dialog_downloads_with_progress_cancel_and_resume(qtbot, tmp_path, isolated_data_dir):
    content = TINY_MODEL.read_bytes()
    with FileServer(content, pace_s=0.01) as server:
        session, window = open_app(qtbot, tmp_path, recommended=served_model(server.url))
        try:
            qtbot.waitUntil(lambda: window.model_dialog is not None and window.model_dialog.isVisible())
            dialog = window.model_dialog
            assert "Recommended: served-shapes" in dialog.findChildren(type(dialog.status))[1].text()
            progress = []
            window.models.downloadProgress.connect(lambda done, total: progress.append((done, total)))
            dialog.download_button.click()
            qtbot.waitUntil(lambda: bool(progress) and progress[-1][0] > 0, timeout=20_000)
            assert dialog.cancel_button.isVisible()
            with qtbot.waitSignal(window.models.downloadCancelled, timeout=20_000):
                dialog.cancel_button.click()
            assert dialog.download_button.text() == "Resume download"
            kept = isolated_data_dir / "models" / "served-shapes.pt.part"
            assert 0 < kept.stat().st_size < len(content)
            dialog.download_button.click()
            qtbot.waitUntil(lambda: session.model_name == "served-shapes", timeout=60_000)  # the library's model
            assert not dialog.isVisible()
            assert server.ranges[-1] is not None and server.ranges[-1].startswith("bytes=")  # resumed, not restarted
            assert (isolated_data_dir / "models" / "served-shapes.pt").read_bytes() == content
            assert session.model_name == "served-shapes"
            assert progress[-1] == (len(content), len(content))
        finally:
            close_app(session, window)


def test_first_run_offline_says_so_and_the_demo_model_still_works(qtbot, tmp_path, world):
    session, window = open_app(qtbot, tmp_path, recommended=served_model(closed_port_url()))
    try:
        window.add_folders([tmp_path / "photos"])  # before any model: the dialog comes first
        qtbot.waitUntil(lambda: window.model_dialog is not None and window.model_dialog.isVisible())
        dialog = window.model_dialog
        with qtbot.waitSignal(window.models.downloadFailed, timeout=30_000):
            dialog.download_button.click()
        assert "offline" in dialog.status.text()
        dialog.demo_button.click()
        wait_until_indexed(qtbot, window, len(world))  # the folder dropped earlier is indexed with it
        assert session.model_name == "tiny-shapes"
    finally:
        close_app(session, window)


def test_keyboard_space_views_delete_trashes_after_asking(qtbot, indexed_app, tmp_path, monkeypatch):
    session, window = indexed_app
    click_cell(qtbot, window, 0)
    first = window.grid.current_row()
    qtbot.keyClick(window.grid, Qt.Key.Key_Right)
    assert window.grid.current_row().id != first.id  # arrows move through the grid
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    assert window.viewer.isVisible() and window.viewer.isFullScreen()
    assert window.viewer.row.id == window.grid.current_row().id
    qtbot.waitUntil(lambda: window.viewer.full is not None, timeout=10_000)
    qtbot.keyClick(window.viewer, Qt.Key.Key_Escape)
    assert not window.viewer.isVisible()
    # In search results: the photo clicked is the one asked about, and once trashed it leaves the results.
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.search_for("white star")
    if window.more_button.isVisible():
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    click_cell(qtbot, window, 1)
    target, following = window.grid.current_row(), window.model.rows[2]
    questions = []
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: questions.append(text) or False)
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    assert questions and Path(target.path).name in questions[0] and Path(target.path).exists()  # "no": kept
    assert str(Path(target.path).parent) in questions[0] and "restore it" in questions[0]
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: True)
    with qtbot.waitSignal(session.trashed, timeout=30_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    assert not Path(target.path).exists() and Path(target.path).name in trashed_names()
    assert target.path not in grid_paths(window)
    assert window.grid.current_row().id == following.id and window.preview.row.id == following.id
    assert [row.id for row in window.grid.selected_rows()] == [following.id]
    assert window.statusBar().currentMessage().startswith("Moved 1 file (")
    with qtbot.waitSignal(session.photosChanged, timeout=10_000):  # back to browsing every photo
        window.search_bar.clear()
    assert window.model.rowCount() == 63
    # In the grid too: the photo that takes the trashed one's place is the one chosen, for the next Delete.
    click_cell(qtbot, window, 5)
    target, following = window.grid.current_row(), window.model.rows[6]
    with qtbot.waitSignal(session.trashed, timeout=30_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: window.model.rowCount() == 62, timeout=10_000)
    assert window.grid.current_row().id == following.id and window.preview.row.id == following.id
    assert [row.id for row in window.grid.selected_rows()] == [following.id]


def test_new_photos_appear_without_a_restart_and_unreadable_ones_are_reported(qtbot, tmp_path, world):
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        window.add_folders([tmp_path / "photos"])
        wait_until_indexed(qtbot, window, len(world))
        write_photo(tmp_path / "photos" / "late-arrival.png", "yellow", "star", 1, seed=11)
        (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
        qtbot.waitUntil(lambda: any(path.endswith("late-arrival.png") for path in grid_paths(window)),
                        timeout=60_000)
        qtbot.waitUntil(lambda: window.indexing_status.failures_button.isVisible(), timeout=60_000)
        assert window.indexing_status.failures_button.text() == "1 could not be read"
        with qtbot.waitSignal(session.failures, timeout=10_000) as failures:
            window.indexing_status.failures_button.click()
        (path, reason), = failures.args[0]
        assert path.endswith("broken.jpg") and reason and "Traceback" not in reason
    finally:
        close_app(session, window)
    # The library's totals, not the last pass's, and the same after a restart.
    session, window = open_app(qtbot, tmp_path, library)
    try:
        qtbot.waitUntil(lambda: window.indexing_status.label.text() == "66 photos · 65 indexed · 1 unreadable",
                        timeout=30_000)
        assert window.indexing_status.failures_button.text() == "1 could not be read"
    finally:
        close_app(session, window)


def test_pause_and_resume_indexing(qtbot, tmp_path, world):
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        session.pause()
        window.add_folders([tmp_path / "photos"])
        qtbot.waitUntil(lambda: window.indexing_status.state.phase in ("loading the model", "indexing"),
                        timeout=30_000)
        label = window.indexing_status.label.text()
        assert label.startswith("paused · ") and "photos/s" not in label and "left" not in label  # nothing moves
        assert window.indexing_status.state.done == 0 and window.indexing_status.pause_button.text() == "Resume"
        window.indexing_status.pause_button.click()
        wait_until_indexed(qtbot, window, len(world))
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        QTest.keyClick(window.windowHandle(), Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)  # as typed
        assert not window.isVisible()  # Ctrl+Q quits
    finally:
        close_app(session, window)


def test_folders_can_be_removed_and_offline_ones_are_marked(qtbot, indexed_app, tmp_path):
    session, window = indexed_app
    (tmp_path / "photos").rename(tmp_path / "unplugged")
    with qtbot.waitSignal(session.indexed, timeout=30_000):
        session.rescan()
    qtbot.waitUntil(lambda: "offline" in window.folder_list.list.item(1).text(), timeout=10_000)
    assert window.model.rowCount() == 64  # its photos are kept, shown from their thumbnails
    with qtbot.waitSignal(session.foldersChanged, timeout=10_000):
        session.remove_folder(tmp_path / "photos")
    qtbot.waitUntil(lambda: window.model.rowCount() == 0 and window.pages.currentIndex() == main_window.WELCOME,
                    timeout=10_000)


def choose_in_settings(qtbot, window, model: str) -> None:
    """Open Settings as a person does, pick `model` in its list and press OK."""
    def pick() -> None:
        dialog = next(widget for widget in QApplication.topLevelWidgets()
                      if isinstance(widget, dialogs.SettingsDialog) and widget.isVisible())
        dialog.model_box.setCurrentIndex(dialog.model_box.findData(model))
        qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, pick)
    window.open_settings()


def test_window_size_and_layout_are_remembered(qtbot, tmp_path):
    session, window = open_app(qtbot, tmp_path)
    window.resize(1100, 700)
    window.splitter.setSizes([300, 580, 220])
    sizes = window.splitter.sizes()
    window.order_box.setCurrentIndex(1)
    close_app(session, window)
    session, window = open_app(qtbot, tmp_path)
    try:
        assert (window.width(), window.height()) == (1100, 700)
        assert window.splitter.sizes() == sizes
        assert window.order_box.currentData() == "name"
        assert window.windowTitle() == "photosort" and not window.windowIcon().isNull()
        window.resize(700, 600)  # half a small laptop's screen
        assert window.width() <= 720
    finally:
        close_app(session, window)


def test_settings_dialog_shows_models_with_quality_and_detected_devices(qtbot, tmp_path):
    session, window = open_app(qtbot, tmp_path)
    try:
        dialog = dialogs.SettingsDialog("ViT-B/32", "auto", [], window.models, window)
        qtbot.addWidget(dialog)
        assert dialog.model() == "ViT-B/32"
        assert "63.3%" in dialog.model_facts.text() and "354 MB download" in dialog.model_facts.text()
        qtbot.waitUntil(lambda: "cpu:" in dialog.detected.text(), timeout=60_000)
        assert "cores" in dialog.detected.text()
        # A library on the bundled model's file: that model is the one shown, so OK changes nothing.
        bundled = dialogs.SettingsDialog(str(TINY_MODEL), "cpu", [], window.models, window)
        qtbot.addWidget(bundled)
        assert bundled.model() == str(TINY_MODEL) and bundled.device() == "cpu"
        assert "coloured shapes" in bundled.model_facts.text()
    finally:
        close_app(session, window)


def test_importing_a_model_file_and_a_file_that_is_no_model(qtbot, tmp_path, monkeypatch, small_vit_file):
    session, window = open_app(qtbot, tmp_path, recommended=served_model(closed_port_url()))
    try:
        qtbot.waitUntil(lambda: window.model_dialog is not None and window.model_dialog.isVisible())
        dialog = window.model_dialog
        not_a_model = tmp_path / "holiday.pt"
        not_a_model.write_bytes(b"these are not weights")
        picked = iter([str(not_a_model), str(small_vit_file)])
        monkeypatch.setattr(dialogs.QFileDialog, "getOpenFileName", lambda *args, **kwargs: (next(picked), ""))
        with qtbot.waitSignal(window.models.importFailed, timeout=60_000):
            dialog.import_button.click()
        assert "cannot be used" in dialog.status.text() and "holiday.pt" in dialog.status.text()
        assert "Traceback" not in dialog.status.text() and dialog.isVisible()
        assert "not a model file" in dialog.status.text() and "Error" not in dialog.status.text()
        dialog.import_button.click()
        qtbot.waitUntil(lambda: session.model_name == "small-vit", timeout=60_000)
    finally:
        close_app(session, window)


def test_labels_can_be_renamed_reprompted_accepted_and_removed(qtbot, indexed_app):
    session, window = indexed_app
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000, check_params_cb=has_label("blue things")):
        window.label_list.saveRequested.emit("blue things", ["blue circles", "blue stars"], None)
    click_item(qtbot, window.label_list.list, window.label_list.list.item(0))  # its photos
    qtbot.waitUntil(lambda: window.session.view.tag == "blue things" and window.model.rowCount() > 0)
    click_cell(qtbot, window, 0)
    qtbot.waitUntil(lambda: _tag_button(window, "reject blue things") is not None, timeout=10_000)
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000, check_params_cb=has_label("blues")) as renamed:
        window.label_list.saveRequested.emit("blues", ["blue squares", "blue triangles"], "blue things")
    (state,) = renamed.args[0]
    assert state.name == "blues" and state.prompts == ["blue squares", "blue triangles"]
    # Renamed in place: the label's view goes on under its new name, and the photo's tags say it.
    assert session.view.tag == "blues" and window.label_list.current_label() == "blues"
    qtbot.waitUntil(lambda: _tag_button(window, "reject blue things") is None, timeout=10_000)
    click_item(qtbot, window.label_list.list, window.label_list.list.item(0))  # back to all photos
    qtbot.waitUntil(lambda: session.view.tag is None and window.model.rowCount() == 64, timeout=10_000)
    # Accepting a photo the label did not suggest makes it the user's own tag.
    untagged = next(row for row in window.model.rows if kind_of(row.path) == ("white", "star"))
    with qtbot.waitSignal(session.photoDetails, timeout=10_000) as details:
        session.judge("blues", untagged.id, untagged.path, True)
    assert [(tag.label, tag.suggested) for tag in details.args[0].tags] == [("blues", False)]
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000) as retagged:
        qtbot.mouseClick(window.label_list.retag_button, Qt.MouseButton.LeftButton)
        assert window.label_list.retag_button.text() == "Tagging…"  # seen to be at work
        assert not window.label_list.retag_button.isEnabled()
    assert retagged.args[0][0].photos >= 1
    assert window.label_list.retag_button.text() == "Tag photos"
    assert window.statusBar().currentMessage().startswith("Every photo tagged again: blues")
    with qtbot.waitSignal(session.labelsChanged, timeout=10_000, check_params_cb=lambda labels: not labels):
        session.remove_label("blues")
    assert window.label_list.labels == {}


def test_sorting_by_name_and_a_folder_of_its_own(qtbot, indexed_app, tmp_path):
    session, window = indexed_app
    window.order_box.setCurrentIndex(window.order_box.findData("name"))
    qtbot.waitUntil(lambda: grid_paths(window) == sorted(grid_paths(window), key=str.lower), timeout=10_000)
    assert grid_paths(window)[0].endswith("black-circle-0.jpg")
    # A search with a folder chosen in the sidebar searches that folder, and says so.
    more = tmp_path / "more"
    more.mkdir()
    for name in ("red-circle-0.jpg", "blue-star-0.jpg", "green-square-1.jpg"):
        shutil.copyfile(tmp_path / "photos" / name, more / f"copy of {name}")
    window.add_folders([more])
    wait_until_indexed(qtbot, window, 67)
    qtbot.waitUntil(lambda: window.folder_list.list.count() == 3, timeout=10_000)
    folder_item = next(window.folder_list.list.item(row) for row in range(3)
                       if window.folder_list.list.item(row).text() == "more")
    click_item(qtbot, window.folder_list.list, folder_item)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10_000)
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.search_for("red circle")
    if window.more_button.isVisible():
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    assert sorted(Path(path).name for path in grid_paths(window)) == sorted(path.name for path in more.iterdir())
    assert "in more" in window.results_label.text()


def test_an_older_browse_that_finishes_last_never_replaces_the_newer_view(qtbot, indexed_app, tmp_path, monkeypatch):
    """Browses run on several threads; one asked for earlier can finish later. The grid shows the newest."""
    session, window = indexed_app
    library = session.library
    browse = library.browse
    older_started, newer_shown, older_done = threading.Event(), threading.Event(), threading.Event()

    def out_of_order(order, folder=None, tag=None, ids=None):
        if folder is None:  # the older browse finishes once the newer one is on screen
            older_started.set()
            newer_shown.wait(10)
            rows = browse(order, folder, tag, ids)
            older_done.set()
            return rows
        return browse(order, folder, tag, ids)

    # Let the two browses overlap: the library's lock would otherwise make them take turns.
    monkeypatch.setattr(library, "lock", contextlib.nullcontext())
    monkeypatch.setattr(library, "browse", out_of_order)
    delivered = []
    session.photosChanged.connect(lambda rows: (delivered.append(rows), newer_shown.set()))
    session.show(View(folder=None))
    qtbot.waitUntil(older_started.is_set, timeout=20_000)  # under way: a newer browse cannot skip it now
    session.show(View(folder=tmp_path / "photos" / "nowhere"))
    qtbot.waitUntil(older_done.is_set, timeout=20_000)
    # Its outcome, had it been kept, is on its way once no job is running: let it arrive.
    qtbot.waitUntil(lambda: session._pool.activeThreadCount() == 0, timeout=20_000)
    QApplication.processEvents()
    assert delivered == [[]]
    assert window.model.rowCount() == 0


def test_changing_the_model_indexes_the_library_again(qtbot, indexed_app, small_vit_file, isolated_data_dir,
                                                      monkeypatch):
    session, window = indexed_app
    # Offline, a model not on this computer: its size said before asking, and the library keeps its model.
    offline_model = served_model(closed_port_url())
    monkeypatch.setitem(MODELS, offline_model.name, offline_model)
    questions = []
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: questions.append(text) or True)
    with qtbot.waitSignal(window.models.downloadFailed, timeout=30_000):
        choose_in_settings(qtbot, window, offline_model.name)
    assert f"Download it ({offline_model.size_mb} MB" in questions[0]
    assert session.model_name == str(TINY_MODEL)
    assert "could not be downloaded" in window._error_box.text()
    assert window.width() <= window.screen().availableGeometry().width()  # the long message wraps
    with qtbot.waitSignal(session.searchDone, timeout=30_000):
        window.search_bar.search_for("red circle")  # search goes on with the model it has
    with qtbot.waitSignal(session.indexed, timeout=120_000, check_params_cb=lambda state: state.total == 64):
        session.use_model(str(small_vit_file))
    assert session.model_name == str(small_vit_file)
    with qtbot.waitSignal(session.searchDone, timeout=30_000) as found:
        session.search("anything at all")
    assert len(found.args[1]) > 0  # searchable with the new model's vectors


def test_open_and_show_in_folder_say_so_when_nothing_answers(qtbot, tmp_path, monkeypatch):
    photo = write_photo(tmp_path / "photos" / "beach.png", "blue", "square", 1, seed=2)
    session, window = open_app(qtbot, tmp_path, library_with_tiny_model(tmp_path / "library"))
    try:
        window.add_folders([photo.parent])
        wait_until_indexed(qtbot, window, 1)
        click_cell(qtbot, window, 0)
        monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # no viewer, no file manager, no xdg-open
        qtbot.mouseClick(window.preview.open_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "No app on this computer opened beach.png" in window.statusBar().currentMessage(),
                        timeout=20_000)
        qtbot.mouseClick(window.preview.reveal_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "No file manager answered" in window.statusBar().currentMessage(), timeout=20_000)
        assert str(photo.parent) in window.statusBar().currentMessage()
    finally:
        close_app(session, window)


def test_settings_stay_inside_a_data_folder_set_apart(isolated_data_dir, monkeypatch, qtbot):
    from photosort.app.settings import AppSettings

    settings = AppSettings()
    settings.order = "name"
    settings.sync()
    assert Path(settings.location).is_relative_to(isolated_data_dir)  # not the user's ~/.config
    assert AppSettings().order == "name"


def test_tab_leaves_the_looks_like_box(qtbot):
    from photosort.ui.sidebar import LabelDialog

    dialog = LabelDialog(None, set())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    dialog.prompts_edit.setFocus()
    qtbot.keyClicks(dialog.prompts_edit, "a sandy beach")
    qtbot.keyClick(dialog.prompts_edit, Qt.Key.Key_Tab)
    assert not dialog.prompts_edit.hasFocus() and dialog.prompts_edit.toPlainText() == "a sandy beach"


def test_the_first_search_after_opening_does_not_wait_for_the_model_process(qtbot, tmp_path, world):
    """A library indexed before the app opens: nothing to encode, so no model process starts, and a text
    search answers from the text tower read in the app's own process (torch-free: see test_layering)."""
    library = tmp_path / "library"
    indexed = run(library, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL))
    assert indexed.returncode == 0, indexed.stderr
    session, window = open_app(qtbot, tmp_path, library)
    try:
        qtbot.waitUntil(lambda: session.last_pass is not None, timeout=60_000)  # the scan found nothing new
        with qtbot.waitSignal(session.searchDone, timeout=30_000) as answered:
            window.search_bar.search_for("red circle")
        hits = answered.args[1]
        assert hits and kind_of(hits[0].row.path) == ("red", "circle")
        assert session._encoder is None  # the model's process was never started
    finally:
        close_app(session, window)
