"""Small types shared by the modules of the package."""

import os
from typing import Union

GenericPath = Union[str, "os.PathLike[str]"]
