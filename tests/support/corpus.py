"""Where the shared corpus of real SQL lives (read in place, never copied into the repository)."""

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
