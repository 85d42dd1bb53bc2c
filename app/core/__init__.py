"""The money core: use cases with typed inputs and results, and domain errors.

Nothing here knows of Flask or HTTP: the views and controllers (the edge) call
in with plain values, the job runner and the CLI can too, and what a use case
refuses it raises as a :class:`app.core.errors.DomainError`, which the edge
maps to a status and a code in one table (``app/errors.py``).
"""
