"""`vigil eval search --gallery DIR --query FILE [--describe TEXT] [--top K] [--baseline hsv] [--json]`.

Detects and describes every person in the gallery frames (``DIR/<camera>_<name>.jpg``),
ranks them against the query photo and / or description, and prints the ranking
(`vigil.evaluation.search`). ``--baseline hsv`` ranks with the classic whole-crop
H-S histogram correlation instead; ``--method`` picks one cue alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "Search quality: rank every person in a folder of frames against a photo / description."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery", required=True, type=Path, help="folder of frames <camera>_<name>.jpg")
    parser.add_argument("--query", type=Path, default=None, help="photo of the person (JPEG / PNG)")
    parser.add_argument(
        "--describe", default=None, help='description, e.g. "upper=red lower=blue,black size=child"'
    )
    parser.add_argument("--top", type=int, default=20, help="results to print (default 20)")
    parser.add_argument(
        "--baseline", choices=["hsv"], default=None, help="rank with the whole-crop HSV baseline"
    )
    parser.add_argument(
        "--method",
        choices=["vigil", "appearance", "colours", "size"],
        default="vigil",
        help="Vigil's fused score (default) or one cue alone",
    )
    parser.add_argument("--json", action="store_true", help='print {"results": [...]} as JSON')


def run(args: argparse.Namespace) -> int:
    from alerts.search.photo import person_in_photo
    from detectors.ssdlite import SsdliteDetector
    from vigil.core.errors import VigilError
    from vigil.evaluation.search import Method, describe_gallery, parse_description, rank, read_image

    try:
        if args.query is None and args.describe is None:
            raise VigilError("expected --query PHOTO, --describe TEXT, or both")
        detector = SsdliteDetector()
        people, _ = describe_gallery(args.gallery, detector)
        photo = None if args.query is None else person_in_photo(read_image(args.query), detector)
        description = None if args.describe is None else parse_description(args.describe)
        method: Method = "hsv" if args.baseline == "hsv" else args.method
        results = rank(people, method, photo, description)[: max(0, args.top)]
    except VigilError as error:
        print(f"vigil eval search: {error}", file=sys.stderr)
        return 1
    rows = [{"frame": r.frame, "box": [round(v, 1) for v in r.box], "score": r.score} for r in results]
    if args.json:
        print(json.dumps({"results": rows}))
        return 0
    for i, row in enumerate(rows, 1):
        print(f"{i:3d}  {row['score']:.4f}  {row['frame']}  {row['box']}")
    return 0
