"""Fixtures shared by the pipeline tests."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pipeline_one_thread(one_thread):
    """Every pipeline test runs MTCNN: one torch thread (see the root conftest)."""
    yield
