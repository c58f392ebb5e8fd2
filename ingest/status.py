"""Each KB file against the live index: served as is, changed since, new, or gone."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import IndexError_
from core.settings import Settings
from index.store import live_or_none
from ingest.collect import read_sources
from ingest.store import open_versions


@dataclass(frozen=True)
class DocumentStatus:
    path: str
    status: str  # "live" | "modified" | "new" | "deleted"


def document_status(settings: Settings) -> list[DocumentStatus]:
    # The manifest alone says what is served; loading and checksumming the whole version
    # on every editor-page rerun would be wasted work.
    store = open_versions(settings)
    live = live_or_none(store)
    served: dict[str, str] = {}
    if live:
        try:
            served = store.manifest(live).kb_files
        except IndexError_:
            pass  # an unreadable manifest serves nothing we can compare: every file shows as new
    on_disk = {f.rel: f.sha256 for f in read_sources(settings.kb_dir, settings.max_file_bytes)}
    out = []
    for rel in sorted(set(on_disk) | set(served)):
        if rel not in on_disk:
            out.append(DocumentStatus(rel, "deleted"))
        elif rel not in served:
            out.append(DocumentStatus(rel, "new"))
        else:
            out.append(DocumentStatus(rel, "live" if served[rel] == on_disk[rel] else "modified"))
    return out
