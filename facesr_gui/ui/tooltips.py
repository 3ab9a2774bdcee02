"""Which options of a window lack a tooltip (a check for tests and reviews; every option is explained).

An option is an interactive widget a person sets or presses: buttons, combo boxes, spin boxes, line
edits, sliders and check boxes. Qt's own parts of compound widgets (a spin box's editor, an editable
combo box's line edit, tab-bar scroll arrows, toolbar and menu-bar overflow buttons, a table's corner
button) are not options of ours and are skipped.
"""
from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QSlider,
    QTabBar,
    QWidget,
)

OPTION_TYPES = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider)
_QT_PARTS = ("qt_toolbar_ext_button", "qt_menubar_ext_button")


def _is_qt_part(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    return (isinstance(parent, (QComboBox, QAbstractSpinBox, QTabBar)) or widget.objectName() in _QT_PARTS
            or type(widget).__name__ != widget.metaObject().className() and
            widget.metaObject().className() in ("QTableCornerButton", "QToolBarExtension"))


def describe(widget: QWidget) -> str:
    """``ClassName 'text' (objectName) in Parent > Parent`` for a report line."""
    text = widget.text() if hasattr(widget, "text") and callable(widget.text) else ""
    chain, p = [], widget.parentWidget()
    while p is not None and len(chain) < 3:
        chain.append(type(p).__name__)
        p = p.parentWidget()
    return f"{type(widget).__name__} {text!r} ({widget.objectName()}) in {' > '.join(chain)}"


def missing_tooltips(roots: list[QWidget | None]) -> list[str]:
    """A line for every option under ``roots`` without a tooltip (empty: all explained)."""
    out = []
    for root in roots:
        if root is None:
            continue
        for widget in root.findChildren(QWidget):
            if isinstance(widget, OPTION_TYPES) and not _is_qt_part(widget) and not widget.toolTip().strip():
                out.append(describe(widget))
    return out
