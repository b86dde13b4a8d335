"""Orchestration: targets into worker processes (one per target) and each model through load, graph, rules and probe; may import every stage, and no stage imports it."""
