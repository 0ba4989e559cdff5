"""microaunet: tiny real-time colonoscopy polyp segmentation (MicroAUNet, its teacher, its baselines).

The package's map: models/ (the networks, one registry), data/ (datasets, splits, transforms, augmentation),
training/ (the loop, distillation, losses, EMA, checkpoints), evaluation/ (metrics, evaluation, comparisons,
robustness), deploy/ (Segmenter, ONNX export, prediction on images and videos, shipped weights), reporting/
(the paper's tables and figures), serve/ (the HTTP service), and cli.py, which only parses and calls.
"""

from .threads import set_openmp_defaults

set_openmp_defaults()  # before PyTorch (imported below) starts OpenMP: waiting threads spin briefly, see threads.py

from .deploy.pretrained import list_pretrained, load_pretrained, model_card  # noqa: E402
from .deploy.segmenter import Prediction, Segmenter  # noqa: E402
from .models import MODELS, build_model, count_parameters, list_models  # noqa: E402
from .training.checkpoint import load_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["MODELS", "Prediction", "Segmenter", "build_model", "count_parameters", "list_models", "list_pretrained",
           "load_model", "load_pretrained", "model_card", "__version__"]
