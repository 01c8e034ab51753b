"""simcse: contrastive sentence embeddings (SimCSE) - train, evaluate, encode and search."""
from . import compat
from .encoder import EncoderConfig, SentenceEncoder, default_model_path
from .pooling import POOLERS
from .tool import SimCSE

__version__ = "0.5.0"

compat.install()

__all__ = ["SimCSE", "SentenceEncoder", "EncoderConfig", "POOLERS", "default_model_path", "__version__"]
