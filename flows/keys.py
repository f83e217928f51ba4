"""Where the pseudonymisation key comes from: the environment or a Prefect Secret block, never
the repository, never the warehouse, never a flow-run parameter or a log line.

Order, first found wins:

1. `$JOINEDUP_PSEUDONYM_KEY` (what a service manager or CI secret store injects);
2. the Prefect Secret block named by `$JOINEDUP_PSEUDONYM_SECRET`, else by
   `keys: {pseudonym_secret_block: ...}` in joinedup.yaml, else `joinedup-pseudonym-key`
   (create it with `prefect block create secret` or `Secret(value=...).save(name)`);
3. for the demo only: `<home>/secrets/pseudonym.key`, generated at random on first use (file
   0600, folder 0700) with a warning saying so. Pseudonyms stay stable for that home, but a
   key kept beside the data protects nothing, so real deployments set 1 or 2.

The key is resolved inside the task that uses it and handed straight to
`warehouse.pseudonym`, so it never becomes a task or flow argument that Prefect would record.
"""

from __future__ import annotations

import logging
import os
import secrets as random_secrets

from flows.home import Home
from flows.settings import DEFAULT_SETTINGS, KeySettings
from warehouse.pseudonym import PseudonymKeyError, check_key

KEY_ENV = "JOINEDUP_PSEUDONYM_KEY"
BLOCK_ENV = "JOINEDUP_PSEUDONYM_SECRET"
DEFAULT_BLOCK = "joinedup-pseudonym-key"

log = logging.getLogger("joinedup")


def block_name(keys: KeySettings) -> str:
    return os.environ.get(BLOCK_ENV) or keys.pseudonym_secret_block or DEFAULT_BLOCK


def from_secret_block(name: str) -> bytes | None:
    """The Secret block's value, or None when no block has that name. Any other failure (the
    Prefect server is down, say) is raised: falling back to another key would silently give
    every child a new pseudonym."""
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        block = Secret.load(name)
    except ValueError as exc:
        if isinstance(exc.__cause__, ObjectNotFound):
            return None
        raise
    value = block.value.get_secret_value()     # not .get(): that parses JSON-looking text
    if not isinstance(value, str):
        raise PseudonymKeyError(f"the Prefect Secret block '{name}' must hold text")
    return value.encode("utf-8")


def demo_key(home: Home) -> bytes:
    path = home.demo_key
    home.ensure()
    path.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(random_secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("no pseudonymisation key in $%s or a Prefect Secret block: generated a "
                    "demo key in %s (set one of those for real data)", KEY_ENV, path)
    os.chmod(path, 0o600)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def resolve_key(home: Home, keys: KeySettings = DEFAULT_SETTINGS.key_settings) -> tuple[bytes, str]:
    """(key, where it came from); the second item is safe to log, the first never is."""
    value = os.environ.get(KEY_ENV)
    if value:
        origin = f"${KEY_ENV}"
        return check_key(value.encode("utf-8"), origin), origin
    name = block_name(keys)
    key = from_secret_block(name)
    if key is not None:
        origin = f"Prefect Secret block '{name}'"
        return check_key(key, origin), origin
    origin = f"demo key file {home.demo_key}"
    return check_key(demo_key(home), origin), origin
