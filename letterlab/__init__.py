"""letterlab: train, compare and understand small neural networks on 28x28 letter images."""

__version__ = "0.1.0"
LETTERS = "ABCDEFGHIJ"
NUM_CLASSES = len(LETTERS)
IMAGE_SIZE = 28
