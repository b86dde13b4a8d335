"""Stage 4, probe: the dynamic measurement of the variance shift, the plan that sizes it, and recalibration; imports load, graph and the shared top-level modules, never run, config or report."""
