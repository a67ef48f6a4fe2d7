"""The app's icons in every format an installer needs, drawn from the one source, photosort's SVG.

PNGs (Linux desktop entries, the window icon) rendered by Qt's SVG renderer; the Windows .ico and the macOS
.icns assembled from them by Pillow, which writes both formats on any system.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

SOURCE = Path(__file__).resolve().parent.parent / "photosort" / "resources" / "icons" / "photosort.svg"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # the sizes Windows asks an .ico for (256 is the largest it reads)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # 1024 is the 512@2x retina slot


def render_png(svg: Path, size: int, out: Path) -> Path:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _ = QGuiApplication.instance() or QGuiApplication(sys.argv[:1] + ["-platform", "offscreen"])
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(out)):
        raise OSError(f"could not write {out}")
    return out


def make_icons(out_dir: Path, svg: Path = SOURCE) -> dict[str, Path]:
    """Writes photosort-<size>.png for each size, photosort.ico and photosort.icns; returns them by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {size: render_png(svg, size, out_dir / f"photosort-{size}.png") for size in PNG_SIZES}
    largest = Image.open(pngs[max(PNG_SIZES)])
    ico = out_dir / "photosort.ico"
    largest.save(ico, sizes=[(size, size) for size in ICO_SIZES])
    icns = out_dir / "photosort.icns"
    largest.save(icns, append_images=[Image.open(pngs[size]) for size in ICNS_SIZES if size != max(PNG_SIZES)])
    return {"png": pngs[256], "ico": ico, "icns": icns}


if __name__ == "__main__":
    for kind, path in make_icons(Path(sys.argv[1] if len(sys.argv) > 1 else "build/icons")).items():
        print(kind, path)
