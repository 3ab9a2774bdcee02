"""Training tab: button states, live curves and preview from a real tiny run, settings, registration."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from facesr_gui.checkpoints import load_checkpoint
from facesr_gui.manifest import read_manifest, verify_card
from facesr_gui.ui.qimage import qimage_to_rgb
from facesr_gui.ui.training_tab import BICUBIC, PSNR, TrainingTab, format_duration
from facesr_gui.ui.widgets.curve_plot import CurvePlot, nice_ticks
from facesr_gui.workers.training import TrainingWorker

NET = "priorsr"     # tiny config: ~50 ms a step on one core


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """QSettings and the user data folder (runs, registered models) under tmp_path; one torch thread."""
    from PySide6.QtCore import QSettings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("FACESR_HOME", str(tmp_path / "home"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def faces(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("faces")
    for p in sorted((shared_data / "celeba_dev").glob("*.jpg"))[:4]:
        shutil.copy(p, root / p.name)
    return str(root)


@pytest.fixture
def tab(qtbot):
    t = TrainingTab(TrainingWorker())
    qtbot.addWidget(t)
    t.resize(1100, 700)
    t.show()
    yield t
    assert t.stop(10_000)


def _setup(tab, faces, steps, val=True):
    assert tab.select_net(NET)
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("tiny"))
    tab.data_edit.setText(faces)
    tab.val_edit.setText(faces if val else "")
    tab.steps_spin.setValue(steps)
    tab.batch_spin.setValue(2)
    tab.val_every_spin.setValue(2)


def _enabled(tab) -> dict[str, bool]:
    return {name: getattr(tab, f"{name}_button").isEnabled()
            for name in ("start", "pause", "resume", "cancel", "register")}


def test_run_fills_curves_preview_and_registers(qtbot, tab, faces):
    _setup(tab, faces, steps=4)
    assert json.loads(tab.net_cfg_edit.text()) == tab.nets[NET].tiny_cfg
    with qtbot.waitSignal(tab.worker.finished, timeout=90_000):
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
        assert _enabled(tab) == {"start": False, "pause": True, "resume": False, "cancel": True, "register": False}
        assert not tab.form.isEnabled()
    assert _enabled(tab) == {"start": True, "pause": False, "resume": False, "cancel": False, "register": True}
    total = tab.loss_plot.points("total")
    assert total and [x for x, _ in total] == sorted({x for x, _ in total}) and total[-1][0] == 4
    assert [x for x, _ in tab.val_plot.points(PSNR)] == [2, 4]
    assert [x for x, _ in tab.val_plot.points(BICUBIC)] == [2, 4]
    assert tab.progress.value() == 4 and tab.progress.maximum() == 4
    preview = qimage_to_rgb(tab.preview_image)       # 4 faces x (LR | SR | HR) at 128 px
    assert preview.shape == (4 * 128, 3 * 128, 3) and preview.std() > 5
    assert not tab.preview_label.pixmap().isNull()
    assert tab.summary.out_dir.parent.name == "runs" and tab.summary.out_dir.name.startswith(NET)

    with qtbot.waitSignal(tab.model_registered, timeout=5000) as reg:
        path = tab.register_model("tiny prior")
    assert reg.args[0] == path and path.endswith("tiny-prior.safetensors")
    from facesr_gui.workers.training import user_models_dir
    cards = read_manifest(user_models_dir() / "manifest.json")
    assert [c.id for c in cards] == ["tiny-prior"]
    card = cards[0]
    assert card.training["steps"] == 4 and card.metrics[tab.summary.config.val.split("/")[-1]]["psnr"] > 0
    net, header = load_checkpoint(verify_card(card, user_models_dir()))
    assert header["net"] == NET and net.scale == card.scale == 8


def test_pause_resume_cancel_button_states(qtbot, tab, faces):
    _setup(tab, faces, steps=100_000, val=False)
    steps = []
    tab.worker.progressed.connect(lambda e: steps.append(e.step))
    assert tab.start()
    qtbot.waitUntil(lambda: bool(steps), timeout=20_000)
    with qtbot.waitSignal(tab.worker.paused_changed, timeout=5000):
        qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    assert _enabled(tab) == {"start": False, "pause": False, "resume": True, "cancel": True, "register": False}
    qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    assert _enabled(tab)["pause"] and not _enabled(tab)["resume"]
    with qtbot.waitSignal(tab.worker.finished, timeout=10_000):
        qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
        assert not any(_enabled(tab).values())               # cancelling: wait for the engine
    assert tab.summary.cancelled and tab.summary.state.is_file()
    assert _enabled(tab) == {"start": True, "pause": False, "resume": False, "cancel": False, "register": True}
    assert any("Cancelled at step" in tab.log_list.item(i).text() for i in range(tab.log_list.count()))


def test_settings_persist(qtbot, tab, faces, tmp_path):
    _setup(tab, faces, steps=1234)
    tab.net_cfg_edit.setText('{"channels": 16}')
    tab.net_cfg_edit.textEdited.emit('{"channels": 16}')   # as if typed: the preset becomes "custom"
    tab.lr_spin.setValue(2e-4)
    tab.gan_check.setChecked(False)
    tab.save_state()
    again = TrainingTab(TrainingWorker())
    qtbot.addWidget(again)
    assert again.current_net() == NET and again.preset() == "custom"
    assert again.net_cfg_edit.text() == '{"channels": 16}'
    assert again.data_edit.text() == faces and again.val_edit.text() == faces
    assert again.steps_spin.value() == 1234 and again.batch_spin.value() == 2 and again.val_every_spin.value() == 2
    assert again.lr_spin.value() == pytest.approx(2e-4) and not again.gan_check.isChecked()


def test_form_errors_and_resume_config(qtbot, tab, faces, tmp_path):
    assert not tab.start()                                   # no data folder chosen
    assert "training faces" in tab.log_list.item(tab.log_list.count() - 1).text()
    _setup(tab, faces, steps=10)
    tab.net_cfg_edit.setText("{not json")
    assert not tab.start() and "JSON" in tab.eta_label.text()
    tab.net_cfg_edit.setText("{}")
    run = tmp_path / "old"
    run.mkdir()
    torch.save({"step": 3, "config": json.dumps({"net": "eipnet", "steps": 10}),
                "net_config": json.dumps({"width": 16})}, run / "state.pt")
    tab.out_edit.setText(str(run))
    with pytest.raises(ValueError, match="already holds a run"):
        tab.build_config()
    tab.out_edit.setText("")
    tab.start_mode_combo.setCurrentIndex(tab.start_mode_combo.findData("resume"))
    tab.start_path_combo.setEditText(str(run / "state.pt"))
    cfg = tab.build_config()
    assert cfg.resume == str(run / "state.pt") and cfg.out == str(run) and cfg.net == "eipnet"
    assert cfg.net_cfg == {"width": 16} and tab.current_net() == "eipnet"
    tab.steps_spin.setValue(3)
    with pytest.raises(ValueError, match="already reached step 3"):
        tab.build_config()


def test_curve_plot_scales_and_draws(qtbot):
    plot = CurvePlot("loss", log_y=True)
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    for step, loss in [(1, 1.0), (2, 0.1), (3, 0.01), (4, -1.0)]:      # -1 cannot be shown on a log axis
        plot.add_point("total", step, loss)
    plot.add_series("base", "#00ff00", dashed=True)
    x0, x1, y0, y1 = plot.data_range()
    assert x0 == 1 and x1 == 3 and y0 < -2 < 0 < y1
    image = qimage_to_rgb(plot.grab().toImage())
    blue = (np.abs(image.astype(int) - [0x1F, 0x77, 0xB4]).sum(axis=2) < 60).sum()
    assert blue > 50                                                   # the line was drawn
    plot.clear()
    assert plot.series_names() == [] and plot.data_range() is None
    assert nice_ticks(0, 10, 5) == [0, 2, 4, 6, 8, 10]
    assert format_duration(5) == "5s" and format_duration(185) == "3m 05s" and format_duration(3720) == "1h 02m"


def test_finetune_shows_the_weights_config(qtbot, tab, tmp_path):
    """Fine-tuning a reduced-width checkpoint fills in its layout, so "Paper" never meets a width-16 file."""
    from facesr_gui.checkpoints import save_checkpoint
    from facesr_gui.nets import create_net

    weights = save_checkpoint(tmp_path / "w16.safetensors", create_net("eipnet", width=16))
    assert tab.select_net("eipnet")
    tab.preset_combo.setCurrentIndex(tab.preset_combo.findData("paper"))
    tab.start_mode_combo.setCurrentIndex(tab.start_mode_combo.findData("finetune"))
    tab.start_path_combo.setEditText(str(weights))
    assert json.loads(tab.net_cfg_edit.text())["width"] == 16
    assert tab.preset() == "custom"
    tab.data_edit.setText(str(tmp_path))
    cfg = tab.build_config()
    assert cfg.init == str(weights) and cfg.net_cfg["width"] == 16


def test_degradation_choice_previews_and_reaches_the_run(qtbot, tab, faces):
    _setup(tab, faces, steps=10)
    names = [tab.degradation_combo.itemData(i) for i in range(tab.degradation_combo.count())]
    assert names[:3] == ["bicubic", "realistic", "surveillance"]
    tab.degradation_combo.setCurrentIndex(names.index("realistic"))
    tab.jitter_spin.setValue(0.04)
    assert tab.preview_inputs()
    grid = qimage_to_rgb(tab.preview_image)
    assert grid.shape[0] == 2 * 96 and grid.shape[1] == 4 * 96     # 4 faces: HR over LR
    assert "realistic" in tab.preview_caption.text()
    cfg = tab.build_config()
    assert cfg.degradation == "realistic" and cfg.jitter == pytest.approx(0.04)
    tab.save_state()
    again = TrainingTab(TrainingWorker())
    qtbot.addWidget(again)
    assert again.degradation_combo.currentData() == "realistic" and again.jitter_spin.value() == pytest.approx(0.04)
    tab.data_edit.setText("")
    assert not tab.preview_inputs() and "Cannot preview" in tab.log_list.item(tab.log_list.count() - 1).text()
