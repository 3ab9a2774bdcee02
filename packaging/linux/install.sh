#!/usr/bin/env bash
# Install (or remove) FaceSR Studio for the current user. Ships inside the tarball, next to
# the executables; needs no Python and no root.
#
#   ./install.sh              copy to ~/.local/opt/facesr-studio, add facesr-gui and facesr to
#                             ~/.local/bin, a menu entry and the icon; run the self-test
#   ./install.sh --prefix DIR install under DIR instead of ~/.local (e.g. /opt with sudo)
#   ./install.sh --uninstall  remove all of the above
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${HOME}/.local"
UNINSTALL=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift ;;
        --uninstall) UNINSTALL=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

APP_DIR="$PREFIX/opt/facesr-studio"
BIN_DIR="$PREFIX/bin"
DATA_DIR="${PREFIX}/share"
[[ "$PREFIX" == "${HOME}/.local" ]] && DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}"
DESKTOP="$DATA_DIR/applications/facesr-studio.desktop"

remove() {
    rm -f "$BIN_DIR/facesr-gui" "$BIN_DIR/facesr" "$DESKTOP"
    for size in 256 128 64 32; do
        rm -f "$DATA_DIR/icons/hicolor/${size}x${size}/apps/facesr-studio.png"
    done
    rm -f "$DATA_DIR/icons/hicolor/scalable/apps/facesr-studio.svg"
    rm -rf "$APP_DIR"
}

if [[ $UNINSTALL == 1 ]]; then
    remove
    echo "FaceSR Studio removed from $PREFIX (settings in ~/.config/FaceSR and user models in ~/.local/share/facesr-studio are kept)"
    exit 0
fi

[[ -x "$HERE/facesr-gui" && -d "$HERE/_internal" ]] || { echo "run install.sh from the unpacked facesr-studio folder" >&2; exit 1; }
if [[ "$HERE" != "$APP_DIR" ]]; then
    remove
    mkdir -p "$APP_DIR"
    cp -a "$HERE/." "$APP_DIR/"
fi
mkdir -p "$BIN_DIR" "$DATA_DIR/applications"
ln -sf "$APP_DIR/facesr-gui" "$BIN_DIR/facesr-gui"
ln -sf "$APP_DIR/facesr" "$BIN_DIR/facesr"

ICONS="$APP_DIR/_internal/resources/icons"
for size in 256 128 64 32; do
    install -D -m 644 "$ICONS/facesr-studio-$size.png" "$DATA_DIR/icons/hicolor/${size}x${size}/apps/facesr-studio.png"
done
install -D -m 644 "$ICONS/facesr-studio.svg" "$DATA_DIR/icons/hicolor/scalable/apps/facesr-studio.svg"
# absolute Exec/TryExec: ~/.local/bin is not on every desktop session's PATH
sed -e "s|^Exec=.*|Exec=\"$APP_DIR/facesr-gui\" %F|" -e "s|^TryExec=.*|TryExec=$APP_DIR/facesr-gui|" \
    "$APP_DIR/facesr-studio.desktop" > "$DESKTOP"
chmod 644 "$DESKTOP"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_DIR/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA_DIR/icons/hicolor" || true

echo "FaceSR Studio installed in $APP_DIR"
echo "  menu entry: $DESKTOP"
echo "  commands:   $BIN_DIR/facesr-gui, $BIN_DIR/facesr"
echo "== self-test"
QT_QPA_PLATFORM=offscreen "$APP_DIR/facesr-gui" --self-test
