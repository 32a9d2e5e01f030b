"""The ``pytorch-transformer`` family: Transformers trained with plain PyTorch."""
