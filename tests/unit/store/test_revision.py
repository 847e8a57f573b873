"""Writing migrations without alembic.ini: autogenerate, blank revisions, and applying them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.store import StateStore
from crmsync.store import revision as revision_cli
from crmsync.store.database import create_store_engine, normalize_url
from crmsync.store.migrate import VERSIONS_DIR, current_revision, head_revision, next_revision_id, upgrade
from crmsync.store.schema import metadata

HEAD = head_revision()
NEXT = next_revision_id()


@pytest.fixture()
def versions(tmp_path: Path) -> Path:
    """A copy of the packaged revisions, so tests never write into the source tree."""
    folder = tmp_path / "versions"
    folder.mkdir()
    for script in VERSIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"):
        shutil.copy(script, folder)
    return folder


def _with_note_column() -> sa.MetaData:
    changed = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["records"].append_column(sa.Column("note", sa.Text, nullable=True))
    return changed


def test_packaged_history_is_linear_and_numbered() -> None:
    scripts = sorted(VERSIONS_DIR.glob("*.py"))
    assert scripts, "the initial migration ships inside the package"
    for n, script in enumerate(scripts, start=1):
        assert re.fullmatch(rf"{n:04d}_\w+\.py", script.name), script.name
        assert f'revision: str = "{n:04d}"' in script.read_text()
    assert head_revision() == f"{len(scripts):04d}"
    assert next_revision_id() == f"{len(scripts) + 1:04d}"


def test_autogenerate_writes_the_schema_difference_and_it_applies(versions: Path, tmp_path: Path) -> None:
    path = revision_cli.make_revision(
        "add record note", versions_dir=versions, target_metadata=_with_note_column()
    )
    assert path is not None and path.name == f"{NEXT}_add_record_note.py"
    text = path.read_text()
    assert f'down_revision: str | Sequence[str] | None = "{HEAD}"' in text
    assert "add_column" in text and '"note"' in text
    assert "crmsync" not in text.split('"""', 2)[2]  # migrations never import application code

    engine = create_store_engine(normalize_url(f"sqlite:///{tmp_path / 'applied.db'}"))
    try:
        upgrade(engine, versions_dir=versions)
        with engine.connect() as conn:
            assert current_revision(conn) == NEXT
            assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("records")}
    finally:
        engine.dispose()


def test_no_change_writes_nothing(versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert revision_cli.make_revision("nothing", versions_dir=versions) is None
    assert sorted(p.name for p in versions.glob("*.py")) == sorted(p.name for p in VERSIONS_DIR.glob("*.py"))


def test_empty_revision_for_hand_written_migrations(versions: Path) -> None:
    path = revision_cli.make_revision("backfill consent", autogenerate=False, versions_dir=versions)
    assert path is not None and path.name == f"{NEXT}_backfill_consent.py"
    assert "def upgrade() -> None:\n    pass" in path.read_text()


def test_cli_reports_no_change(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool, str | None]] = []

    def fake(message: str, *, autogenerate: bool = True, url: str | None = None) -> Path | None:
        calls.append((message, autogenerate, url))
        return None if autogenerate else Path("/tmp/0002_x.py")

    monkeypatch.setattr(revision_cli, "make_revision", fake)
    assert revision_cli.main(["add x"]) == 1
    assert "no schema change" in capsys.readouterr().out
    assert revision_cli.main(["x", "--empty", "--url", "sqlite:///scratch.db"]) == 0
    assert "wrote /tmp/0002_x.py" in capsys.readouterr().out
    assert calls == [("add x", True, None), ("x", False, "sqlite:///scratch.db")]


def test_store_reports_head(tmp_path: Path) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        assert store.current_revision() == head_revision()


def test_a_database_from_a_newer_crmsync_is_refused(tmp_path: Path) -> None:
    from crmsync.store import MigrationError

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    with StateStore.open(url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE crmsync_alembic_version SET version_num = '0999'")
    with pytest.raises(MigrationError, match=r"'0999'.*newer crmsync") as failure:
        StateStore.open(url)
    assert failure.value.recovery.value == "fatal"
    with StateStore.open(url, migrate=False) as store:
        assert store.current_revision() == "0999"
