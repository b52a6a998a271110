"""Results JSON of xlmk-probe and xlmk-eval, written so that no half-written file is left."""

import json
import os
import tempfile


def write_results(path, data):
    """Write ``data`` to a temporary file beside ``path`` and rename it; OSError on failure."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".xlmk-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
