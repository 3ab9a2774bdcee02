"""Qt threads that drive the engine: the only layer where Qt meets torch."""
from .inference import InferenceRequest, InferenceResult, InferenceWorker

__all__ = ["InferenceRequest", "InferenceResult", "InferenceWorker"]
