"""Wikimedia site ids -> Wikipedia language codes (shared by the sitelink readers)."""

# Site ids that end in "wiki" but are not Wikipedias.
NOT_WIKIPEDIAS = {
    "commonswiki", "wikidatawiki", "specieswiki", "metawiki", "sourceswiki", "mediawikiwiki",
    "outreachwiki", "wikimaniawiki", "foundationwiki", "incubatorwiki", "testwiki",
    "testwikidatawiki", "wikifunctionswiki", "abstractwiki", "otrs_wikiwiki", "strategywiki",
    "tenwiki", "votewiki", "donatewiki", "nostalgiawiki", "loginwiki", "labswiki",
}


def wikipedia_language(site):
    """'enwiki' -> 'en', 'zh_min_nanwiki' -> 'zh-min-nan'; None for other sites."""
    if not site.endswith("wiki") or site in NOT_WIKIPEDIAS:
        return None
    return site[: -len("wiki")].replace("_", "-")


def wikipedia_site(lang):
    """'zh-min-nan' -> 'zh_min_nanwiki'; None when that site id is not a Wikipedia's."""
    site = lang.replace("-", "_") + "wiki"
    return site if wikipedia_language(site) == lang else None
