"""A weekly schedule asked for from a date ("2027-12-04 18:00", repeat weekly) first fires on
that date: `starts_at` (epoch seconds) is the instant before which it never fires. NULL: from
when it was created, as before."""

SQL = """
ALTER TABLE schedules ADD COLUMN starts_at REAL;
"""
