"""Material Design icons through qtawesome, with a Qt standard icon (or nothing) as fallback."""
from __future__ import annotations

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QStyle

try:  # optional: the app still runs (with plainer icons) without it
    import qtawesome as _qta
except Exception:  # noqa: BLE001 - a broken font install must not stop the app
    _qta = None

_FALLBACK = {
    "mdi6.folder-open": QStyle.StandardPixmap.SP_DirOpenIcon,
    "mdi6.content-save": QStyle.StandardPixmap.SP_DialogSaveButton,
    "mdi6.play": QStyle.StandardPixmap.SP_MediaPlay,
    "mdi6.chevron-left": QStyle.StandardPixmap.SP_ArrowLeft,
    "mdi6.chevron-right": QStyle.StandardPixmap.SP_ArrowRight,
    "mdi6.delete": QStyle.StandardPixmap.SP_TrashIcon,
}


def icon(name: str) -> QIcon:
    """``icon("mdi6.folder-open")``; an empty QIcon when neither qtawesome nor a fallback has it."""
    if _qta is not None:
        try:
            return _qta.icon(name, color="#d0d0d0" if _dark() else "#404040")
        except Exception:  # noqa: BLE001 - unknown name or font problem
            pass
    app = QApplication.instance()
    if name in _FALLBACK and app is not None:
        return app.style().standardIcon(_FALLBACK[name])
    return QIcon()


def _dark() -> bool:
    app = QApplication.instance()
    return app is not None and app.palette().window().color().lightness() < 128
