"""Fixtures shared by the pipeline tests."""
from __future__ import annotations

import pytest

from facesr_gui.catalog import load_restorer
from facesr_gui.selftest import degrade, load_sample


@pytest.fixture(autouse=True)
def _pipeline_one_thread(one_thread):
    """Every pipeline test runs MTCNN: one torch thread (see the root conftest)."""
    yield


@pytest.fixture(scope="module")
def restorer():
    """The bicubic baseline with the real detector (tests that need other options define their own)."""
    return load_restorer("bicubic")


@pytest.fixture(scope="module")
def face_frame():
    """The bundled portrait degraded to 128x72 with a ~17 px face (as in the self-test)."""
    return degrade(load_sample())
