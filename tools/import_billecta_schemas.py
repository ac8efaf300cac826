"""Import Billecta's view-model JSON Schemas into the sandbox as the wire contract.

Only the structure is kept (types, required/additional properties, enums with their names); the
human-readable descriptions are dropped. Usage: python tools/import_billecta_schemas.py SRC_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

DEST = Path(__file__).resolve().parent.parent / "sandbox" / "billecta" / "schemas"


def _strip(node: object) -> object:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main(src: str) -> None:
    src_dir = Path(src)
    DEST.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(src_dir.glob("ViewModels.v1.*.json")):
        schema = _strip(json.loads(path.read_text(encoding="utf-8")))
        name = path.name.removeprefix("ViewModels.v1.").removesuffix(".json")
        (DEST / f"{name}.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        count += 1
    licence = src_dir / "LICENSE.md"
    if licence.exists():
        shutil.copyfile(licence, DEST / "LICENSE.md")
    print(f"imported {count} schemas into {DEST}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/billecta-schemas")
