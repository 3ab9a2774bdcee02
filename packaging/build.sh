#!/usr/bin/env bash
# Build the Linux onedir package and its tarball, then run the frozen self-test with no
# Python environment.
#
#   bash packaging/build.sh            # use the current Python environment
#   bash packaging/build.sh --venv     # build in a fresh venv (.build-venv/) from pyproject + requirements-nodeps
#   bash packaging/build.sh --no-test  # skip the frozen self-test
#
# Output: dist/facesr-studio/ (facesr-gui, facesr, _internal/, install.sh, ...) and
#         dist/facesr-studio-<version>-linux-x86_64.tar.gz
# Environment: PYTHON (interpreter, default python3), FACESR_BUILD_DIR / FACESR_DIST_DIR
#              (PyInstaller work and dist folders, default build/ and dist/ in the repo),
#              TORCH_INDEX_URL (extra pip index for the CPU torch wheel, --venv only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
WORK="${FACESR_BUILD_DIR:-$ROOT/build}"
DIST="${FACESR_DIST_DIR:-$ROOT/dist}"
APP=facesr-studio
USE_VENV=0
RUN_TEST=1
for arg in "$@"; do
    case "$arg" in
        --venv) USE_VENV=1 ;;
        --no-test) RUN_TEST=0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

start=$(date +%s)
if [[ $USE_VENV == 1 ]]; then
    VENV="$ROOT/.build-venv"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    PYTHON="$VENV/bin/python"
    "$PYTHON" -m pip install --upgrade pip
    # CPU-only torch: a plain PyPI torch pulls ~3 GB of CUDA libraries on Linux. Set
    # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu where pip does not already resolve the pin to it.
    "$PYTHON" -m pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} ".[gui]" pyinstaller
    "$PYTHON" -m pip install --no-deps -r packaging/requirements-nodeps.txt
fi

"$PYTHON" -c "import PyInstaller" 2>/dev/null || { echo "PyInstaller missing: $PYTHON -m pip install pyinstaller" >&2; exit 1; }
VERSION="$("$PYTHON" -c 'import facesr_gui; print(facesr_gui.__version__)')"
PYPROJECT_VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n1)"
if [[ "$VERSION" != "$PYPROJECT_VERSION" ]]; then
    echo "version mismatch: facesr_gui.__version__=$VERSION, pyproject.toml=$PYPROJECT_VERSION" >&2
    exit 1
fi
ARCH="$(uname -m)"
TARBALL="$DIST/$APP-$VERSION-linux-$ARCH.tar.gz"
echo "== FaceSR Studio $VERSION: PyInstaller $("$PYTHON" -c 'import PyInstaller; print(PyInstaller.__version__)') with $("$PYTHON" --version)"

[[ -f resources/icons/facesr-studio-256.png ]] || "$PYTHON" packaging/make_icon.py

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$WORK" --distpath "$DIST" packaging/facesr.spec

# Linux desktop integration and docs next to the executables
OUT="$DIST/$APP"
install -m 755 packaging/linux/install.sh "$OUT/install.sh"
install -m 644 packaging/linux/facesr-studio.desktop "$OUT/facesr-studio.desktop"
install -m 644 packaging/README.md "$OUT/README.md"
printf '%s\n' "$VERSION" > "$OUT/VERSION"
built=$(date +%s)

if [[ $RUN_TEST == 1 ]]; then
    echo "== frozen self-test (clean environment, offscreen)"
    tmp_home="$(mktemp -d)"
    # No PYTHONPATH, no venv, no site-packages: only the bundle. HOME is a fresh folder so
    # the test cannot see (or write) the builder's settings and user models.
    env -i PATH=/usr/bin:/bin HOME="$tmp_home" QT_QPA_PLATFORM=offscreen "$OUT/facesr-gui" --self-test
    # Again through the CLI executable, with the build's Python hidden where a private mount
    # namespace is available (root, or unprivileged user namespaces): tmpfs over its stdlib and
    # site-packages, so anything the bundle failed to collect cannot be found outside it.
    hide="$("$PYTHON" -c 'import site, sysconfig; print(" ".join(sorted({sysconfig.get_paths()["stdlib"], *site.getsitepackages(), site.getusersitepackages()}, key=len, reverse=True)))')"
    cli=(env -i PATH=/usr/bin:/bin HOME="$tmp_home" "$OUT/facesr" self-test --no-gui --model bicubic)
    mounts=""
    for d in $hide; do
        if [[ -d "$d" ]]; then mounts+="mount -t tmpfs none '$d'; "; fi
    done
    if unshare -rm --propagation private true 2>/dev/null; then
        unshare -rm --propagation private sh -c "$mounts"'exec "$@"' sh "${cli[@]}" > "$tmp_home/cli.log" \
            || { cat "$tmp_home/cli.log"; exit 1; }
        echo "facesr self-test with the build Python hidden ($hide): $(tail -n1 "$tmp_home/cli.log")"
    else
        "${cli[@]}" > "$tmp_home/cli.log" || { cat "$tmp_home/cli.log"; exit 1; }
        echo "facesr self-test (no mount namespace here to hide the build Python): $(tail -n1 "$tmp_home/cli.log")"
    fi
    rm -rf "$tmp_home"
fi

echo "== tarball"
rm -f "$TARBALL"
tar -C "$DIST" -czf "$TARBALL" "$APP"
end=$(date +%s)

echo "== done"
printf 'build time:  %d s (PyInstaller %d s)\n' $((end - start)) $((built - start))
printf 'dist folder: %s  %s\n' "$(du -sh "$OUT" | cut -f1)" "$OUT"
printf 'tarball:     %s  %s\n' "$(du -sh "$TARBALL" | cut -f1)" "$TARBALL"
