"""Fault injection: `vigil chaos` runs each scenario against real components and says what survived."""
