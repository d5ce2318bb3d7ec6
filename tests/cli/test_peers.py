"""`tisa peer add|list|remove` and `tisa arrangement show`: what a node is told before it serves."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from harness.clusters import copy_cluster
from typer.testing import CliRunner

from tisa.cli.main import app
from tisa.demo.network import Cluster
from tisa.errors import NotFound
from tisa.node.settings import load_arrangement

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("wide_console")


def _run(*args: str) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split()), result.exception


def test_peers_are_listed_added_and_removed(tmp_path: Path, cluster_template: Cluster) -> None:
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    usa = str(cluster.nodes["USA"].root)
    kor_url = cluster.nodes["KOR"].settings.federation_url

    code, listed, _ = _run("peer", "list", "--dir", usa)
    assert code == 0, listed
    assert f"KOR at {kor_url}" in listed
    assert "JPN at https://" in listed

    code, removed, _ = _run("peer", "remove", "--dir", usa, "kor")
    assert code == 0, removed
    assert f"KOR at {kor_url} removed; restart the node" in removed
    config = tomllib.loads((cluster.nodes["USA"].root / "node.toml").read_text())
    assert "KOR" not in config["peers"]
    assert "JPN" in config["peers"]
    code, listed, _ = _run("peer", "list", "--dir", usa)
    assert "KOR: no address yet (tisa peer add" in listed  # the arrangement still names it

    code, _, exception = _run("peer", "remove", "--dir", usa, "KOR")
    assert code != 0
    assert isinstance(exception, NotFound)
    assert "records no peer KOR (peers: JPN)" in str(exception)

    assert _run("peer", "add", "--dir", usa, "KOR", kor_url)[0] == 0
    assert f"KOR at {kor_url}" in _run("peer", "list", "--dir", usa)[1]


def test_peer_list_on_a_new_node_before_its_arrangement(tmp_path: Path) -> None:
    kor = str(tmp_path / "kor")
    assert _run("init", "--party", "KOR", "--dir", kor)[0] == 0
    code, listed, _ = _run("peer", "list", "--dir", kor)
    assert code == 0, listed
    assert "KOR records no peer yet" in listed


def test_arrangement_show_says_which_digest_it_prints(
    tmp_path: Path, cluster_template: Cluster
) -> None:
    cluster = copy_cluster(cluster_template, tmp_path / "net")
    kor = cluster.nodes["KOR"].root
    pinned = load_arrangement(kor / "arrangement.toml")

    code, shipped, _ = _run("arrangement", "show")
    assert code == 0, shipped
    assert pinned.digest not in shipped
    assert "Not every party is pinned, so no network runs under this digest" in shipped
    assert "add each party's signing key and TLS certificate" in shipped

    code, node, _ = _run("arrangement", "show", "--dir", str(kor))
    assert code == 0, node
    assert f"digest {pinned.digest}" in node
    assert "every node of this network must show this same digest" in node
    code, by_file, _ = _run("arrangement", "show", str(kor / "arrangement.toml"))
    assert f"digest {pinned.digest}" in by_file
    assert _run("arrangement", "show", str(kor / "arrangement.toml"), "--dir", str(kor))[0] == 2
