"""The cache budgets (csrc/ops/blocking.h): one context, documented, within the caches."""

from pathlib import Path

import fastcnn

DOCS = Path(__file__).resolve().parents[2] / "docs" / "algorithms.md"


def test_every_budget_is_documented_and_fits_its_cache():
    info = fastcnn.cpu_info()
    budgets = info["blocking"]
    table = DOCS.read_text()
    assert len(budgets) >= 15
    for name, size in budgets.items():
        assert f"`{name}`" in table, f"{name} is missing from docs/algorithms.md's budget table"
        level = name.rsplit("_", 1)[-1]
        cache = {"l1": info["l1d_bytes"], "l2": info["l2_bytes"]}[level]
        assert 0 < size <= cache * 5 // 4, (name, size, cache)


def test_budgets_follow_the_active_table():
    before = fastcnn.cpu_info()["isa"]
    try:
        for isa in fastcnn.cpu_info()["supported_isas"]:
            fastcnn.set_isa(isa)
            assert fastcnn.cpu_info()["blocking"]["gemm_b_block_l2"] == fastcnn.cpu_info()["l2_bytes"] // 2
    finally:
        fastcnn.set_isa(before)
