"""mfkit on a Dask cluster (``pip install "mfkit[dask]"``): implicit ALS and explicit ALS-WR
fitted by blocks of users and items on the workers with the single-machine row solvers, and the
same results.

Importing ``mfkit`` never imports this package (nor Dask).
"""
try:
    import distributed  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError as error:
    raise ImportError(f'mfkit.distributed needs Dask and pyarrow ({error.name} is missing): '
                      'pip install "mfkit[dask]"') from error

from ._als import fit_als
from ._dataframe import layout_from_dataframe
from ._explicit import fit_explicit_als
from ._layout import BlockLayout, layout_from_matrix
from ._recommend import recommend_all

__all__ = ["BlockLayout", "fit_als", "fit_explicit_als", "layout_from_dataframe",
           "layout_from_matrix", "recommend_all"]
