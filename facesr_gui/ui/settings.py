"""Typed QSettings access, one group per component, with a version for resets.

Everything is UI state only (geometry, last model, last folder, recent files). Bumping
:data:`SETTINGS_VERSION` makes the next start discard incompatible stored state.
"""
from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "FaceSR"
APPLICATION = "facesr-gui"
SETTINGS_VERSION = 1

T = TypeVar("T", str, int, float, bool, QByteArray)


def open_settings() -> QSettings:
    """The app's QSettings (INI format, user scope), cleared if written by another version."""
    qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)
    if qs.value("settings_version", 0, type=int) != SETTINGS_VERSION:
        qs.clear()
        qs.setValue("settings_version", SETTINGS_VERSION)
    return qs


class Settings:
    """Typed reads/writes under ``group`` (e.g. ``Settings("main_window")``)."""

    def __init__(self, group: str, qsettings: QSettings | None = None):
        self.group = group
        self._qs = qsettings if qsettings is not None else open_settings()

    def _key(self, key: str) -> str:
        return f"{self.group}/{key}"

    def get(self, key: str, default: T) -> T:
        """Stored value converted to ``type(default)``; ``default`` when missing or unreadable."""
        try:
            value = self._qs.value(self._key(key), default, type=type(default))
        except (TypeError, ValueError):
            return default
        return default if value is None else value

    def set(self, key: str, value) -> None:
        self._qs.setValue(self._key(key), value)

    def get_list(self, key: str) -> list[str]:
        """A list of strings (stored newline-joined: empty lists survive every backend)."""
        text = self.get(key, "")
        return [line for line in text.split("\n") if line]

    def set_list(self, key: str, values: list[str]) -> None:
        self.set(key, "\n".join(values))

    def sync(self) -> None:
        self._qs.sync()
