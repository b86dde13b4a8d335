"""``python -m netlint`` behaves exactly like ``netlint``."""

from netlint.cli import main

if __name__ == "__main__":
    main()
