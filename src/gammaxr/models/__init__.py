"""Models: parameters; spectral, spatial, temporal and sky models."""

from gammaxr.models.core import MODEL_REGISTRY, Model, ModelTypeError, register_model
from gammaxr.models.parameters import Parameter, ParameterError, Parameters

__all__ = [
    "MODEL_REGISTRY",
    "Model",
    "ModelTypeError",
    "Parameter",
    "ParameterError",
    "Parameters",
    "register_model",
]
