"""Speed benchmarks of the autoencoder lab: ``python -m benchmarks.run`` (``make bench``).

See benchmarks/README.md for what each row measures.
"""
