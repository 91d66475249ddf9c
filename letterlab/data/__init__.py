"""Data: loaders for every format, the embedded default, splits, conversion and checks."""
