"""Quality evaluation against ground truth: MOTChallenge tracking (`vigil.evaluation.mot`).

The trackers compared live in `vigil.evaluation.baselines`; `vigil eval track` and
`benchmarks/tracking.py` drive both.
"""
