"""Shipping a model: ONNX export checked against PyTorch, and the HTTP API (FastAPI on uvicorn)."""
