"""Read a Vigil YAML file into a validated `VigilConfig`, or say every problem with its path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import yaml

from config.models import VigilConfig
from vigil.core.errors import ConfigError

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigErrors(ConfigError):
    """The file does not validate; `problems` holds one 'yaml.path: message' line per error."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} error(s)\n" + "\n".join(f"  {p}" for p in problems))


def format_location(location: tuple[int | str, ...]) -> str:
    """('cameras', 3, 'zones', 1, 'polygon') -> 'cameras[3].zones[1].polygon'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _interpolate(value: Any, path: str, environ: Mapping[str, str], problems: list[str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in strings with the environment's values."""
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{path}.{k}" if path else str(k), environ, problems) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            f"{path}: environment variable {name} is not set (or give a default: ${{{name}:-...}})"
        )
        return match.group(0)

    return _ENV_REFERENCE.sub(substitute, value)


def _pydantic_problems(error: pydantic.ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        location = format_location(tuple(item["loc"]))
        for line in message.splitlines():
            # Cross-field checks already start with their own path.
            problems.append(line if not location or re.match(r"^\w+\[", line) else f"{location}: {line}")
    return problems


def parse_config(
    data: Any, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> VigilConfig:
    """Validate an already-parsed YAML document.

    Raises:
        ConfigErrors: with one line per problem, each naming its YAML path.
    """
    if not isinstance(data, dict):
        raise ConfigErrors(source, [f"top level: expected a mapping, got {type(data).__name__}"])
    problems: list[str] = []
    data = _interpolate(data, "", os.environ if environ is None else environ, problems)
    if problems:
        raise ConfigErrors(source, problems)
    try:
        return VigilConfig.model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigErrors(source, _pydantic_problems(error)) from None


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> VigilConfig:
    """Load and validate a YAML file; `data_dir` is made relative to the file's folder.

    Raises:
        ConfigError: the file is missing or is not YAML.
        ConfigErrors: the YAML does not validate.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    config = parse_config(data, str(path), environ)
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (path.parent / config.data_dir).resolve()})
    return config
