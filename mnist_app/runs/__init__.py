"""Runs kept and run: the database, the store, who owns what, and the managers that train.

`RunStore` keeps every run's config, history, results and model, made of one part per concern
(`store` the runs, `sweeps`, `weights`, `rules`, `model_files`) on one engine and schema version
(`database`): SQLite on a laptop, PostgreSQL on a class server. Trainings run through one
`RunManager` protocol (`managers`): this process's threads (`jobs`) or warm Ray trainers that
take queued runs from the database (`cluster`, `trainer_pool`, `ray_actor`), chosen by
`managers.shared_manager`.
"""
