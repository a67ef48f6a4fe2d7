"""The desktop app, driven as a person drives it (pytest-qt, Qt's offscreen platform): folders dropped on the
window, indexing to the end, searching as you type, labels and their tags, duplicates to the trash, the
first-run model dialog against a real local HTTP server, keyboard, layout memory and readable errors."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from photosort.app.session import IndexingState, View
from photosort.clip.registry import ModelInfo
from photosort.ui import dialogs, duplicates_view, main_window
from photosort.ui.photo_grid import RowRole
from photosort.ui.preview import file_size
from tests.gui_helpers import close_app, drop_urls, library_with_tiny_model, open_app, wait_until_indexed
from tests.http_server import FileServer, closed_port_url
from tests.library_helpers import TINY_MODEL, kind_of, tiny_world, trashed_names, write_photo


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
        drop = drop_urls(window, [tmp_path / "photos"])
        assert drop.isAccepted()
        wait_until_indexed(qtbot, window, len(world))
        assert window.pages.currentIndex() == main_window.GRID
        progress = [state for state in states if state.phase == "indexing"]
        assert progress and progress[-1].done == progress[-1].total == len(world)
        assert progress[-1].rate > 0
        assert "indexed 64 photos" in window.indexing_status.label.text()
        window.indexing_status.show_state(IndexingState("idle"))  # a rescan that found nothing new
        assert "indexed 64 photos" in window.indexing_status.label.text()
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
    # A query that cannot be read says why, in the results bar.
    with qtbot.waitSignal(session.searchFailed, timeout=30_000):
        window.search_bar.search_for('"red circle')
    assert "quote" in window.results_label.text()
    # Clearing the search goes back to browsing every photo.
    window.search_bar.clear()
    qtbot.waitUntil(lambda: window.model.rowCount() == 64 and not window.results_bar.isVisible())


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
    item = window.label_list.list.item(0)
    assert item.text().startswith("reds")
    # Filtering by the label shows the tagged photos, mostly red ones.
    window.label_list._clicked(item)
    qtbot.waitUntil(lambda: window.model.rowCount() == labels["reds"], timeout=10_000)
    tagged = grid_paths(window)
    assert sum(kind_of(path)[0] == "red" for path in tagged) >= 0.6 * len(tagged)
    # The preview lists the suggestion; one click rejects it, and the label learns at once.
    window.grid.setCurrentIndex(window.model.index(0))
    qtbot.waitUntil(lambda: window.preview.tags_box.count() > 0 and
                    window.preview.findChild(QPushButton) is not None, timeout=10_000)
    qtbot.waitUntil(lambda: _tag_button(window, "reject reds") is not None, timeout=10_000)
    rejected = window.grid.current_row().path
    with qtbot.waitSignal(session.photoDetails, timeout=10_000) as details:
        qtbot.mouseClick(_tag_button(window, "reject reds"), Qt.MouseButton.LeftButton)
    assert "reds" not in [tag.label for tag in details.args[0].tags]
    qtbot.waitUntil(lambda: rejected not in grid_paths(window), timeout=10_000)


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
        window.show_duplicates()
        with qtbot.waitSignal(session.duplicatesFound, timeout=60_000):
            qtbot.mouseClick(window.duplicates.find_button, Qt.MouseButton.LeftButton)
        clusters = window.duplicates.visible_clusters()
        assert len(clusters) == 1 and clusters[0].kind == "exact"
        keeper = clusters[0].keep.path
        asked = []
        monkeypatch.setattr(duplicates_view, "ask", lambda parent, title, text, **_: asked.append(text) or True)
        with qtbot.waitSignal(session.trashed, timeout=30_000) as trashed:
            qtbot.mouseClick(window.duplicates.trash_button, Qt.MouseButton.LeftButton)
        doomed = next(photo for photo in clusters[0].members if photo.path != keeper)
        assert f"Move 1 file ({file_size(doomed.size)})" in asked[0]  # how many files, how much space
        assert trashed.args[0].moved == 1
        assert Path(keeper).exists()
        assert len(list((photos).iterdir())) == 2
        assert Path(doomed.path).name in trashed_names()  # in the trash, not deleted
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
        assert trashed.args[0].moved == 1  # "a copy"; the reference photo stays, protected
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
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(0))
    first = window.grid.current_row()
    qtbot.keyClick(window.grid, Qt.Key.Key_Right)
    assert window.grid.current_row().id != first.id  # arrows move through the grid
    qtbot.keyClick(window.grid, Qt.Key.Key_Space)
    assert window.viewer.isVisible() and window.viewer.row.id == window.grid.current_row().id
    qtbot.waitUntil(lambda: window.viewer.full is not None, timeout=10_000)
    window.viewer.close()
    target = window.grid.current_row()
    window.grid.selectionModel().clear()
    window.grid.setCurrentIndex(window.model.index(window.model.row_of(target.id)))
    questions = []
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: questions.append(text) or False)
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    assert questions and Path(target.path).exists()  # asked, and "no" moves nothing
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: True)
    with qtbot.waitSignal(session.trashed, timeout=30_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    assert not Path(target.path).exists() and Path(target.path).name in trashed_names()
    qtbot.waitUntil(lambda: window.model.rowCount() == 63, timeout=10_000)


def test_new_photos_appear_without_a_restart_and_unreadable_ones_are_reported(qtbot, indexed_app, tmp_path):
    session, window = indexed_app
    write_photo(tmp_path / "photos" / "late-arrival.png", "yellow", "star", 1, seed=11)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    qtbot.waitUntil(lambda: any(path.endswith("late-arrival.png") for path in grid_paths(window)), timeout=60_000)
    qtbot.waitUntil(lambda: window.indexing_status.failures_button.isVisible(), timeout=60_000)
    assert "1 could not be read" in window.indexing_status.failures_button.text()
    with qtbot.waitSignal(session.failures, timeout=10_000) as failures:
        window.indexing_status.failures_button.click()
    (path, reason), = failures.args[0]
    assert path.endswith("broken.jpg") and reason and "Traceback" not in reason


def test_pause_and_resume_indexing(qtbot, tmp_path, world):
    library = library_with_tiny_model(tmp_path / "library")
    session, window = open_app(qtbot, tmp_path, library)
    try:
        session.pause()
        window.add_folders([tmp_path / "photos"])
        qtbot.waitUntil(lambda: window.indexing_status.state.phase in ("loading the model", "indexing"),
                        timeout=30_000)
        qtbot.wait(1500)
        assert window.indexing_status.state.done == 0 and window.indexing_status.pause_button.text() == "Resume"
        window.indexing_status.pause_button.click()
        wait_until_indexed(qtbot, window, len(world))
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
        dialog.import_button.click()
        qtbot.waitUntil(lambda: session.model_name == "small-vit", timeout=60_000)
    finally:
        close_app(session, window)


def test_labels_can_be_renamed_reprompted_accepted_and_removed(qtbot, indexed_app):
    session, window = indexed_app
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000, check_params_cb=has_label("blue things")):
        window.label_list.saveRequested.emit("blue things", ["blue circles", "blue stars"], None)
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000, check_params_cb=has_label("blues")) as renamed:
        window.label_list.saveRequested.emit("blues", ["blue squares", "blue triangles"], "blue things")
    (state,) = renamed.args[0]
    assert state.name == "blues" and state.prompts == ["blue squares", "blue triangles"]
    # Accepting a photo the label did not suggest makes it the user's own tag.
    untagged = next(row for row in window.model.rows if kind_of(row.path) == ("white", "star"))
    with qtbot.waitSignal(session.photoDetails, timeout=10_000) as details:
        session.judge("blues", untagged.id, untagged.path, True)
    assert [(tag.label, tag.source) for tag in details.args[0].tags] == [("blues", "user")]
    with qtbot.waitSignal(session.labelsChanged, timeout=30_000) as retagged:
        window.label_list.retag_button.click()
    assert retagged.args[0][0].photos >= 1
    with qtbot.waitSignal(session.labelsChanged, timeout=10_000, check_params_cb=lambda labels: not labels):
        session.remove_label("blues")
    assert window.label_list.labels == {}


def test_sorting_by_name_and_a_folder_of_its_own(qtbot, indexed_app, tmp_path):
    session, window = indexed_app
    window.order_box.setCurrentIndex(window.order_box.findData("name"))
    qtbot.waitUntil(lambda: grid_paths(window) == sorted(grid_paths(window), key=str.lower), timeout=10_000)
    assert grid_paths(window)[0].endswith("black-circle-0.jpg")


def test_an_older_browse_that_finishes_last_never_replaces_the_newer_view(qtbot, indexed_app, tmp_path, monkeypatch):
    """Browses run on several threads; one asked for earlier can finish later. The grid shows the newest."""
    session, window = indexed_app
    library = session.library
    browse, newer_done = library.browse, threading.Event()

    def out_of_order(order, folder=None, tag=None, ids=None):
        if folder is None:  # the older browse waits until the newer one has been answered
            newer_done.wait(10)
            time.sleep(0.2)
            return browse(order, folder, tag, ids)
        rows = browse(order, folder, tag, ids)
        newer_done.set()
        return rows

    # Let the two browses overlap: the library's lock would otherwise make them take turns.
    monkeypatch.setattr(library, "lock", contextlib.nullcontext())
    monkeypatch.setattr(library, "browse", out_of_order)
    delivered = []
    session.photosChanged.connect(delivered.append)
    session.show(View(folder=None))
    session.show(View(folder=tmp_path / "photos" / "nowhere"))
    qtbot.wait(1000)
    assert delivered == [[]]
    assert window.model.rowCount() == 0


def test_changing_the_model_indexes_the_library_again(qtbot, indexed_app, small_vit_file, isolated_data_dir):
    session, window = indexed_app
    with qtbot.waitSignal(session.indexed, timeout=120_000, check_params_cb=lambda state: state.total == 64):
        session.use_model(str(small_vit_file))
    assert session.model_name == str(small_vit_file)
    with qtbot.waitSignal(session.searchDone, timeout=30_000) as found:
        session.search("anything at all")
    assert len(found.args[1]) > 0  # searchable with the new model's vectors
