#!/bin/sh
# Adds photosort to the desktop's application menu, and the `photosort` command to ~/.local/bin, for this user.
# Run it from the unpacked folder, wherever you keep it; run it again after moving the folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
icon="$data/icons/hicolor/256x256/apps/photosort.png"
mkdir -p "$data/applications" "$(dirname "$icon")" "$HOME/.local/bin"
cp "$here/photosort.png" "$icon"

# The Desktop Entry spec's two layers of quoting: inside the Exec line's double quotes, \ " ` $ take a
# backslash; the value as a whole doubles every backslash; a literal % is written %%.
quoted=$(printf '%s' "$here/photosort" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g')
icon_value=$(printf '%s' "$icon" | sed -e 's/\\/\\\\/g')
{
    grep -v -e '^Exec=' -e '^Icon=' "$here/photosort.desktop"
    printf 'Exec="%s"\n' "$quoted"
    printf 'Icon=%s\n' "$icon_value"
} > "$data/applications/photosort.desktop"
ln -sf "$here/photosort" "$HOME/.local/bin/photosort"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "photosort is in your applications menu; the command: $HOME/.local/bin/photosort"
