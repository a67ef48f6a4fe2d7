"""Screenshots of the desktop app for the README, taken as a person sees it: a real window on an X server.

    Xvfb :99 -screen 0 1600x1000x24 &
    DISPLAY=:99 .venv/bin/python docs/screenshots.py docs/screenshots

Builds a demo library in a temporary folder (the tiny model's world of shapes, some real photographs, a few
copies for the duplicates view), opens the app on it with the bundled demo model, walks through its views and
saves the whole screen at each (ImageMagick's `import -window root`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photosort.app.settings import AppSettings  # noqa: E402
from photosort.clip.registry import MODELS, RECOMMENDED_MODEL  # noqa: E402
from photosort.core.library import Library  # noqa: E402
from photosort.paths import bundled_models_dir  # noqa: E402
from photosort.ui.app import build  # noqa: E402
from photosort.ui.dialogs import ModelDialog, SettingsDialog  # noqa: E402
from tests.library_helpers import tiny_world  # noqa: E402
from tests.real_photos import photographs  # noqa: E402

PAUSE_MS = 2500  # between steps: indexing, thumbnails and searches settle


def demo_folders(root: Path) -> list[Path]:
    shapes_folder, real, copies = root / "Shapes", root / "Photographs", root / "Phone backup"
    tiny_world(shapes_folder, per_kind=2)
    real.mkdir()
    for name, picture in photographs().items():
        picture.save(real / f"{name}.jpg", quality=92)
    copies.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        shutil.copyfile(real / f"{name}.jpg", copies / f"IMG_{name}.jpg")
    photographs()["rocket"].resize((256, 341)).save(copies / "rocket-small.jpg", quality=80)
    return [shapes_folder, real, copies]


def shoot(out: Path, name: str) -> None:
    subprocess.run(["import", "-window", "root", str(out / f"{name}.png")], check=True)
    print(f"saved {out / name}.png")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="photosort-shots-"))
    folders = demo_folders(work / "Pictures")
    app = QApplication(sys.argv)
    library = work / "library"
    with Library(library) as opened:
        opened.set_model(str(bundled_models_dir() / "tiny-shapes.pt"))
    session, window = build(library, AppSettings(work / "settings.ini"))
    window.resize(1560, 960)
    window.move(20, 20)
    window.show()
    dialog_holder = []

    def step_welcome() -> None:
        shoot(out, "1-welcome")
        dialog = ModelDialog(window.models, MODELS[RECOMMENDED_MODEL], window)
        dialog.move(500, 300)
        dialog.show()
        dialog_holder.append(dialog)

    def step_model_dialog() -> None:
        shoot(out, "2-first-run-model")
        dialog_holder.pop().close()
        window.add_folders(folders)

    def step_indexing() -> None:
        shoot(out, "3-indexing")

    def step_search() -> None:
        window.search_bar.search_for("two red circles")

    def step_search_shot() -> None:
        shoot(out, "4-search")
        window.search_bar.search_for("")
        window.label_list.saveRequested.emit("warm colours", ["red shapes", "orange shapes", "yellow shapes"], None)

    def step_tags() -> None:  # a click on the label, where it is drawn
        labels = window.label_list.list
        QTest.mouseClick(labels.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         labels.visualItemRect(labels.item(0)).center())

    def step_tags_shot() -> None:
        window.grid.setCurrentIndex(window.model.index(0))

    def step_tags_shot2() -> None:
        shoot(out, "5-tags")
        window.show_duplicates()  # opens the page and starts comparing

    def step_duplicates() -> None:
        shoot(out, "6-duplicates")
        dialog = SettingsDialog(session.model_name, "auto", window.folders, window.models, window)
        dialog.move(450, 200)
        dialog.show()
        dialog_holder.append(dialog)

    def step_settings() -> None:
        shoot(out, "7-settings")
        dialog_holder.pop().close()
        app.quit()

    steps = [step_welcome, step_model_dialog, step_indexing, step_search, step_search_shot, step_tags,
             step_tags_shot, step_tags_shot2, step_duplicates, step_settings]
    for number, step in enumerate(steps, start=1):
        QTimer.singleShot(number * PAUSE_MS, step)
    app.exec()
    window.close()
    session.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
