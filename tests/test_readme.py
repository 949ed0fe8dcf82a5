"""The README's Python tour runs as written (blocks executed in order)."""

import re
from pathlib import Path

import matplotlib

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"README.md block {index}", "exec"), namespace)
    assert (tmp_path / "crab.nc").is_file()
