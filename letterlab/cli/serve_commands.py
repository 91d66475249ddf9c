"""`letterlab export` (ONNX, checked against PyTorch) and `letterlab serve` (the HTTP API)."""

from __future__ import annotations

import json

from letterlab.cli.train_commands import add_device_argument


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="export a run's model to ONNX, checked against PyTorch",
                                   description="Export the run's model to ONNX (uint8 28x28 images in, scaling inside the "
                                               "graph, any batch size), with its class names, config digest, data hash and "
                                               "accuracy as metadata. The file is written only if onnxruntime gives PyTorch's "
                                               "probabilities on the run's test images (largest difference under 1e-5, the "
                                               "same argmax for every image); the check is printed and saved as FILE.parity.json.")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--out", metavar="FILE.onnx", help="output file (default RUN/model.onnx)")
    export.add_argument("--opset", type=int, metavar="N", help="ONNX opset version (default 18)")
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=run_export)

    serve = subparsers.add_parser("serve", help="serve a run or an .onnx file over HTTP (FastAPI)",
                                  description="Serve the model: the explorer page at / (run folders: draw a letter and "
                                              "watch the layers respond, the confusion matrix's images, two runs side by "
                                              "side, the training replay), POST /v1/predict (multipart files in 'images', or JSON "
                                              '{"images": [28x28 arrays], "top_k": 3}), GET /health, /ready, /v1/model, '
                                              "and the API docs at /docs. Binds 127.0.0.1 unless --host says otherwise.")
    serve.add_argument("model", metavar="RUN_OR_ONNX")
    serve.add_argument("model_b", metavar="RUN_B", nargs="?", help="a second run folder, shown side by side in the explorer")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--backend", choices=["torch", "onnx"], help="default: torch for a run folder, onnx for an .onnx file")
    serve.add_argument("--threads", type=int, metavar="N", help="compute threads (default: every core this process may use)")
    serve.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body in MiB (default 8)")
    serve.add_argument("--max-images", type=int, default=256, help="most images in one request (default 256)")
    serve.add_argument("--cors", metavar="ORIGIN", action="append", default=[],
                       help="allow browser pages from ORIGIN to call the API (repeatable; default: none)")
    add_device_argument(serve)
    serve.set_defaults(func=run_serve)


def run_export(args) -> int:
    import letterlab

    report = letterlab.load_run(args.run, "cpu").export(args.out, args.opset)
    if args.json:
        print(json.dumps({**report.__dict__, "passed": report.passed}, indent=2))
        return 0
    print(f"wrote {report.path} (opset {report.opset}, {report.seconds:.1f} s)")
    print(f"parity on {report.n} test images, onnxruntime against PyTorch: largest probability difference "
          f"{report.max_abs_difference:.2e} (tolerance {report.tolerance:.0e}), argmax agreement {report.argmax_agreement:.2%}, "
          f"accuracy {report.onnx_accuracy:.4f} / {report.torch_accuracy:.4f}; saved in {report.parity_path}")
    return 0


def run_serve(args) -> int:
    import letterlab
    from letterlab.errors import LetterlabError

    if args.max_body_mb <= 0 or args.max_images < 1:
        raise LetterlabError("--max-body-mb must be > 0 and --max-images >= 1")
    if args.threads is not None and args.threads < 1:
        raise LetterlabError(f"--threads must be at least 1, got {args.threads}")
    letterlab.serve(args.model, args.model_b, host=args.host, port=args.port, backend=args.backend, device=args.device, threads=args.threads,
                    max_body_bytes=int(args.max_body_mb * 2**20), max_images=args.max_images, cors_origins=tuple(args.cors))
    return 0
