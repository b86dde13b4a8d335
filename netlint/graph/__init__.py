"""The graph layer. ``ir`` (what rules see) imports no torch; ``build`` builds graphs with torch."""
