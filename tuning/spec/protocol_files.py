"""Where protocols come from: the shipped ones by name, or a YAML file by path."""

from __future__ import annotations

from pathlib import Path

from optcompare.errors import InputError

__all__ = ["PROTOCOL_DIR", "protocol_path", "shipped_protocols"]

PROTOCOL_DIR = Path(__file__).parent.parent / "protocols"


def shipped_protocols() -> list[str]:
    """Names of the protocols that ship with optcompare."""
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.yaml"))


def protocol_path(name_or_path: str, base_dir: Path | None = None, where: str = "protocol") -> Path:
    """A shipped protocol by name, or a YAML file path (relative to ``base_dir``).

    ``where`` prefixes the error message (e.g. ``"CONFIG: protocols[1]"``)."""
    if isinstance(name_or_path, str) and "\0" not in name_or_path:
        if "/" not in name_or_path and (PROTOCOL_DIR / f"{name_or_path}.yaml").is_file():
            return PROTOCOL_DIR / f"{name_or_path}.yaml"
        candidate = Path(name_or_path)
        if not candidate.is_absolute() and base_dir is not None:
            candidate = base_dir / candidate
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate
    raise InputError(
        f"{where}: unknown protocol {name_or_path!r}; valid choices: {', '.join(shipped_protocols())} "
        "or the path of a protocol YAML file"
    )
