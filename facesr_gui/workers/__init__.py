"""Qt threads that drive the engine: the only layer where Qt meets torch."""
from .inference import (InferenceRequest, InferenceResult, InferenceWorker, ModelEntry, ModelUnavailable,
                        list_models, load_model)

__all__ = ["InferenceRequest", "InferenceResult", "InferenceWorker", "ModelEntry", "ModelUnavailable",
           "list_models", "load_model"]
