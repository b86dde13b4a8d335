"""``python -m netlint`` behaves exactly like ``netlint``."""

from netlint.cli import app

if __name__ == "__main__":
    app(prog_name="netlint")
