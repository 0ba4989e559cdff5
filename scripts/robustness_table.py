"""The robustness table of several models side by side, from the JSON files of ``bench robustness --out``.

    python scripts/robustness_table.py results/robustness/microaunet-kvasir.json \
        results/robustness/malunet-kvasir.json
"""

import json
import sys
from pathlib import Path

from microaunet.evaluation.robustness import side_by_side

if __name__ == "__main__":
    print(side_by_side([json.loads(Path(p).read_text()) for p in sys.argv[1:]]))
