"""``msgcenter kb import FOLDER [--prune]``, run as a user would: what it created, updated,
deleted and refused, and importing again changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_cli import run

DEMO = Path(__file__).resolve().parent.parent / "msgcenter" / "demo_kb"


def test_kb_import_is_idempotent_prunes_and_names_refused_files(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    shutil.copytree(DEMO, folder)
    first = run(tmp_path, "kb", "import", str(folder))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "created  en/refunds.md" in lines and "created  id/pengembalian-dana.md" in lines
    assert lines[-1] == "24 created, 0 updated, 0 unchanged, 0 deleted, 0 refused"

    again = run(tmp_path, "kb", "import", str(folder))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["0 created, 0 updated, 24 unchanged, 0 deleted, 0 refused"]

    refunds = folder / "en" / "refunds.md"
    refunds.write_text(refunds.read_text().replace("3-5 working days", "2-4 working days"))
    (folder / "id" / "voucher.md").unlink()
    (folder / "en" / "broken.md").write_text("---\ntitle: Broken\n")
    changed = run(tmp_path, "kb", "import", str(folder), "--prune")
    assert changed.returncode == 1
    assert changed.stdout.splitlines() == [
        "updated  en/refunds.md",
        "deleted  id/voucher.md",
        "0 created, 1 updated, 22 unchanged, 1 deleted, 1 refused",
    ]
    assert changed.stderr.strip().endswith(
        "msgcenter: refused en/broken.md: the front matter opened by '---' on line 1 is "
        "never closed by another '---'"
    )

    missing = run(tmp_path, "kb", "import", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert "is not a folder" in missing.stderr
