"""Progress bars for long fits: tqdm when it is installed, otherwise a plain line on stderr."""
from __future__ import annotations

import sys


class _Silent:
    def update(self, **postfix):
        pass

    def close(self):
        pass


class _TextBar:
    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done = total, desc, 0

    def update(self, **postfix):
        self.done += 1
        extra = " ".join(f"{key}={value:.6g}" for key, value in postfix.items())
        sys.stderr.write(f"\r{self.desc}: {self.done}/{self.total} {extra}".rstrip())
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


class _TqdmBar:
    def __init__(self, tqdm, total: int, desc: str):
        self.bar = tqdm(total=total, desc=desc)

    def update(self, **postfix):
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


def progress_bar(total: int, desc: str, enabled: bool):
    """An object with ``update(**postfix)`` (one step) and ``close()``."""
    if not enabled:
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextBar(total, desc)
    return _TqdmBar(tqdm, total, desc)
