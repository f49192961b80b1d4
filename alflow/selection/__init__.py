"""Selecting a batch: the one batch builder (rounds and simulations), the policy, candidates,
committees, the portfolio."""
