"""Print the Markdown table of shipped models from their JSON model cards (models/*.json).

Usage: python scripts/models_table.py > models/README.md
"""

import json
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    cards = [json.loads(p.read_text()) for p in sorted(MODELS.glob("*.json"))]
    cards.sort(key=lambda c: (c["dataset"] != "mnist", c["parameters"]))
    out = [
        "| model | architecture | parameters | test accuracy | errors / 10,000 | epochs "
        "| training time (2 CPU cores) | recipe |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in cards:
        out.append(
            f"| `{c['name']}` | {c['title']} | {c['parameters']:,} | "
            f"{100 * c['test_accuracy']:.2f}% | {c['test_errors']} | {c['epochs_run']} | "
            f"{c['train_seconds']:.0f} s | `{c['reproduce']}` |"
        )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
