"""sitelinks.sqlite: per language, title -> QID (link resolution), the items' and the properties' labels.

Rows arrive in an order that depends on the run (worker processes, shards, sources), so a
conflict is settled by value, not by arrival: a title held by two items (a dump caught
mid-edit) goes to the smaller QID, an item's (a property's) label in a language is the
smaller text.
The file is only ever written inside a ``.partial`` directory that is renamed when
complete, so it goes without a rollback journal.
"""

import sqlite3

# table: (columns, primary key, the column a conflict keeps the smaller of)
_TABLES = {
    "sitelinks": ("lang TEXT, title TEXT, qid INTEGER", "lang, title", "qid"),
    "labels": ("lang TEXT, qid INTEGER, label TEXT", "lang, qid", "label"),
    "property_labels": ("lang TEXT, pid INTEGER, label TEXT", "lang, pid", "label"),
}


def create(path):
    """A new, empty sitelinks.sqlite at ``path``; returns the connection."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    for table, (columns, key, _) in _TABLES.items():
        db.execute(f"CREATE TABLE {table} ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID")
    return db


def _upsert(table, source):
    value = _TABLES[table][2]
    return f"INSERT INTO {table} {source} ON CONFLICT DO UPDATE SET {value} = min({value}, excluded.{value})"


def add(db, sitelinks=(), labels=(), property_labels=()):
    """Add (lang, title, qid), (lang, qid, label) and (lang, pid, label) rows."""
    db.executemany(_upsert("sitelinks", "VALUES (?, ?, ?)"), sitelinks)
    db.executemany(_upsert("labels", "VALUES (?, ?, ?)"), labels)
    db.executemany(_upsert("property_labels", "VALUES (?, ?, ?)"), property_labels)


def add_file(db, path):
    """Add every row of another sitelinks.sqlite (a worker's, a shard's), in key order."""
    db.execute("ATTACH DATABASE ? AS other", (path,))
    for table, (_, key, _) in _TABLES.items():
        # "WHERE true": sqlite's parser needs it between INSERT ... SELECT and ON CONFLICT
        db.execute(_upsert(table, f"SELECT * FROM other.{table} WHERE true ORDER BY {key}"))
    db.commit()
    db.execute("DETACH DATABASE other")
