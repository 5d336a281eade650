"""The README's production commands, as argument lists: what benchmarks and server tests run.

Read from the README's "Deploying with PostgreSQL and Redis" block so that what is measured and
tested is exactly what operators are told to run; only the address, the port and (optionally)
the number of processes are replaced.
"""
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND_START = "uvicorn config.asgi:application"


def readme_web_command(*, host: str = "127.0.0.1", port: int, workers: int | None = None) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Deploying with PostgreSQL and Redis", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith(COMMAND_START))
    argv = shlex.split(line.split("#", 1)[0])
    replaced = {"--host": host, "--port": str(port)}
    if workers is not None:
        replaced["--workers"] = str(workers)
    for flag, value in replaced.items():
        index = argv.index(flag)
        argv[index + 1] = value
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the venv's uvicorn
    return argv


def readme_worker_command(*, concurrency: int) -> list[str]:
    """The README's production worker command with `--concurrency` replaced."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Deploying with PostgreSQL and Redis", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith("celery -A config worker"))
    argv = shlex.split(line.split("#", 1)[0])
    argv[argv.index("--concurrency") + 1] = str(concurrency)
    argv[0] = str(Path(sys.executable).parent / argv[0])
    return argv
