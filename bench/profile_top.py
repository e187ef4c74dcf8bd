"""Top lines of a py-spy raw (collapsed) profile: self and inclusive time per function.

.venv/bin/python -m bench.profile_top PROFILE.txt [--top 25] [--filter handoff/]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:]*):?(?P<line>\d*)\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for cut in ("site-packages/", "wt-bench/", "python3.11/"):
        if cut in path:
            path = path.split(cut, 1)[1]
    return f"{m['func']} ({path})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--filter", default="", help="inclusive list: only frames whose file has this")
    a = ap.parse_args()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    with open(a.profile) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = [short(x) for x in stack.split(";")]
            total += n
            self_time[frames[-1]] += n
            for frame in set(frames):
                if a.filter in frame:
                    inclusive[frame] += n
    print(f"samples: {total}")
    print("-- self time")
    for frame, n in self_time.most_common(a.top):
        print(f"{100 * n / total:5.1f}%  {frame}")
    print("-- inclusive time" + (f" (frames in {a.filter})" if a.filter else ""))
    for frame, n in inclusive.most_common(a.top):
        print(f"{100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
