"""Annotation vendors: where batches go and where labels come back from.

``registry.make_vendor`` builds the vendor a config names; each vendor lives in its own module.
"""
