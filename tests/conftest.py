"""What every test directory shares: the processes the suite starts keep their bytecode.

Where the environment forbids bytecode files (PYTHONDONTWRITEBYTECODE, as on the shared development machines),
every server, store writer and command-line process the suite starts (about 150 of them) would compile the
package's sources again: ~0.4 s of CPU each. They write it under the virtualenv instead (PYTHONPYCACHEPREFIX:
outside the work tree, removed by `make clean`); the test process itself is left as it was started.
"""

import os
import sys
from pathlib import Path

if os.environ.get("PYTHONDONTWRITEBYTECODE"):
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(Path(sys.prefix) / "pycache"))
