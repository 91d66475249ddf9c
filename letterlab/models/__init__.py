"""Models: fully-connected and convolutional nets built from dataclass configs, presets, summaries."""
