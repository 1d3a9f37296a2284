"""A study's life in one package: storage and its URL, create-or-load under a lock,
budgets that bind every worker, retries and the database's clock, and every use of
Optuna's internals (``optuna_internals``, pinned by a test to the Optuna version).

Kept import-light on purpose: the CLI imports the storage helpers before it picks the
Keras backend, so nothing here may import Keras at package level.
"""
