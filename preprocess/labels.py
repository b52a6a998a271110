"""Choosing and cleaning entity labels, the same way for every Wikidata source."""


def best_label(labels, preferred):
    """The first label ({lang: text}) among ``preferred`` languages, else the first of the
    others by language code, else ""."""
    for lang in (*preferred, *sorted(labels)):
        value = labels.get(lang)
        if value:
            return clean(value)
    return ""


def clean(label):
    """A label fit for a TSV field: tabs and newlines become spaces."""
    return label.replace("\t", " ").replace("\n", " ") if isinstance(label, str) else ""
