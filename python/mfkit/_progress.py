"""Progress bars for long fits (tqdm), off when ``show_progress=False`` or switched off globally
(``mfkit.set_config(progress=False)`` or ``MFKIT_PROGRESS=0``)."""
from __future__ import annotations

from tqdm.auto import tqdm

from ._settings import get_config


class _Silent:
    def update(self, **postfix):
        pass

    def stop_early(self):
        pass

    def close(self):
        pass


class _Bar:
    def __init__(self, total: int, desc: str):
        self.bar = tqdm(total=total, desc=desc)

    def update(self, **postfix):
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def stop_early(self):
        """The fit stopped before ``total`` (e.g. NMF's ``tol``): end the bar full, at the
        iterations done, rather than part way."""
        self.bar.total = self.bar.n
        self.bar.refresh()

    def close(self):
        self.bar.close()


def progress_bar(total: int, desc: str, enabled: bool):
    """An object with ``update(**postfix)`` (one step), ``stop_early()`` and ``close()``."""
    if not (enabled and get_config()["progress"]):
        return _Silent()
    return _Bar(total, desc)
