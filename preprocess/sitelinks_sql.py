"""Wikidata's ``wb_items_per_site`` table dump -> the sitelinks table (which items are kept).

``wikidatawiki-latest-wb_items_per_site.sql.gz`` holds one row per sitelink of every item:
``(ips_row_id, ips_item_id, ips_site_id, ips_site_page)``, e.g. ``(7,64,'enwiki','Berlin')``:
item Q64's page on the English Wikipedia is "Berlin" (a title with spaces, as in the JSON
dump's sitelinks). Rows of sites that are not a Wikipedia of the chosen languages are passed
over.
"""

import contextlib
from array import array

import numpy as np
from tqdm import tqdm

from . import sitelinks_db
from .dump_io import open_dump, read_chunks
from .mysql_dump import table_rows
from .sites import wikipedia_language

TABLE = "wb_items_per_site"
COLUMNS = ("ips_row_id", "ips_item_id", "ips_site_id", "ips_site_page")
CHUNK_BYTES = 1 << 22
BATCH_ROWS = 100_000


def read(paths, languages, db, counts, skipped):
    """Add the sitelinks to Wikipedias of ``languages`` from the dumps at ``paths`` to the
    sitelinks table of ``db`` (when it is not None) and to ``counts``/``skipped``; return
    the QIDs that have one, sorted."""
    languages = set(languages)
    site_language = {}
    qids, rows = array("q"), []
    for path in paths:
        with contextlib.closing(open_dump(path)) as stream:
            chunks = read_chunks(stream, path, CHUNK_BYTES)
            for row in tqdm(table_rows(chunks, path, TABLE, COLUMNS), desc=TABLE, unit=" rows", unit_scale=True):
                counts["wb_items_per_site_rows"] += 1
                _, item, site, title = row
                if site not in site_language:
                    name = site.decode("utf-8", "replace") if isinstance(site, bytes) else ""
                    site_language[site] = wikipedia_language(name)
                lang = site_language[site]
                if lang not in languages:
                    continue
                if not isinstance(item, int) or not isinstance(title, bytes) or not title:
                    skipped["sitelink_row_malformed"] += 1
                    continue
                try:
                    rows.append((lang, title.decode("utf-8"), item))
                except UnicodeDecodeError:
                    skipped["sitelink_invalid_utf8"] += 1
                    continue
                qids.append(item)
                if len(rows) >= BATCH_ROWS:
                    _insert(db, rows, counts)
    _insert(db, rows, counts)
    return np.unique(np.frombuffer(qids, dtype=np.int64))


def _insert(db, rows, counts):
    if db is not None:
        sitelinks_db.add(db, sitelinks=rows)
    counts["sitelinks"] += len(rows)
    rows.clear()
