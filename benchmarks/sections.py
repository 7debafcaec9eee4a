"""Results files whose sections are rewritten by the scripts that measure them, between markers."""
from pathlib import Path


def replace_between(doc: str, begin: str, end: str, text: str) -> str:
    """`doc` with the part between the markers (markers kept) replaced, or the block appended."""
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        return doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def write_section(path: Path, body: str, key: str, header: str = "") -> None:
    """Rewrite the `<!-- bench:key -->` section of `path` (a new file starts with `header`)."""
    doc = path.read_text() if path.exists() else header
    path.write_text(replace_between(doc, f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->", body))
