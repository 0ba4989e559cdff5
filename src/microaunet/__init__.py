"""microaunet: tiny real-time colonoscopy polyp segmentation (MicroAUNet, its teacher, its baselines)."""

from .checkpoint import load_model
from .inference import Prediction, Segmenter
from .models import MODELS, build_model, count_parameters, list_models
from .pretrained import list_pretrained, load_pretrained, model_card

__version__ = "0.1.0"
__all__ = ["MODELS", "Prediction", "Segmenter", "build_model", "count_parameters", "list_models", "list_pretrained",
           "load_model", "load_pretrained", "model_card", "__version__"]
