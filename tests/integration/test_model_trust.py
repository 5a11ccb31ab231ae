"""An index never makes radlite import code: a crafted manifest that points at a prepared model folder
(whose modules.json names a module that writes a file when imported) is refused, and the file never
appears; a folder with custom module types is refused even when named directly, unless trusted."""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radlite.cli import app
from radlite.errors import ModelError
from radlite.models.resolve import weights_sha256
from radlite.search.engine import RadLITESearch
from tests.conftest import rewrite_manifest

runner = CliRunner()


@pytest.fixture()
def evil(tiny_models, monkeypatch):
    """A copy of the tiny bi-encoder outside every trusted folder, whose modules.json asks for a module
    that writes `pwned` next to it when imported."""
    folder = Path(tempfile.mkdtemp(prefix="radlite-evil-")) / "model"
    shutil.copytree(tiny_models["biencoder"], folder)
    (folder / "evilmod.py").write_text(f"open({str(folder / 'pwned')!r}, 'w').write('ran')\nclass Evil: pass\n")
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": len(modules), "name": "evil", "path": "", "type": "evilmod.Evil"})
    (folder / "modules.json").write_text(json.dumps(modules))
    monkeypatch.syspath_prepend(str(folder))  # importable, as a folder on the path would be
    yield folder
    sys.modules.pop("evilmod", None)
    shutil.rmtree(folder.parent, ignore_errors=True)


def test_a_manifest_naming_an_untrusted_folder_is_refused_and_runs_nothing(tiny_index, tmp_path, evil):
    path = tmp_path / "idx"
    shutil.copytree(tiny_index, path)
    gen = path / (path / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["models"]["biencoder"] = {
        **manifest["models"]["biencoder"],
        "name": str(evil),
        "sha256": weights_sha256(evil),
    }
    rewrite_manifest(gen, manifest)
    with pytest.raises(ModelError, match="does not trust"):
        RadLITESearch.load(path)
    res = runner.invoke(app, ["search", str(path), "filling defect"])
    assert res.exit_code == 2 and "--trust-model" in res.output and "Traceback" not in res.output
    assert not (evil / "pwned").exists()


def test_custom_module_types_need_trust_even_when_named_directly(tiny_models, evil):
    engine = RadLITESearch(biencoder=str(evil), colbert=tiny_models["colbert"], reranker=None)
    with pytest.raises(ModelError, match="asks to import module 'evilmod.Evil'"):
        engine.encoder("biencoder")
    assert not (evil / "pwned").exists()
