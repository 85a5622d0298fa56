"""Cameras, zones, lines, privacy masks and rules changed on the running site, and its YAML file reloaded.

`SiteConfigService` owns the site's YAML file while ``vigil run CONFIG`` runs. Every change
is made to the parsed YAML document, not to the validated model, so ``${VAR}`` references
and ``defaults:`` stay as they were written; it is then validated by building a whole new
`VigilConfig` (an invalid change is refused with the loader's ``yaml.path: message`` lines
and nothing is applied), written back atomically (a temp file renamed over the old one,
which is kept as ``<file>.bak``), applied to the running cameras through a `CameraRunner`
(only the cameras the change touches restart; new zones, lines, calibrations, privacy masks
and rules restart none: the camera's rules are rebuilt and it runs on), and written to the
audit log with its reason.

The file is refused (`SiteFileChanged`) when it changed on disk since it was last read or
written: an edit by hand is reloaded (`SiteConfigService.reload`) before the API writes over it.
Comments in the YAML file do not survive a write (PyYAML does not keep them); ``.bak`` does.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from config.loader import ConfigErrors, parse_config
from config.models import CameraConfig, Line, Polygon, RuleSpec, VigilConfig
from vigil.core.errors import ConfigError, ServiceError, ValidationError, VigilError
from vigil.infra.db.cases import AuditRecord, CaseStore

_IN_PLACE_FIELDS: dict[str, Any] = {"zones": [], "lines": [], "calibration": None, "privacy_masks": []}
"""Camera fields a running camera takes without a restart (only its rules and masks use them)."""
_RULE_PROBLEM = re.compile(r"^rules\[(\d+)\]")
_REFERENCE = "${"


class SiteChangeError(ValidationError):
    """The change would leave the site's config invalid; `problems` holds 'yaml.path: message' lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class CameraNotFound(ValidationError):
    """No camera with that id is configured."""


class CameraExists(ValidationError):
    """A camera with that id is configured already."""


class RuleNotFound(ValidationError):
    """No rule with that name is configured."""


class RuleExists(ValidationError):
    """A rule with that name is configured already."""


class SiteFileChanged(VigilError):
    """The YAML file changed on disk since it was read: reload it before changing it here."""


@dataclass(frozen=True)
class SiteDiff:
    """What differs between the running config and a new one, per camera.

    Attributes:
        added: Camera ids only the new config has (started if enabled).
        removed: Camera ids only the old config has (stopped; recordings stay).
        restarted: Cameras whose settings changed beyond zones, lines, calibration and privacy
            masks (restarted).
        rezoned: Cameras where only zones, lines, calibration, privacy masks or the rules
            watching them changed:
            the running camera takes them from its next frame on, nothing restarts.
        unchanged: How many cameras are the same in both.
        sections: Top-level settings other than cameras and rules that changed (e.g.
            ``detector``); they take effect at the next start only.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    rezoned: tuple[str, ...] = ()
    unchanged: int = 0
    sections: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        """Cameras present in both configs whose config changed (restarted or re-zoned)."""
        return self.restarted + self.rezoned


def diff_configs(old: VigilConfig, new: VigilConfig) -> SiteDiff:
    """Compare two validated configs camera by camera (see `SiteDiff`)."""
    before = {camera.id: camera for camera in old.cameras}
    after = {camera.id: camera for camera in new.cameras}
    restarted, rezoned, unchanged = [], [], 0
    for camera_id, camera in after.items():
        previous = before.get(camera_id)
        if previous is None:
            continue
        if previous.model_copy(update=_IN_PLACE_FIELDS) != camera.model_copy(update=_IN_PLACE_FIELDS):
            restarted.append(camera_id)
        elif previous != camera or _rules_of(old, camera_id) != _rules_of(new, camera_id):
            rezoned.append(camera_id)
        else:
            unchanged += 1
    sections = tuple(
        name
        for name in VigilConfig.model_fields
        if name not in ("cameras", "rules") and getattr(old, name) != getattr(new, name)
    )
    return SiteDiff(
        added=tuple(camera_id for camera_id in after if camera_id not in before),
        removed=tuple(camera_id for camera_id in before if camera_id not in after),
        restarted=tuple(restarted),
        rezoned=tuple(rezoned),
        unchanged=unchanged,
        sections=sections,
    )


def _rules_of(config: VigilConfig, camera_id: str) -> list[object]:
    return [rule for rule in config.rules if rule.camera == camera_id]


class CameraRunner(Protocol):
    """The running cameras (`vigil.runtime.Runtime`): what a config change is applied to."""

    def reconfigure(self, config: VigilConfig, diff: SiteDiff) -> None:
        """Run `config` from now on, starting, stopping and restarting only the cameras `diff` names."""
        ...


class SiteControl(Protocol):
    """What the API's camera administration calls (`SiteConfigService` is the real one).

    Every change is validated, saved to the site's YAML file, applied to the running
    cameras and audited with `user` and `reason`, or refused with nothing changed.
    """

    @property
    def config(self) -> VigilConfig:
        """The config the site runs now."""
        ...

    def add_camera(self, camera: CameraConfig, *, user: str, reason: str) -> CameraConfig:
        """Add and start a camera; returns it as configured (``defaults:`` merged)."""
        ...

    def update_camera(self, camera_id: str, camera: CameraConfig, *, user: str, reason: str) -> CameraConfig:
        """Replace a camera's settings; it restarts unless only its zones or masks changed."""
        ...

    def set_enabled(self, camera_id: str, enabled: bool, *, user: str, reason: str) -> CameraConfig:
        """Enable (start) or disable (stop) a camera."""
        ...

    def remove_camera(self, camera_id: str, *, user: str, reason: str) -> None:
        """Stop and remove a camera; its recordings stay until retention expires them."""
        ...

    def set_zones(
        self,
        camera_id: str,
        zones: Sequence[Polygon],
        privacy_masks: Sequence[Polygon],
        *,
        user: str,
        reason: str,
        lines: Sequence[Line] | None = None,
    ) -> CameraConfig:
        """Replace a camera's zones, privacy masks (and lines, unless None) without a restart."""
        ...

    def add_rule(self, rule: RuleSpec, *, user: str, reason: str) -> RuleSpec:
        """Add a rule; its camera runs it from the next frame on."""
        ...

    def update_rule(self, name: str, rule: RuleSpec, *, user: str, reason: str) -> RuleSpec:
        """Replace a rule's settings (it may move to another camera); the cameras run on."""
        ...

    def set_rule_enabled(self, name: str, enabled: bool, *, user: str, reason: str) -> RuleSpec:
        """Switch a rule on or off; it stays configured."""
        ...

    def remove_rule(self, name: str, *, user: str, reason: str) -> None:
        """Remove a rule; its alerts and counts stay in the database."""
        ...

    def reload(self, *, user: str, reason: str) -> SiteDiff:
        """Read the YAML file again and apply what differs."""
        ...


class SiteConfigService:
    """The site's YAML file, the config it validates to, and the changes made to both.

    Thread-safe: one change at a time.

    Args:
        path: The site's YAML file (what ``vigil run`` was given).
        config: The config the runtime was started with (loaded from `path`).
        runner: Applies a new config to the running cameras.
        audit: The audit log (``case_id`` NULL; actions ``camera.add``, ``camera.update``,
            ``camera.enable``, ``camera.disable``, ``camera.remove``, ``zones.update``,
            ``rule.add``, ``rule.update``, ``rule.enable``, ``rule.disable``, ``rule.remove``,
            ``config.reload``). Stream URLs never go into it.
        environ: Environment for ``${VAR}`` references; default ``os.environ``.

    Raises:
        ConfigError: `path` cannot be read or is not YAML.
    """

    def __init__(
        self,
        path: Path,
        config: VigilConfig,
        runner: CameraRunner,
        audit: CaseStore,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self._config = config
        self._runner = runner
        self._audit = audit
        self._environ = environ
        self._lock = threading.Lock()
        self._doc, self._digest = self._read()

    @property
    def config(self) -> VigilConfig:
        return self._config

    # -- changes --------------------------------------------------------------------------------

    def add_camera(self, camera: CameraConfig, *, user: str, reason: str) -> CameraConfig:
        with self._lock:
            if camera.id in {c.id for c in self._config.cameras}:
                raise CameraExists(f"camera {camera.id!r} is configured already")
            doc = copy.deepcopy(self._doc)
            cameras = doc.setdefault("cameras", [])
            if not isinstance(cameras, list):
                raise SiteChangeError(["cameras: expected a list in the YAML file"])
            cameras.append(_camera_yaml(camera))
            config = self._commit(doc, user, reason, "camera.add", {"camera_id": camera.id})
            return config.camera(camera.id)

    def update_camera(self, camera_id: str, camera: CameraConfig, *, user: str, reason: str) -> CameraConfig:
        if camera.id != camera_id:
            raise SiteChangeError(
                [
                    f"camera.id: expected {camera_id!r} (the camera being changed), got {camera.id!r}; "
                    "to rename a camera remove it and add it again"
                ]
            )
        with self._lock:
            current = self._camera(camera_id)
            doc = copy.deepcopy(self._doc)
            index, raw = self._raw_camera(doc, camera_id)
            new = _camera_yaml(camera)
            for key in ("url", "detect_url"):
                # The camera sent back as it was shown (resolved): keep its ${VAR} reference.
                written = raw.get(key)
                if (
                    isinstance(written, str)
                    and _REFERENCE in written
                    and new.get(key) == getattr(current, key)
                ):
                    new[key] = written
            doc["cameras"][index] = new
            after = self._validate(doc).camera(camera_id)  # ``defaults:`` merged, as it will run
            fields = sorted(
                name for name in CameraConfig.model_fields if getattr(current, name) != getattr(after, name)
            )
            config = self._commit(
                doc, user, reason, "camera.update", {"camera_id": camera_id, "fields": fields}
            )
            return config.camera(camera_id)

    def set_enabled(self, camera_id: str, enabled: bool, *, user: str, reason: str) -> CameraConfig:
        with self._lock:
            self._camera(camera_id)
            doc = copy.deepcopy(self._doc)
            _, raw = self._raw_camera(doc, camera_id)
            raw["enabled"] = enabled
            action = "camera.enable" if enabled else "camera.disable"
            config = self._commit(doc, user, reason, action, {"camera_id": camera_id})
            return config.camera(camera_id)

    def remove_camera(self, camera_id: str, *, user: str, reason: str) -> None:
        with self._lock:
            self._camera(camera_id)
            doc = copy.deepcopy(self._doc)
            index, _ = self._raw_camera(doc, camera_id)
            del doc["cameras"][index]
            self._commit(doc, user, reason, "camera.remove", {"camera_id": camera_id})

    def set_zones(
        self,
        camera_id: str,
        zones: Sequence[Polygon],
        privacy_masks: Sequence[Polygon],
        *,
        user: str,
        reason: str,
        lines: Sequence[Line] | None = None,
    ) -> CameraConfig:
        with self._lock:
            self._camera(camera_id)
            doc = copy.deepcopy(self._doc)
            _, raw = self._raw_camera(doc, camera_id)
            raw["zones"] = [zone.model_dump(mode="json") for zone in zones]
            raw["privacy_masks"] = [mask.model_dump(mode="json") for mask in privacy_masks]
            detail: dict[str, Any] = {
                "camera_id": camera_id,
                "zones": [zone.name for zone in zones],
                "privacy_masks": len(privacy_masks),
            }
            if lines is not None:
                raw["lines"] = [line.model_dump(mode="json", exclude_unset=True) for line in lines]
                detail["lines"] = [line.name for line in lines]
            config = self._commit(doc, user, reason, "zones.update", detail)
            return config.camera(camera_id)

    # -- rules ----------------------------------------------------------------------------------

    def add_rule(self, rule: RuleSpec, *, user: str, reason: str) -> RuleSpec:
        with self._lock:
            if rule.name in {r.name for r in self._config.rules}:
                raise RuleExists(f"rule {rule.name!r} is configured already")
            doc = copy.deepcopy(self._doc)
            rules = doc.setdefault("rules", [])
            if not isinstance(rules, list):
                raise SiteChangeError(["rules: expected a list in the YAML file"])
            rules.append(_rule_yaml(rule))
            config = self._commit(doc, user, reason, "rule.add", _rule_detail(rule))
            return _rule_of(config, rule.name)

    def update_rule(self, name: str, rule: RuleSpec, *, user: str, reason: str) -> RuleSpec:
        if rule.name != name:
            raise SiteChangeError(
                [
                    f"rule.name: expected {name!r} (the rule being changed), got {rule.name!r}; "
                    "to rename a rule remove it and add it again"
                ]
            )
        with self._lock:
            current = self._rule(name)
            doc = copy.deepcopy(self._doc)
            index, _ = self._raw_rule(doc, name)
            doc["rules"][index] = _rule_yaml(rule)
            after = _rule_of(self._validate(doc), name)
            changed = sorted(
                key
                for key in {*type(current).model_fields, *type(after).model_fields}
                if getattr(current, key, None) != getattr(after, key, None)
            )
            detail = _rule_detail(after) | {"fields": changed}
            config = self._commit(doc, user, reason, "rule.update", detail)
            return _rule_of(config, name)

    def set_rule_enabled(self, name: str, enabled: bool, *, user: str, reason: str) -> RuleSpec:
        with self._lock:
            rule = self._rule(name)
            doc = copy.deepcopy(self._doc)
            _, raw = self._raw_rule(doc, name)
            raw["enabled"] = enabled
            action = "rule.enable" if enabled else "rule.disable"
            config = self._commit(doc, user, reason, action, _rule_detail(rule))
            return _rule_of(config, name)

    def remove_rule(self, name: str, *, user: str, reason: str) -> None:
        with self._lock:
            rule = self._rule(name)
            doc = copy.deepcopy(self._doc)
            index, _ = self._raw_rule(doc, name)
            del doc["rules"][index]
            self._commit(doc, user, reason, "rule.remove", _rule_detail(rule))

    def reload(self, *, user: str, reason: str) -> SiteDiff:
        """Read the file again, validate it and apply what differs; nothing is applied if it is invalid.

        Raises:
            ConfigError: The file cannot be read or is not YAML.
            SiteChangeError: It does not validate.
        """
        with self._lock:
            doc, digest = self._read()
            config = self._validate(doc)
            diff = diff_configs(self._config, config)
            self._runner.reconfigure(config, diff)
            self._doc, self._digest, self._config = doc, digest, config
            self._record(
                user,
                reason,
                "config.reload",
                {
                    "added": list(diff.added),
                    "removed": list(diff.removed),
                    "changed": list(diff.changed),
                    "not_applied": list(diff.sections),
                },
            )
            return diff

    # -- internals ------------------------------------------------------------------------------

    def _commit(
        self, doc: dict[str, Any], user: str, reason: str, action: str, detail: dict[str, Any]
    ) -> VigilConfig:
        """Validate, save, apply and audit a changed document (the caller holds the lock)."""
        config = self._validate(doc)
        diff = diff_configs(self._config, config)
        self._write(doc)
        self._runner.reconfigure(config, diff)
        self._doc, self._config = doc, config
        self._record(user, reason, action, detail)
        return config

    def _camera(self, camera_id: str) -> CameraConfig:
        try:
            return self._config.camera(camera_id)
        except KeyError:
            raise CameraNotFound(f"camera {camera_id!r} is not configured") from None

    def _rule(self, name: str) -> RuleSpec:
        try:
            return _rule_of(self._config, name)
        except RuleNotFound:
            raise RuleNotFound(f"rule {name!r} is not configured") from None

    def _raw_rule(self, doc: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
        """The rule's own mapping in the YAML document, and its index under ``rules:``."""
        rules = doc.get("rules")
        for index, raw in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(raw, dict) and raw.get("name") == name:
                return index, raw
        raise RuleNotFound(f"rule {name!r} is not in {self.path}")

    def _raw_camera(self, doc: dict[str, Any], camera_id: str) -> tuple[int, dict[str, Any]]:
        """The camera's own mapping in the YAML document, and its index under ``cameras:``."""
        cameras = doc.get("cameras")
        for index, raw in enumerate(cameras if isinstance(cameras, list) else []):
            if isinstance(raw, dict) and raw.get("id") == camera_id:
                return index, raw
        raise CameraNotFound(f"camera {camera_id!r} is not in {self.path}")

    def _validate(self, doc: dict[str, Any]) -> VigilConfig:
        """The config `doc` describes, as `config.loader.load_config` would build it from the file."""
        try:
            config = parse_config(doc, str(self.path), self._environ)
        except ConfigErrors as error:
            raise SiteChangeError(_name_rules(error.problems, doc)) from None
        if not config.data_dir.is_absolute():
            config = config.model_copy(update={"data_dir": (self.path.parent / config.data_dir).resolve()})
        return config

    def _read(self) -> tuple[dict[str, Any], str]:
        try:
            text = self.path.read_bytes()
        except OSError as error:
            raise ConfigError(f"{self.path}: cannot read config file: {error.strerror}") from None
        try:
            doc = yaml.safe_load(text.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error)
            raise ConfigError(f"{self.path}: not valid YAML{where}: {problem}") from None
        if not isinstance(doc, dict):
            raise SiteChangeError([f"top level: expected a mapping, got {type(doc).__name__}"])
        return doc, hashlib.sha256(text).hexdigest()

    def _write(self, doc: dict[str, Any]) -> None:
        """Replace the file atomically, keeping the previous version as ``<file>.bak``."""
        try:
            current = self.path.read_bytes()
        except OSError as error:
            raise ConfigError(f"{self.path}: cannot read config file: {error.strerror}") from None
        if hashlib.sha256(current).hexdigest() != self._digest:
            raise SiteFileChanged(
                f"{self.path} changed on disk since it was loaded: reload it (POST /config/reload) "
                "before changing it here"
            )
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=None).encode()
        try:
            _replace(self.path.with_name(self.path.name + ".bak"), current, self.path)
            _replace(self.path, text, self.path)
        except OSError as error:
            raise ServiceError(f"{self.path}: cannot write the config file: {error.strerror}") from None
        self._digest = hashlib.sha256(text).hexdigest()

    def _record(self, user: str, reason: str, action: str, detail: dict[str, Any]) -> None:
        self._audit.audit(
            AuditRecord(at=time.time(), user=user, action=action, case_id=None, reason=reason, detail=detail)
        )


def _camera_yaml(camera: CameraConfig) -> dict[str, Any]:
    """A camera as YAML: only the fields it was given, so ``defaults:`` still apply to the rest."""
    return camera.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _rule_yaml(rule: RuleSpec) -> dict[str, Any]:
    """A rule as YAML: name and type first, then only the fields it was given (defaults stay defaults)."""
    given = rule.model_dump(mode="json", exclude_unset=True)
    return {"name": rule.name, "type": rule.type, **given}


def _rule_of(config: VigilConfig, name: str) -> RuleSpec:
    for rule in config.rules:
        if rule.name == name:
            return rule
    raise RuleNotFound(f"rule {name!r} is not configured")


def _rule_detail(rule: RuleSpec) -> dict[str, Any]:
    return {"rule": rule.name, "type": rule.type, "camera_id": rule.camera}


def _name_rules(problems: list[str], doc: dict[str, Any]) -> list[str]:
    """'rules[2].zone: ...' -> 'rules[2].zone: ... (rule 'door')': the console shows rules by name."""
    rules = doc.get("rules")
    named = []
    for problem in problems:
        match = _RULE_PROBLEM.match(problem)
        index = int(match.group(1)) if match else -1
        if isinstance(rules, list) and 0 <= index < len(rules) and isinstance(rules[index], dict):
            name = rules[index].get("name")
            problem = f"{problem} (rule {name!r})" if name else problem
        named.append(problem)
    return named


def _replace(target: Path, data: bytes, like: Path) -> None:
    """Write `target` atomically (temp file in its folder, fsync, rename) with `like`'s permissions."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, like.stat().st_mode & 0o7777)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
