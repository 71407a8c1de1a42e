"""Schema migrations, one module per step: `mNNNN_what.py` with a module-level `SQL` string.

To add tables (schedules, outbox, feeds, guild settings, ...): add a new module here with the
next free number, e.g. `m0003_outbox.py`:

    SQL = '''
    CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        ...
    );
    '''

That is all: `open_store` finds the modules by name, runs the ones a database has not seen yet
in number order, each in its own transaction together with its row in `schema_version`. Never
edit a migration that has shipped: a database that already ran it will not run it again, so a
change needs a new step (`ALTER TABLE ...`). Two modules with the same number are refused with
an error naming both (two people picked the same number: renumber yours).
"""
