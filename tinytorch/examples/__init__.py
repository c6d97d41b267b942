"""Runnable end-to-end examples (``tinytorch mlp`` runs ``mlp_digits``)."""
