"""Vigil's database schema as SQLAlchemy Core tables.

The tables here describe the schema *after* the latest migration. Migrations under
``vigil/infra/db/migrations/versions`` are the source of truth for how a database gets
there; keep the two in step (the store tests compare them). The sightings, alerts and
camera_health tables hold their record's stored fields (`vigil.core.records`), column for
column, plus the few the store fills itself; tests/core/test_records.py checks it.

Times are epoch seconds (float), as everywhere in Vigil; boxes, paths and
descriptors are JSON arrays; a missing box or descriptor is SQL NULL
(``none_as_null``), not JSON ``null``, so ``IS NULL`` filters work.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

sightings = sa.Table(
    "sightings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("tracker_id", sa.Integer, nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("best_box", sa.JSON, nullable=False),
    sa.Column("crop_path", sa.String(512), nullable=True),
    sa.Column("path", sa.JSON, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("short", sa.Boolean, nullable=False),
    sa.Column("descriptor", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_sightings_camera_id_start", "camera_id", "start"),
    sa.Index("ix_sightings_start", "start"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("tracker_id", sa.Integer, nullable=True),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("box", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("severity", sa.String(16), nullable=False, server_default="warning"),
    sa.Column("direction", sa.String(8), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("phase", sa.String(8), nullable=True),
    sa.Column("group_id", sa.String(64), nullable=True),
    sa.Column("acknowledged", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_alerts_timestamp", "timestamp"),
    sa.Index("ix_alerts_group_id", "group_id"),
)

camera_health = sa.Table(
    "camera_health",
    metadata,
    sa.Column("camera_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("last_frame_at", sa.Float, nullable=True),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("reconnects", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

camera_health_events = sa.Table(
    "camera_health_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_camera_health_events_camera_id_at", "camera_id", "at"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    # Bumped by a password change or a disable: tokens carrying an older version stop working.
    sa.Column("token_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_login_at", sa.Float, nullable=True),
    # Camera scope (migration 0011): NULL sees every camera, else a JSON list of camera groups.
    sa.Column("camera_groups", sa.JSON(none_as_null=True), nullable=True),
)

# Alert triage (migration 0005): one row per alert an operator has touched (an alert without
# one is ``new``), and the append-only history of every triage action. `vigil.infra.db.alerts`.
alert_triage = sa.Table(
    "alert_triage",
    metadata,
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id"), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("assignee", sa.String(64), nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
    sa.Index("ix_alert_triage_state", "state"),
    sa.Index("ix_alert_triage_assignee", "assignee"),
)

alert_history = sa.Table(
    "alert_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.id"), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("user", sa.String(128), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Index("ix_alert_history_alert_id_at", "alert_id", "at"),
)

# Line counts (migration 0008): one row per line rule and closed counting interval, per direction
# (`vigil.core.types.CrossingCount`). An interval cut short by a stop and continued after the
# restart is two rows with the same start; readers sum them.
crossing_counts = sa.Table(
    "crossing_counts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("line", sa.String(128), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("count_in", sa.Integer, nullable=False),
    sa.Column("count_out", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_crossing_counts_rule_start", "rule", "start"),
)
