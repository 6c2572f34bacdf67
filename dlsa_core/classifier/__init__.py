"""Small MNIST CNN classifier: scores DDPM samples, gives features for Frechet distances."""

from .model import FEATURE_DIM, MnistCNN, features, load_classifier, predict_proba

__all__ = ["FEATURE_DIM", "MnistCNN", "features", "load_classifier", "predict_proba"]
