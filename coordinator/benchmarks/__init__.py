"""Benchmarks of `tocsin bench ...` that live outside the application's modules.

Each prints figures and ends with one summary line; nothing is asserted (timing on
a shared machine is noise: compare ratios to a reference measured in the same run).
"""
