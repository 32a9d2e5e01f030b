"""gRPC translation and summarisation service for encoder-decoder models."""

__version__ = "0.1.0"
