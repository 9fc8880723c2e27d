"""One module per `kouan` subcommand.

Each module exposes `HELP` (one line), `configure(parser)` and `run(args) -> int`. Modules keep
heavy imports (onnxruntime, OpenCV, FastAPI) inside `run` so `kouan --help` stays fast.
"""
