"""A small Celery project (test data): ``tasks.py`` is written the way Celery users write
it. The tests copy this package under a fresh name per test; option A replaces the one
import line of ``tasks.py``, option B runs it unchanged."""
