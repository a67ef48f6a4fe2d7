#!/usr/bin/env bash
# Large real photographs for benchmarks/bench_index.py, from Debian's wallpaper packages (their own licences
# apply; they are not redistributed by this project): JPEGs of 2 megapixels or more, one copy of each.
set -euo pipefail
out=${1:-/tmp/wallpapers}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers gnome-backgrounds \
    lomiri-wallpapers-20.04 lomiri-wallpapers-16.04 >/dev/null 2>&1); then
    echo "fetch_wallpapers.sh: apt-get could not download the wallpaper packages (offline?)" >&2
    exit 1
fi
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
mkdir -p "$out"
python3 - "$work/root" "$out" <<'PY'
import hashlib, shutil, struct, sys
from pathlib import Path
root, out = Path(sys.argv[1]), Path(sys.argv[2])

def jpeg_size(path):
    """Width and height from the JPEG's start-of-frame marker (no Pillow needed)."""
    data = path.read_bytes()
    at = 2
    while at < len(data) - 9:
        if data[at] != 0xFF:
            return 0, 0
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return 0, 0

seen = set()
for path in sorted(root.rglob("*")):
    if path.suffix.lower() in (".jpg", ".jpeg") and path.is_file() and not path.is_symlink():
        width, height = jpeg_size(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if width * height >= 2_000_000 and digest not in seen:
            seen.add(digest)
            shutil.copy(path, out / f"{len(seen):03}-{path.name}")
print(f"{len(seen)} photos in {out}")
PY
