"""Execution names a person can read and search: ``<repo>-<branch>-<sha7>-<hash6>[-<suffix>]``.

Step Functions refuses whitespace, ``<>{}[]?*"#%\\^|~`$&,;:/`` and control characters in a name and
allows 1-80 characters; CloudWatch Logs (which the state machine logs to) wants only ``0-9 A-Z a-z - _``.
Names here use that narrow set: accents are folded to ASCII (``café`` -> ``cafe``), every other
character becomes ``-``. The readable part may lose information (truncated, folded); the six hex
digits of a SHA-256 over the full, unsanitised identity keep names of different triggers apart, and
the same trigger always gets the same name, so Step Functions itself refuses to start it twice.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_NAME_CHARS = 80
MAX_SUFFIX_CHARS = 24
REPOSITORY_CHARS = 32
"""The repository part is cut to this many characters so that the branch keeps room."""

SHORT_COMMIT_CHARS = 7
HASH_CHARS = 6
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def sanitise(text: str) -> str:
    """Fold to ASCII, replace runs of other characters by one ``-``, trim ``-`` at the ends."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _DASHES.sub("-", _NOT_ALLOWED.sub("-", folded)).strip("-")


def identity_hash(repository: str, branch: str, commit: str, discriminator: str) -> str:
    """Six hex digits over the unsanitised identity; ``\\x1f`` separates fields so none can forge another."""
    identity = "\x1f".join((repository, commit, branch, discriminator))
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def _cut(text: str, limit: int) -> str:
    return text[: max(limit, 0)].rstrip("-")


def execution_name(repository: str, branch: str, commit: str, discriminator: str, suffix: str = "") -> str:
    """The execution name of one trigger: deterministic, at most 80 characters of ``[A-Za-z0-9_-]``.

    ``repository`` is ``owner/repo`` (only ``repo`` is shown; the hash covers both), ``commit`` a
    commit id or any version label (its first 7 characters are shown), ``discriminator`` what
    else tells two triggers of the same commit apart (empty for a GHE push; bucket, key, version id
    and sequencer for an S3 upload). ``suffix`` (e.g. ``replay-2``) is kept whole, after the hash.
    """
    tail_suffix = sanitise(suffix)
    if len(tail_suffix) > MAX_SUFFIX_CHARS:
        raise ValueError(f"execution name suffix {suffix!r}: at most {MAX_SUFFIX_CHARS} characters once sanitised")
    tail = [sanitise(commit)[:SHORT_COMMIT_CHARS].rstrip("-"), identity_hash(repository, branch, commit, discriminator)]
    if tail_suffix:
        tail.append(tail_suffix)
    tail_text = "-".join(part for part in tail if part)
    room = MAX_NAME_CHARS - len(tail_text) - 1  # the '-' before the tail
    repo = _cut(sanitise(repository.rsplit("/", 1)[-1]), min(REPOSITORY_CHARS, room))
    branch_room = room - len(repo) - (1 if repo else 0)
    head = [repo, _cut(sanitise(branch), branch_room)]
    return "-".join(part for part in (*head, tail_text) if part)


def ghe_discriminator() -> str:
    """A push is identified by repository, commit and branch alone: redeliveries get the same name."""
    return ""


def s3_discriminator(bucket: str, key: str, version_id: str | None, sequencer: str | None) -> str:
    """S3 delivers at least once; duplicates of one notification share key, version id and sequencer."""
    return "\x1f".join(("s3", bucket, key, version_id or "", sequencer or ""))
