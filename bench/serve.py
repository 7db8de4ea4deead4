"""`python bench/serve.py`: the server exactly as `python app.py` / `make run` runs it
(common.server.serve: gunicorn gthread, KPS_WORKERS x KPS_THREADS), with a MongoDB
command counter installed first when KPS_BENCH_COUNT_DIR is set (bench.dbcount).

Run as a script, like app.py, because serve() re-executes ``sys.argv`` once to set up
the metrics directory."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, as for app.py

from common.server import serve  # noqa: E402

if __name__ == "__main__":
    if os.environ.get("KPS_BENCH_COUNT_DIR"):
        from bench.dbcount import install

        install(os.environ["KPS_BENCH_COUNT_DIR"])
    serve()
