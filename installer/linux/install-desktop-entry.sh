#!/bin/sh
# Adds photosort to the desktop's application menu, and the `photosort` command to ~/.local/bin, for this user.
# Run it from the unpacked folder, wherever you keep it; run it again after moving the folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps" "$HOME/.local/bin"
cp "$here/photosort.png" "$data/icons/hicolor/256x256/apps/photosort.png"
sed -e "s|^Exec=.*|Exec=\"$here/photosort-app\"|" -e "s|^Icon=.*|Icon=$data/icons/hicolor/256x256/apps/photosort.png|" \
    "$here/photosort.desktop" > "$data/applications/photosort.desktop"
ln -sf "$here/photosort" "$HOME/.local/bin/photosort"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "photosort is in your applications menu; the command: $HOME/.local/bin/photosort"
