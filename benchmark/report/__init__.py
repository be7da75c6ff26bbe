"""Reading a sweep's results back: Pareto fronts, tables and plots."""
