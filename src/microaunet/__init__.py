"""microaunet: tiny real-time colonoscopy polyp segmentation (MicroAUNet, its teacher, its baselines)."""

from .checkpoint import load_model
from .models import MODELS, build_model, count_parameters, list_models

__version__ = "0.1.0"
__all__ = ["MODELS", "build_model", "count_parameters", "list_models", "load_model", "__version__"]
