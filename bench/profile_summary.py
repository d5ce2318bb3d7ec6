"""Summarise a py-spy collapsed-stack file written by `--profile DIR` of the benchmarks.

    python bench/profile_summary.py bench/results/profiles/usa.txt [--top 25] [--match tisa]

Prints, over all samples (idle threads included, as recorded):
  * samples per thread (the event loop, the sender's to_thread workers, the API threadpool);
  * the leaf ("self") frames that take most samples, i.e. where threads actually sit;
  * inclusive samples of frames whose text contains --match (default: tisa's own code),
    i.e. which of the project's functions the time is spent under;
  * with --leaf do_execute: the same, only for samples sitting in that frame (here: inside
    SQLite, which includes waiting on another connection's write lock).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_THREAD = re.compile(r"^(thread \(0x[0-9A-Fa-f]+\)|process \d+:\"[^\"]*\")$")


def load(path: Path) -> list[tuple[list[str], int]]:
    """(frames root→leaf, count) per line."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out.append((stack.split(";"), int(count)))
    return out


def short(frame: str) -> str:
    """'func (path/to/module.py:123)' → 'func (module.py:123)'."""
    return re.sub(r"\(([^()]*/)?([^/()]+)\)$", r"(\2)", frame)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="(tisa/", help="inclusive table: frames containing this")
    parser.add_argument(
        "--leaf", default=None, help="only stacks whose leaf frame contains this (do_execute)"
    )
    args = parser.parse_args()

    if not args.file.is_file():
        parser.error(f"{args.file}: no such file (run a benchmark with --profile DIR first)")
    stacks = load(args.file)
    if args.leaf:
        stacks = [(f, c) for f, c in stacks if args.leaf in f[-1]]
    total = sum(c for _, c in stacks)
    if not total:
        print("no samples")
        return 1
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        thread = next((f for f in frames[:2] if f.startswith("thread")), "?")
        threads[thread] += count
        leaves[short(frames[-1])] += count
        seen = set()
        for frame in frames:
            key = re.sub(r":\d+\)$", ")", short(frame))  # per function, not per line
            if args.match in frame and key not in seen:
                seen.add(key)
                inclusive[key] += count

    print(f"{args.file}: {total} samples")
    print("\nsamples per thread:")
    for thread, count in threads.most_common(args.top):
        print(f"  {count:7d} {100 * count / total:5.1f}%  {thread}")
    print("\nleaf frames (where threads sit):")
    for frame, count in leaves.most_common(args.top):
        print(f"  {count:7d} {100 * count / total:5.1f}%  {frame}")
    print(f"\ninclusive, frames matching {args.match!r}:")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {count:7d} {100 * count / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
