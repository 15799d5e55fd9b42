"""Runs kept and run: the database, the store, who owns what, and the managers that train.

The store keeps every run's config, history, results and model, plus sweeps, weight statistics,
class rules and server secrets, all in one database (SQLite on a laptop, PostgreSQL on a class
server). Trainings run through one `RunManager` protocol: local threads (`jobs`) or detached Ray
actors (`cluster`), chosen by `managers.shared_manager`.
"""
